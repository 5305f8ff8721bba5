"""EEG side (the training issue's CNN backbone, pretrained init, + projection head), text side (frozen MiniLM
embeddings + projection head), and the symmetric InfoNCE loss with a learned temperature."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hms import config
from hms.clip.text import TEXT_DIM
from hms.models.build import HMSModel, ModelConfig
from hms.paths import check_name
from hms.signal.config import FrontEndConfig

#: the one model family EEG-CLIP takes: its EEG side is that family's network (``HMSModel``) on the stacked image
CLIP_FAMILY = "spectrogram_cnn"


@dataclass
class ClipConfig:
    name: str = "clip"
    seed: int = 42
    n_folds: int = 5
    folds: list[int] | None = None  # None: every fold
    dim: int = 128
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3  # projection heads and temperature
    lr_backbone: float = 2e-4
    weight_decay: float = 1e-4
    temperature: float = 0.07  # initial; learned
    rows_per_eeg: int = 3  # distinct-vote label rows kept per eeg_id (one is drawn per epoch)
    prompts: str = "configs/clip_prompts.yaml"
    swap_p: float = 0.5  # hemisphere swap of the image with "left" <-> "right" swapped in its report
    init_from: str | None = None  # a trained experiment (same folds): fold k's CNN initialises fold k's EEG side
    model: ModelConfig = field(default_factory=ModelConfig)
    frontend: FrontEndConfig = field(default_factory=lambda: FrontEndConfig(panel_height=64, panel_width=128))

    def __post_init__(self) -> None:
        check_name(self.name, "CLIP run name")

    @classmethod
    def from_dict(cls, d: dict) -> ClipConfig:
        return config.build(cls, d, "clip settings")

    def to_dict(self) -> dict:
        return asdict(self)


def info_nce(eeg: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE on unit vectors: pair i of the batch is the positive for row i and column i."""
    logits = logit_scale.exp() * eeg @ text.T
    target = torch.arange(len(eeg), device=eeg.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class ClipModel(nn.Module):
    def __init__(self, cfg: ClipConfig, pretrained: bool = True) -> None:
        super().__init__()
        self.eeg = HMSModel(cfg.model, pretrained=pretrained)
        self.eeg_proj = nn.Linear(self.eeg.embed_dim, cfg.dim)
        self.text_proj = nn.Sequential(nn.Linear(TEXT_DIM, TEXT_DIM), nn.GELU(), nn.Linear(TEXT_DIM, cfg.dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature)))

    def encode_eeg(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.eeg_proj(self.eeg.embed(images)), dim=-1)

    def encode_text(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(text_embeddings), dim=-1)

    def loss(self, images: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        return info_nce(self.encode_eeg(images), self.encode_text(text_embeddings), self.logit_scale.clamp(max=4.6))
