"""The pose stage: the infant's crop → keypoint model → joints in frame pixels (two-stage, after segmentation)."""
