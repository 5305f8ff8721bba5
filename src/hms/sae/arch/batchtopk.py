"""BatchTopK (Bussmann et al.): in training, the batch keeps its k x batch largest pre-activations (ReLU'd), so k
latents fire per sample on average and a sample may use more or fewer; at inference one threshold, the running mean
of the smallest activation kept in training, decides (no batch needed). AuxK as TopK."""

from __future__ import annotations

from typing import Any

import torch

from hms.sae.arch.base import Architecture, register_architecture

MOMENTUM = 0.01  # of the threshold's running mean


@register_architecture
class BatchTopK(Architecture):
    name = "batchtopk"
    uses_k = True
    uses_aux = True

    def buffers(self, cfg: Any) -> dict[str, torch.Tensor]:
        return {"threshold": torch.zeros(())}

    def activate(self, pre: torch.Tensor, cfg: Any, state: dict[str, torch.Tensor], training: bool) -> torch.Tensor:
        relu = pre.relu()
        if not training:
            return relu * (relu > state["threshold"])
        flat = relu.flatten()
        keep = min(cfg.k * pre.shape[0], flat.numel())
        values, idx = flat.topk(keep)
        z = torch.zeros_like(flat).scatter(0, idx, values).reshape(pre.shape)
        kept = values[values > 0]
        if len(kept):
            with torch.no_grad():
                t = state["threshold"]
                t.copy_(kept.min() if float(t) == 0.0 else (1 - MOMENTUM) * t + MOMENTUM * kept.min())
        return z
