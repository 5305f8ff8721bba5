"""TopK (Gao et al.): each sample keeps its k largest pre-activations (ReLU'd); AuxK revives dead latents."""

from __future__ import annotations

from typing import Any

import torch

from hms.sae.arch.base import Architecture, register_architecture


@register_architecture
class TopK(Architecture):
    name = "topk"
    uses_k = True
    uses_aux = True

    def activate(self, pre: torch.Tensor, cfg: Any, state: dict[str, torch.Tensor], training: bool) -> torch.Tensor:
        values, idx = pre.topk(cfg.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, idx, values.relu())
