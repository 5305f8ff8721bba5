"""The toy model family of the tests, defined here and nowhere in src/: a linear model on a label row's band powers
(missing modality: zeros); its left/right swap permutes the band-power vector. Importing this module registers it."""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hms.constants import EEG_CHANNELS, EEG_WINDOW_SAMPLES, SPEC_COLUMNS, SPEC_WINDOW_ROWS, VOTE_COLS
from hms.families import ModelFamily, register_family
from hms.signal.bands import window_band_powers
from hms.signal.config import FrontEndConfig

_SWAP = {"LL": "RL", "RL": "LL", "LP": "RP", "RP": "LP"}


def _names() -> list[str]:
    eeg = np.zeros((EEG_WINDOW_SAMPLES, len(EEG_CHANNELS)), np.float32)
    spec = np.ones((SPEC_WINDOW_ROWS, len(SPEC_COLUMNS)), np.float32)
    return list(window_band_powers(eeg, spec, FrontEndConfig()))


@dataclass(frozen=True)
class LinearConfig:
    hidden: int = 8


class BandPowerLinear(nn.Module):
    def __init__(self, n_features: int, cfg: LinearConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(n_features)
        self.body = nn.Linear(n_features, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, len(VOTE_COLS))
        self.embed_dim = cfg.hidden

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = torch.tanh(self.body(self.norm(x)))
        return {"logits": self.head(embedding), "embedding": embedding}


@register_family
class BandPowerFamily(ModelFamily):
    """Toy family: a label row becomes its band-power vector (missing modality: zeros); left/right swap permutes it."""

    name = "test_bandpower_linear"
    model_config = LinearConfig

    def __init__(self) -> None:
        self.names = _names()
        index = {n: i for i, n in enumerate(self.names)}
        perm, sign = [], []
        for n in self.names:
            parts = n.split("_")
            swapped = "_".join(_SWAP.get(p, p) for p in parts)
            perm.append(index[swapped])
            sign.append(-1.0 if "asym" in parts else 1.0)
        self.perm, self.sign = torch.tensor(perm), torch.tensor(sign)

    def build(self, cfg: LinearConfig, pretrained: bool = True) -> nn.Module:
        return BandPowerLinear(len(self.names), cfg)

    def inputs(self, eegs, specs, frontend):
        rows = [window_band_powers(e, s, frontend) for e, s in zip(eegs, specs, strict=True)]
        return torch.tensor([[r.get(n, 0.0) for n in self.names] for r in rows], dtype=torch.float32)

    def swap(self, x, frontend):
        return x[..., self.perm] * self.sign


TOY = [
    "family=test_bandpower_linear",
    "model.hidden=6",
    "n_folds=2",
    "folds=[0]",
    "train.batch_size=4",
    "train.epochs_stage1=2",
    "train.epochs_stage2=1",
    "train.stage2_min_votes=3",
    "train.lr=0.01",
]
