"""The output mapping of a network's head: ``softmax`` (the default) or ``entmax15`` (the 1st place's choice: a sparse
alternative to softmax, from the ``entmax`` package). Every consumer of a network (loss, predictions, the SAE's splice)
applies softmax to the head's logits, so entmax is put *into* the head: its logits become
``log((1 - eps) * entmax15(z) + eps / 6)``, whose softmax is that smoothed entmax distribution. The smoothing keeps the
KL loss finite where entmax gives a class exactly zero (``eps`` 1e-4: at most 0.00017 floor probability per class)."""

from __future__ import annotations

import torch
from torch import nn

from hms.constants import N_CLASSES

OUTPUTS = ("softmax", "entmax15")
EPS = 1e-4


def check_output(name: str) -> None:
    if name not in OUTPUTS:
        raise ValueError(f"model.output must be one of {OUTPUTS}, got {name!r}")


class LogEntmax(nn.Module):
    """Scores (..., 6) -> logits whose softmax is ``(1 - eps) * entmax15(scores) + eps / 6``."""

    def __init__(self, eps: float = EPS) -> None:
        super().__init__()
        from entmax import entmax15  # deferred: needed only by networks that ask for it (model.output: entmax15)

        self.entmax15, self.eps = entmax15, eps

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        p = self.entmax15(scores.float(), dim=-1)
        return torch.log((1.0 - self.eps) * p + self.eps / N_CLASSES)


def with_output(head: nn.Module, name: str) -> nn.Module:
    """``head`` followed by the output mapping ``name`` (softmax: the head as it is)."""
    check_output(name)
    return head if name == "softmax" else nn.Sequential(head, LogEntmax())
