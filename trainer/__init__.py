"""Trainer: prepare and verify datasets, train, evaluate and export the segmentation model.

Every command module (``prepare``, ``verify``, ``train``, ``evaluate``, ``export``) exposes
``register(subparsers)``, which adds its ``infant-stream`` subcommand with ``func=main``. Nothing heavy
(torch, onnxruntime) is imported here.
"""
