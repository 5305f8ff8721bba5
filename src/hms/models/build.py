"""``build_model``: a timm backbone (num_classes=0) plus a 6-class head; the pooled embedding is exposed."""

from __future__ import annotations

from dataclasses import dataclass

import timm
import torch
from torch import nn

from hms.constants import N_CLASSES
from hms.models.pretrained import load_pretrained


@dataclass(frozen=True)
class ModelConfig:
    name: str = "tf_efficientnet_lite0"
    pretrained: str | None = "efficientnet-lite0-package"  # or a checkpoint path, or None
    in_chans: int = 1
    drop_rate: float = 0.2
    drop_path_rate: float = 0.0
    head_dropout: float = 0.2


class HMSModel(nn.Module):
    def __init__(self, cfg: ModelConfig, pretrained: bool = True) -> None:
        super().__init__()
        kwargs = {"drop_path_rate": cfg.drop_path_rate} if cfg.drop_path_rate else {}
        self.backbone = timm.create_model(
            cfg.name, pretrained=False, num_classes=0, in_chans=cfg.in_chans, drop_rate=cfg.drop_rate, **kwargs
        )
        if pretrained:
            load_pretrained(self.backbone, cfg.pretrained)
        self.embed_dim = self.backbone.num_features
        self.head = nn.Sequential(nn.Dropout(cfg.head_dropout), nn.Linear(self.embed_dim, N_CLASSES))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate embedding (batch, embed_dim): what the SAE reads."""
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.embed(x)
        return {"logits": self.head(embedding), "embedding": embedding}


def build_model(cfg: ModelConfig, pretrained: bool = True) -> HMSModel:
    return HMSModel(cfg, pretrained=pretrained)
