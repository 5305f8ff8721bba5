"""Experiment configuration: one YAML per experiment over typed, frozen defaults (read by :mod:`hms.config`); the
``model`` section is the settings class of the experiment's model family."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from hms import config
from hms.families import DEFAULT_FAMILY, AugmentConfig, get_family
from hms.models.build import ModelConfig
from hms.paths import check_name
from hms.signal.config import FrontEndConfig


@dataclass(frozen=True)
class TrainParams:
    batch_size: int = 16
    epochs_stage1: int = 3
    epochs_stage2: int = 2
    lr: float = 1e-3
    lr_stage2: float = 3e-4
    weight_decay: float = 1e-2
    schedule: Literal["onecycle", "cosine"] = "onecycle"
    grad_clip: float = 1.0
    vote_weighted: bool = True  # stage 1: weight each row's KL by its vote count
    stage2_min_votes: int = 10  # stage 2: rows with at least this many votes
    amp: bool = True  # used on CUDA only
    num_workers: int | None = None  # DataLoader workers; None: 0 without a GPU, else the cores per process (max 8)
    prepare_workers: int | None = None  # cache-building processes; None: every core
    channels_last: bool | None = None  # image families: model and batches in channels_last; None: on CUDA only
    # (on CPU it trains make run 2x faster too, but changes the float arithmetic and so make run's figures)
    compile: bool = False  # torch.compile the network (worth it on a GPU for long runs)
    tta_swap: bool = True  # average predictions with the hemisphere-swapped image
    mixup_alpha: float = 0.0  # mixup of inputs, soft targets and vote weights, lam ~ Beta(a, a); 0: off
    row_draw: Literal["eeg", "group"] = "eeg"  # an epoch draws one row per eeg_id, or per label group of one
    pseudo_teacher: str | None = None  # a trained experiment whose fold-k model relabels fold k's low-vote rows
    pseudo_share: float = 0.9  # pseudo target = (1 - share) * votes + share * teacher, rows under stage2_min_votes

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs_stage1 < 0 or self.epochs_stage2 < 0:
            raise ValueError("batch_size >= 1 and non-negative epochs are required")
        if self.epochs_stage1 + self.epochs_stage2 == 0:
            raise ValueError("train at least one epoch")
        if not 0 < self.pseudo_share <= 1:
            raise ValueError(f"train.pseudo_share must be in (0, 1], got {self.pseudo_share}")
        if self.pseudo_teacher is not None:
            check_name(self.pseudo_teacher, "train.pseudo_teacher")
        if self.mixup_alpha < 0:
            raise ValueError(f"train.mixup_alpha must be >= 0 (0 turns mixup off), got {self.mixup_alpha}")
        for name in ("num_workers", "prepare_workers"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"train.{name} must be >= 0 (or null: derived from the machine)")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "quick"
    seed: int = 42
    n_folds: int = 5
    folds: tuple[int, ...] | None = None  # which folds to train (default all)
    cache: str = "cache"
    family: str = DEFAULT_FAMILY  # a registered model family (hms.families)
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    model: Any = field(default_factory=ModelConfig)  # the family's model_config class
    train: TrainParams = field(default_factory=TrainParams)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        check_name(self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config_hash(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    @classmethod
    def config_types(cls, values: dict[str, Any]) -> dict[str, type]:
        """The ``model`` section is read with the settings class of the named family."""
        return {"model": get_family(values.get("family")).model_config}

    def fold_list(self) -> list[int]:
        return list(self.folds) if self.folds is not None else list(range(self.n_folds))


def from_dict(values: dict[str, Any], where: str = "config") -> ExperimentConfig:
    return config.build(ExperimentConfig, values, where)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML (its name is the default experiment name) and apply ``key.sub=value`` overrides."""
    defaults = {"name": Path(path).stem} if path is not None else {}
    return config.load(ExperimentConfig, path, overrides, defaults=defaults)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    config.save_yaml(cfg, path)
