"""The signal front-end shared by the simulator, training and submission: montage, filters, spectrograms, images."""
