"""What a model family declares (:class:`ModelFamily`): what it reads from a label row, how its network is built from
a config, how a batch of its inputs is hemisphere-swapped, and how its training items are made. Its network's forward
returns ``{"logits": (batch, 6), "embedding": (batch, dim)}`` and exposes ``embed_dim``.

A family that keeps the defaults trains from the raw label windows (:class:`RawWindowDataset`: files are read on the
fly through the same data layer and ``inputs`` as at test time); a family with a cache overrides ``prepare`` and
``train_dataset`` (the spectrogram CNN does)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from hms.constants import VOTE_COLS
from hms.data import Competition
from hms.data.labels import vote_probabilities
from hms.families.views import InputView
from hms.models.head_options import HeadOptions
from hms.models.invariant import SwapInvariant
from hms.models.output import with_output
from hms.models.quality import QualityFlags
from hms.signal.config import FrontEndConfig

Window = np.ndarray | None  # a clean EEG window (10000, 20) or organizer window (300, 400); None = missing


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations; each family uses the ones that make sense for its inputs."""

    swap_p: float = 0.5  # left/right hemisphere swap, label unchanged
    shift_seconds: int = 4  # window time shift, +- this many seconds (kept inside the recording)
    mask_p: float = 0.5  # image families: albumentations XYMasking, the central 10 s spared
    mask_stripes: int = 2
    reverse_p: float = 0.0  # waveform families: time reversal
    channel_drop_p: float = 0.0  # waveform families: zero 1..channel_drop_max bipolar signals
    channel_drop_max: int = 2

    def __post_init__(self) -> None:
        for name in ("swap_p", "mask_p", "reverse_p", "channel_drop_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augment.{name} is a probability: it must lie in [0, 1]")
        if self.shift_seconds < 0 or self.channel_drop_max < 0:
            raise ValueError("augment.shift_seconds and augment.channel_drop_max must be >= 0")


@dataclass(frozen=True)
class TrainSource:
    """Where a family's training items come from: the data root, and a family-specific cache (or None)."""

    comp: Competition
    cache: Any = None


def soft_targets(rows: pd.DataFrame, vote_weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    """(vote probabilities (n, 6), per-row loss weights: vote totals / their mean, or ones)."""
    targets = vote_probabilities(rows, np.float32)
    totals = rows[list(VOTE_COLS)].to_numpy(dtype=np.float32).sum(axis=1)
    weights = (totals / totals.mean()) if vote_weighted else np.ones(len(rows), np.float32)
    return targets, weights


@runtime_checkable
class Network(Protocol):
    """What every family's network is: ``forward(x) -> {"logits": (batch, 6), "embedding": (batch, embed_dim)}``, and
    ``head``: the module that maps an embedding to the logits (the SAE's splice runs it on reconstructions)."""

    embed_dim: int
    head: nn.Module

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class Localized(Protocol):
    """A network whose embedding pools per-position vectors (the last feature map's cells, or time steps):
    ``pool(positions(x))`` is the embedding, so an SAE can be fitted and spliced per position."""

    def positions(self, x: torch.Tensor) -> torch.Tensor: ...

    def pool(self, positions: torch.Tensor) -> torch.Tensor: ...


class ModelFamily:
    """Base class of a registered family; subclasses set ``name`` and ``model_config`` and implement ``build``,
    ``inputs`` and ``swap``."""

    name: ClassVar[str] = ""
    model_config: ClassVar[type] = object  # a frozen dataclass of network settings (the experiment's ``model:``)
    channels_last: ClassVar[bool] = False  # 4-D image inputs run faster in channels_last on CPU and GPU
    modalities: ClassVar[tuple[str, ...]] = ("eeg", "spectrogram")  # a row lacking all of them gets the prior
    blank_value: ClassVar[float] = 0.0  # the input value of a missing modality (the saliency baseline)
    view: ClassVar[InputView | None] = None  # how explanations read and draw its inputs (None: not explained)

    def build(self, cfg: Any, pretrained: bool = True) -> nn.Module:
        """The network (an ``nn.Module`` that is a :class:`Network`)."""
        raise NotImplementedError

    def network(self, cfg: Any, frontend: FrontEndConfig, pretrained: bool = True) -> nn.Module:
        """What training and inference run: ``build``'s network, with the channel-quality flags of its inputs appended
        to its embedding (``quality_mask: true``), read through the recording and its hemisphere swap when the model
        config asks for a swap-invariant head (``swap_head: mean | max``), its head followed by the output mapping it
        names (``output: entmax15``); a config that is not a :class:`~hms.models.head_options.HeadOptions` gets none."""
        net = self.build(cfg, pretrained)
        if not isinstance(cfg, HeadOptions):
            return net
        if cfg.quality_mask:
            n_flags = self.quality(self.inputs([None], [None], frontend), frontend).shape[-1]
            net = QualityFlags(net, partial(self.quality, frontend=frontend), n_flags)
        if cfg.swap_head != "off":
            net = SwapInvariant(net, partial(self.swap, frontend=frontend), cfg.swap_head)
        net.head = with_output(net.head, cfg.output)
        return net

    def inputs(self, eegs: list[Window], specs: list[Window], frontend: FrontEndConfig) -> torch.Tensor:
        """Clean label windows -> one batch of network inputs; a missing modality must not fail (blank it)."""
        raise NotImplementedError

    def swap(self, x: torch.Tensor, frontend: FrontEndConfig) -> torch.Tensor:
        """The batch of the hemisphere-swapped recordings (test-time augmentation)."""
        raise NotImplementedError

    def quality(self, x: torch.Tensor, frontend: FrontEndConfig) -> torch.Tensor:
        """(batch, flags) of 0/1: which parts of each input are blank (missing or flat), for ``quality_mask``."""
        raise ValueError(f"the {self.name} family has no channel-quality flags: set model.quality_mask=false")

    def prepare(
        self, comp: Competition, train: pd.DataFrame, frontend: FrontEndConfig, cache: str, workers: int
    ) -> None:
        """Compute the family's training cache (rank 0, before training); nothing by default."""

    def train_source(self, comp: Competition, frontend: FrontEndConfig, cache: str) -> TrainSource:
        """Open what ``prepare`` wrote (every rank)."""
        return TrainSource(comp)

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
        return RawWindowDataset(self, rows, source.comp, frontend, augment, seed, epoch, vote_weighted, split)


class RawWindowDataset(Dataset):
    """Label rows -> dict(inputs, target, weight, eeg_id) from the raw files (with hemisphere-swap augmentation)."""

    def __init__(
        self,
        family: ModelFamily,
        rows: pd.DataFrame,
        comp: Competition,
        frontend: FrontEndConfig,
        augment: AugmentConfig | None,
        seed: int = 0,
        epoch: int = 0,
        vote_weighted: bool = False,
        split: str = "train",
    ) -> None:
        self.family, self.comp, self.frontend, self.augment = family, comp, frontend, augment
        self.rows = rows.reset_index(drop=True)
        self.seed, self.epoch, self.split = seed, epoch, split
        self.targets, self.weights = soft_targets(self.rows, vote_weighted)

    def __len__(self) -> int:
        return len(self.rows)

    def row_and_rng(self, i: int) -> tuple[dict, np.random.Generator]:
        """Row i and its random generator, seeded by (seed, epoch, eeg_id, position): never by worker or rank."""
        row = self.rows.iloc[i].to_dict()
        return row, np.random.default_rng([self.seed, self.epoch, int(row["eeg_id"]) % (2**32), i])

    def item(self, i: int, x: torch.Tensor, row: dict) -> dict[str, torch.Tensor]:
        return {
            "inputs": x.float(),
            "target": torch.from_numpy(self.targets[i]),
            "weight": torch.tensor(float(self.weights[i])),
            "eeg_id": torch.tensor(int(row["eeg_id"])),
        }

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row, rng = self.row_and_rng(i)
        eeg, spec, _ = self.comp.load_windows(row, self.split)
        x = self.family.inputs([eeg], [spec], self.frontend)
        if self.augment is not None and rng.random() < self.augment.swap_p:
            x = self.family.swap(x, self.frontend)
        return self.item(i, x[0], row)
