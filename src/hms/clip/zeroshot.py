"""Zero-shot decoding: probabilities from the similarity of an EEG embedding to one text prompt per class, through a
softmax whose temperature is fitted on training eeg_ids (minimum KL to their vote distributions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import softmax

from hms import config
from hms.constants import CLASSES
from hms.metric import kl_rows


def read_prompts(path: str | Path) -> list[str]:
    """One prompt per class, in CLASSES order, from a YAML mapping class -> prompt."""
    path = Path(path)
    prompts = config.read_yaml(path)
    missing = [c for c in CLASSES if not isinstance(prompts.get(c), str)]
    if missing:
        raise ValueError(f"{path}: needs one text prompt for each of {list(CLASSES)}; missing {missing}")
    return [prompts[c] for c in CLASSES]


def zero_shot_probs(similarity: np.ndarray, temperature: float) -> np.ndarray:
    """(n, 6) cosine similarities -> (n, 6) probabilities (rows sum to 1)."""
    return softmax(np.asarray(similarity, dtype=np.float64) / temperature, axis=1)


def fit_temperature(similarity: np.ndarray, targets: np.ndarray) -> float:
    """The softmax temperature minimising the mean KL(targets || probabilities) on training rows."""

    def loss(log_t: float) -> float:
        return float(kl_rows(targets, np.clip(zero_shot_probs(similarity, np.exp(log_t)), 1e-15, 1)).mean())

    return float(np.exp(minimize_scalar(loss, bounds=(np.log(1e-3), np.log(10.0)), method="bounded").x))
