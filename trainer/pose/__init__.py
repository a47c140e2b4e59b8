"""The keypoint (pose) task of the trainer: dataset formats, the prepared layout, model, losses, training,
metrics, evaluation and export."""
