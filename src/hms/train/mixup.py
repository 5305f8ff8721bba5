"""Mixup of a training batch (``train.mixup_alpha``; 0 turns it off): each batch is blended with a shuffled copy of
itself by one weight lam ~ Beta(alpha, alpha) — the inputs, the soft targets (so each row still sums to 1) and the
rows' vote weights alike. The 4th-place HMS solution trained with alpha 0.5. The draws come from a generator the
training loop seeds per fold, epoch and rank, so a seed gives the same run."""

from __future__ import annotations

import numpy as np
import torch


def mixup_batch(
    inputs: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, alpha: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``lam * batch + (1 - lam) * batch[perm]`` for inputs, targets (rows of probabilities) and weights."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(len(target))).to(target.device)

    def blend(x: torch.Tensor) -> torch.Tensor:
        return lam * x + (1.0 - lam) * x[perm]

    return blend(inputs), blend(target), blend(weight)
