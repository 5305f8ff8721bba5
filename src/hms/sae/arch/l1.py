"""ReLU latents with an L1 penalty weighted by the decoder norms (the classic SAE)."""

from __future__ import annotations

from typing import Any

import torch

from hms.sae.arch.base import Architecture, register_architecture


@register_architecture
class L1(Architecture):
    name = "l1"

    def activate(self, pre: torch.Tensor, cfg: Any, state: dict[str, torch.Tensor], training: bool) -> torch.Tensor:
        return pre.relu()

    def penalty(self, z: torch.Tensor, w_dec: torch.Tensor, cfg: Any) -> torch.Tensor:
        return cfg.l1_coeff * (z * w_dec.norm(dim=0)).sum(-1).mean()
