"""KL-divergence loss on soft labels: the competition metric, made differentiable."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over rows of KL(target || softmax(logits)), each row times its ``weight`` if given.

    Weights are normalised over the epoch (mean 1), not per batch, so that N processes that each average their
    share of a batch reproduce the single-process loss. Unweighted it equals ``nn.KLDivLoss(reduction="batchmean")``
    on ``log_softmax`` and the competition metric."""
    log_q = F.log_softmax(logits.float(), dim=-1)
    per_row = F.kl_div(log_q, target.float(), reduction="none").sum(dim=-1)
    if weight is None:
        return per_row.mean()
    return (per_row * weight.float()).mean()
