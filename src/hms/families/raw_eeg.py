"""The raw-EEG family: a label row becomes the 16 double-banana bipolar signals of its 50 s window (the shared
front-end's montage, band-pass, decimation to ``frontend.sample_rate`` and clipping; then divided by a fixed scale, no
per-sample normalisation), read by a 1D network designed for EEG:

    per-lead temporal convolutions (shared across the 16 leads, residual, dilated, each block halving the time axis)
    -> lead mixing (1x1 convolution over leads x filters) -> bidirectional GRU (or self-attention) over time
    -> mean + max pooling -> embedding -> 6 logits

It reads the EEG only (a row without one gets the training prior). ``prepare`` writes every recording's bipolar
signals once (float16, memory-mapped: ``hms.signal.prepare``'s "wave" cache), so training slices windows instead of
reading and filtering parquet files, with waveform augmentations: hemisphere swap (left/right chains exchanged), time
shift inside the recording, time reversal and channel dropout. Test-time inputs run the same front-end on the window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from hms.constants import EEG_CHANNELS, EEG_WINDOW_SAMPLES, EEG_WINDOW_SECONDS, N_CLASSES
from hms.data import Competition, DataError
from hms.data.windows import random_shift
from hms.families.base import AugmentConfig, ModelFamily, RawWindowDataset, TrainSource, Window
from hms.families.registry import register_family
from hms.families.views import WaveformView
from hms.models.head_options import HeadOptions
from hms.models.quality import FLAT_UV
from hms.signal.config import FrontEndConfig
from hms.signal.prepare import CachedRecordings, prepare
from hms.signal.spectrogram import preprocess

N_PAIRS = 16
#: bipolar pair order is chain by chain (LL, RL, LP, RP; 4 pairs each): the swap exchanges LL<->RL and LP<->RP
SWAP_PAIRS = tuple(list(range(4, 8)) + list(range(0, 4)) + list(range(12, 16)) + list(range(8, 12)))


@dataclass(frozen=True)
class RawEEGConfig(HeadOptions):
    """Settings of the 1D network (the experiment's ``model:`` section when ``family: raw_eeg``)."""

    filters: int = 16  # per-lead temporal filters
    blocks: int = 4  # residual dilated blocks, each halving the time axis
    kernel: int = 7
    width: int = 64  # token width after mixing the 16 leads
    sequence: Literal["gru", "attention", "none"] = "gru"
    layers: int = 1  # recurrent / attention layers over time
    dropout: float = 0.2
    input_scale: float = 32.0  # clipped microvolts (+-1024) are divided by this

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sequence not in ("gru", "attention", "none"):
            raise ValueError(f"model.sequence must be gru, attention or none, got {self.sequence!r}")
        if min(self.filters, self.blocks, self.width, self.layers) < 1 or self.kernel < 1 or self.input_scale <= 0:
            raise ValueError("model.filters, blocks, width, layers, kernel must be >= 1 and input_scale > 0")


class ResidualBlock(nn.Module):
    """Two dilated convolutions with batch norm and a skip connection, then max-pooling by 2."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = dilation * (kernel // 2)
        self.body = nn.Sequential(
            nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm1d(channels),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm1d(channels),
        )
        self.act = nn.SiLU()
        self.pool = nn.MaxPool1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(x + self.body(x)))


class RawEEGNet(nn.Module):
    def __init__(self, cfg: RawEEGConfig) -> None:
        super().__init__()
        self.cfg = cfg
        f = cfg.filters
        self.stem = nn.Sequential(
            nn.Conv1d(1, f, cfg.kernel, stride=2, padding=cfg.kernel // 2, bias=False), nn.BatchNorm1d(f), nn.SiLU()
        )
        self.blocks = nn.Sequential(
            *[ResidualBlock(f, cfg.kernel, 2 ** (i % 4), cfg.dropout) for i in range(cfg.blocks)]
        )
        self.mix = nn.Sequential(nn.Conv1d(N_PAIRS * f, cfg.width, 1, bias=False), nn.BatchNorm1d(cfg.width), nn.SiLU())
        if cfg.sequence == "gru":
            self.sequence = nn.GRU(
                cfg.width, cfg.width // 2, num_layers=cfg.layers, batch_first=True, bidirectional=True
            )
        elif cfg.sequence == "attention":
            layer = nn.TransformerEncoderLayer(
                cfg.width,
                nhead=4,
                dim_feedforward=2 * cfg.width,
                dropout=cfg.dropout,
                batch_first=True,
                norm_first=True,
            )
            self.sequence = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        else:
            self.sequence = None
        seq_width = 2 * (cfg.width // 2) if cfg.sequence == "gru" else cfg.width
        self.embed_dim = 2 * seq_width
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(self.embed_dim, N_CLASSES))

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 16, time) -> one vector per time step before pooling: (batch, steps, sequence width)."""
        b, leads, t = x.shape
        h = self.blocks(self.stem(x.reshape(b * leads, 1, t) / self.cfg.input_scale))  # (b*16, f, t')
        h = self.mix(h.reshape(b, leads * h.shape[1], h.shape[2])).transpose(1, 2)  # (b, t', width)
        if isinstance(self.sequence, nn.GRU):
            h, _ = self.sequence(h)
        elif self.sequence is not None:
            h = self.sequence(h)
        return h

    def pool(self, positions: torch.Tensor) -> torch.Tensor:
        """Per-step vectors -> the embedding: their mean and their max, side by side."""
        return torch.cat([positions.mean(dim=1), positions.amax(dim=1)], dim=-1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 16, time) -> pooled embedding (batch, embed_dim)."""
        return self.pool(self.positions(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.embed(x)
        return {"logits": self.head(embedding), "embedding": embedding}


def waveforms(eegs: list[Window], frontend: FrontEndConfig) -> torch.Tensor:
    """Clean referential windows (10000, 20) -> (batch, 16, 50 s x sample_rate) bipolar signals in microvolts; a
    missing EEG is all zeros (what an empty recording becomes after the front-end)."""
    stack = np.stack(
        [e if e is not None else np.zeros((EEG_WINDOW_SAMPLES, len(EEG_CHANNELS)), np.float32) for e in eegs]
    )
    return torch.from_numpy(np.ascontiguousarray(preprocess(stack, frontend)[:, :N_PAIRS]))


def swap_waveforms(x: torch.Tensor) -> torch.Tensor:
    """Left/right hemisphere swap of (..., 16, time) bipolar signals; applied twice it is the identity."""
    return x[..., list(SWAP_PAIRS), :]


@register_family
class RawEEG(ModelFamily):
    name = "raw_eeg"
    model_config = RawEEGConfig
    modalities = ("eeg",)
    blank_value = 0.0
    view = WaveformView()

    def build(self, cfg: RawEEGConfig, pretrained: bool = True) -> nn.Module:
        return RawEEGNet(cfg)

    def inputs(self, eegs: list[Window], specs: list[Window], frontend: FrontEndConfig) -> torch.Tensor:
        return waveforms(eegs, frontend)

    def swap(self, x: torch.Tensor, frontend: FrontEndConfig) -> torch.Tensor:
        return swap_waveforms(x)

    def quality(self, x: torch.Tensor, frontend: FrontEndConfig) -> torch.Tensor:
        """One flag per bipolar signal: flat (what a missing channel becomes after the NaN policy)."""
        return (x.abs().amax(dim=-1) < FLAT_UV).float()

    def prepare(
        self, comp: Competition, train: pd.DataFrame, frontend: FrontEndConfig, cache: str, workers: int
    ) -> None:
        prepare(comp.root, cache, frontend, workers=workers, train=train, kinds=("wave",))

    def train_source(self, comp: Competition, frontend: FrontEndConfig, cache: str) -> TrainSource:
        return TrainSource(comp, CachedRecordings(cache, frontend))

    def train_dataset(
        self,
        rows: pd.DataFrame,
        source: TrainSource,
        frontend: FrontEndConfig,
        augment: AugmentConfig | None,
        seed: int = 0,
        epoch: int = 0,
        vote_weighted: bool = False,
        split: str = "train",
    ) -> Dataset:
        data = WaveformDataset(self, rows, source.comp, frontend, augment, seed, epoch, vote_weighted, split)
        data.cache = source.cache
        return data


def drop_channels(x: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    """Zero ``n`` randomly chosen bipolar signals of one (16, time) sample."""
    out = x.clone()
    out[rng.choice(x.shape[0], size=min(n, x.shape[0]), replace=False)] = 0.0
    return out


class WaveformDataset(RawWindowDataset):
    """Label rows -> dict(inputs = (16, time) bipolar signals, target, weight, eeg_id), with the waveform
    augmentations drawn from (seed, epoch, eeg_id, position): never from the worker or the rank. With ``cache`` (the
    prepared bipolar signals) windows are sliced from it; without, read and filtered from the raw files."""

    cache: CachedRecordings | None = None

    def window(self, row: dict) -> torch.Tensor:
        """The row's (16, time) bipolar signals; zeros where the recording is unreadable (the prior's input)."""
        eeg_id, offset = int(row["eeg_id"]), row.get("eeg_label_offset_seconds", 0.0)
        try:
            if self.cache is not None:
                return torch.from_numpy(np.ascontiguousarray(self.cache.waveform(eeg_id, offset, self.split)[:N_PAIRS]))
            eeg, _ = self.comp.clean_eeg_window(row, self.split)  # all-NaN channels become zeros (the NaN policy)
        except DataError:
            eeg = None
        return waveforms([eeg], self.frontend)[0]

    def seconds(self, eeg_id: int) -> float:
        if self.cache is not None:
            return self.cache.eeg_seconds(eeg_id, self.split)
        return self.comp.eeg_seconds(eeg_id, self.split)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row, rng = self.row_and_rng(i)
        aug = self.augment
        if aug is not None and aug.shift_seconds > 0:
            seconds = self.seconds(int(row["eeg_id"]))
            row = random_shift(row, rng, aug.shift_seconds, 1, seconds - EEG_WINDOW_SECONDS)  # whole seconds
        x = self.window(row)
        if aug is not None:
            if rng.random() < aug.swap_p:
                x = swap_waveforms(x)
            if rng.random() < aug.reverse_p:
                x = x.flip(-1)
            if aug.channel_drop_max > 0 and rng.random() < aug.channel_drop_p:
                x = drop_channels(x, int(rng.integers(1, aug.channel_drop_max + 1)), rng)
        return self.item(i, x, row)
