"""Experiment configuration: one YAML per experiment over typed, frozen defaults; unknown keys are rejected."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from hms.models.build import ModelConfig
from hms.signal.config import FrontEndConfig


@dataclass(frozen=True)
class AugmentConfig:
    swap_p: float = 0.5  # left/right hemisphere swap, label unchanged
    shift_seconds: int = 4  # window time shift, +- this many seconds (even steps, kept inside the recording)
    mask_p: float = 0.5  # albumentations XYMasking on the image, the central 10 s spared
    mask_stripes: int = 2


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
    num_workers: int = 0
    tta_swap: bool = True  # average predictions with the hemisphere-swapped image

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs_stage1 < 0 or self.epochs_stage2 < 0:
            raise ValueError("batch_size >= 1 and non-negative epochs are required")
        if self.epochs_stage1 + self.epochs_stage2 == 0:
            raise ValueError("train at least one epoch")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "quick"
    seed: int = 42
    n_folds: int = 5
    folds: tuple[int, ...] | None = None  # which folds to train (default all)
    cache: str = "cache"
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainParams = field(default_factory=TrainParams)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config_hash(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def fold_list(self) -> list[int]:
        return list(self.folds) if self.folds is not None else list(range(self.n_folds))


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for key, value in values.items():
        current = getattr(defaults, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key} must be a mapping")
            kwargs[key] = _build(type(current), value, f"{where}.{key}")
        else:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return replace(defaults, **kwargs) if kwargs else defaults


def from_dict(values: dict[str, Any], where: str = "config") -> ExperimentConfig:
    return _build(ExperimentConfig, values, where)


def _set(values: dict[str, Any], dotted: str, raw: str) -> None:
    keys = dotted.split(".")
    node = values
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = yaml.safe_load(raw)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML (its name is the default experiment name) and apply ``key.sub=value`` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config not found; see configs/ for examples")
        values = yaml.safe_load(path.read_text()) or {}
        values.setdefault("name", path.stem)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected key=value, e.g. train.epochs_stage1=2")
        _set(values, key, raw)
    return from_dict(values, str(path) if path else "config")


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    from hms.io import atomic_write

    atomic_write(path, lambda p: p.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False)))
