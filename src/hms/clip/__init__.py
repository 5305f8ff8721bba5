"""EEG-CLIP: a contrastive embedding space shared by EEG recordings and their text reports (zero-/few-shot)."""
