"""Training: experiment configs, window datasets with augmentation, the KL loop (single process or torchrun)."""
