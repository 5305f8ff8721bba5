"""HMS Harmful Brain Activity Classification: data layer, simulator, spectrogram CNNs, SAE explanations."""

__version__ = "0.1.0"
