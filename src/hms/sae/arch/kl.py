"""Sigmoid units kept near a target mean activation rho by a KL penalty (the sparse-autoencoder of the 2010s)."""

from __future__ import annotations

from typing import Any

import torch

from hms.sae.arch.base import Architecture, register_architecture


@register_architecture
class KLRho(Architecture):
    name = "kl"
    fire_above = 0.5

    def activate(self, pre: torch.Tensor, cfg: Any, state: dict[str, torch.Tensor], training: bool) -> torch.Tensor:
        return pre.sigmoid()

    def penalty(self, z: torch.Tensor, w_dec: torch.Tensor, cfg: Any) -> torch.Tensor:
        rho, rho_hat = cfg.rho, z.mean(0).clamp(1e-6, 1 - 1e-6)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return cfg.kl_beta * kl.sum()
