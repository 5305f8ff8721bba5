"""Running trained folds of any family: load a fold (safetensors + sidecar, no pickle, no download), its forward with
hemisphere-swap test-time augmentation, and every fold over label rows read from the raw files.

The row outputs (:class:`FoldOutputs`: TTA-averaged probabilities and per-view embeddings) are what
``submission.py`` computes at test time and what the SAE and the stacker are trained on; this module owns their
``.npz`` format."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from tqdm.auto import tqdm

from hms import config
from hms.constants import N_CLASSES
from hms.data import Competition, DataError
from hms.experiment import ExperimentDir
from hms.families import Localized, ModelFamily, get_family
from hms.inputs import RowInputs, row_inputs
from hms.io import atomic_write
from hms.signal.bands import window_band_powers
from hms.signal.config import FrontEndConfig
from hms.timing import timed


@dataclass
class FoldOutputs:
    """One fold's model on rows: TTA-averaged probabilities (n, 6) and per-view embeddings (n, views, dim)."""

    probs: np.ndarray
    views: np.ndarray

    @property
    def embedding(self) -> np.ndarray:
        """The inference embedding: mean over the TTA views."""
        return self.views.mean(axis=1)

    @property
    def logits(self) -> np.ndarray:
        """Log-probabilities (the model's logits up to a per-row constant, after TTA averaging)."""
        return np.log(np.clip(self.probs, 1e-7, 1.0))

    def subset(self, mask: np.ndarray) -> FoldOutputs:
        return FoldOutputs(self.probs[mask], self.views[mask])

    def save(self, path: Path) -> Path:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, probs=self.probs, views=self.views)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: Path) -> FoldOutputs:
        with np.load(path) as z:
            return cls(z["probs"], z["views"])


@dataclass
class LoadedFold:
    fold: int
    model: torch.nn.Module
    frontend: FrontEndConfig
    family: ModelFamily


@dataclass(frozen=True)
class FoldSpec:
    """What a fold sidecar says, checked: the family (registered), its model settings and the front-end."""

    family: ModelFamily
    model: Any
    frontend: FrontEndConfig


def fold_spec(exp: ExperimentDir, fold: int) -> FoldSpec:
    """Fold ``fold``'s sidecar read and checked (sidecars written before families existed load as the spectrogram
    CNN): ``DataError`` naming the sidecar and the fix for an unknown family or a setting this version does not
    know (a sidecar written by a newer version of hms) or cannot accept."""
    path = exp.sidecar(fold)
    meta = exp.read_sidecar(fold)
    try:
        family = get_family(meta.get("family"))
    except ValueError as exc:
        raise DataError(f"{path}: {exc}; the fold was trained with a family this code does not have") from exc
    try:
        model = config.build(family.model_config, meta["model"], f"{path} model")
        frontend = config.build(FrontEndConfig, meta["frontend"], f"{path} frontend")
    except ValueError as exc:
        raise DataError(f"{exc}; a sidecar written by another version of hms? Use that version, or retrain") from exc
    return FoldSpec(family, model, frontend)


def check_fold_weights(exp: ExperimentDir, fold: int, spec: FoldSpec) -> torch.nn.Module:
    """The fold's network built from its sidecar; ``DataError`` unless the safetensors file holds exactly its tensors
    with its shapes (weights of another architecture, a truncated or corrupt file). Nothing is loaded yet."""
    path = exp.weights(fold)
    if not path.is_file():
        raise DataError(f"{path}: fold weights missing; copy them with the sidecar or retrain the fold")
    model = spec.family.network(spec.model, spec.frontend, pretrained=False)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        with safe_open(str(path), "pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise DataError(f"{path}: unreadable ({exc}): truncated or corrupt; copy the file again or retrain") from exc
    wrong = [f"{k} {found[k]} vs {expected[k]}" for k in expected if k in found and found[k] != expected[k]]
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    parts = [f"shapes differ: {', '.join(wrong[:3])}"] if wrong else []
    parts += [f"lacks {missing[:3]}"] if missing else []
    parts += [f"has unknown tensors {extra[:3]}"] if extra else []
    if parts:
        raise DataError(
            f"{path}: not the network its sidecar {exp.sidecar(fold).name} describes ({'; '.join(parts)}): the "
            "weights of another architecture? Copy the fold's weights and sidecar together, or retrain"
        )
    return model


def load_fold(exp: ExperimentDir | str | Path, fold: int, device: torch.device | str = "cpu") -> LoadedFold:
    """Fold ``fold`` of an experiment folder, built by the family its sidecar records and checked against it, in
    eval mode on ``device``."""
    exp = ExperimentDir.of(exp)
    spec = fold_spec(exp, fold)
    model = check_fold_weights(exp, fold, spec)
    model.load_state_dict(load_file(str(exp.weights(fold)), device=str(device)))
    fmt = torch.channels_last if spec.family.channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt)  # channels_last: ~1.7x faster convolutions on CPU
    return LoadedFold(fold, model.eval(), spec.frontend, spec.family)


def load_folds(
    exp: ExperimentDir | str | Path, folds: list[int] | None = None, device: torch.device | str = "cpu"
) -> list[LoadedFold]:
    """Every fold with weights (or those of ``folds``); they must share one family and one front-end."""
    exp = ExperimentDir.of(exp)
    numbers = [k for k in exp.folds_with_weights() if folds is None or k in folds]
    if not numbers:
        raise DataError(
            f"{exp.root}: no fold weights{f' for folds {folds}' if folds else ''}; train first "
            "(python -m hms train --config ...)"
        )
    loaded = [load_fold(exp, k, device) for k in numbers]
    first = loaded[0]
    for other in loaded[1:]:
        if other.frontend != first.frontend or other.family.name != first.family.name:
            raise DataError(
                f"{exp.root}: folds {first.fold} and {other.fold} differ in family or front-end settings; "
                "predict them as separate experiments"
            )
    return loaded


def _to_device(x: torch.Tensor, device: torch.device, family: ModelFamily) -> torch.Tensor:
    fmt = torch.channels_last if family.channels_last and x.ndim == 4 else torch.contiguous_format
    return x.to(device).contiguous(memory_format=fmt)


@torch.no_grad()
def forward_views(
    model: torch.nn.Module, family: ModelFamily, x: torch.Tensor, frontend: FrontEndConfig, tta_swap: bool
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of a family's inputs -> (probabilities, per-view embeddings (batch, views, dim)); with ``tta_swap`` the
    probabilities are averaged with those of the hemisphere-swapped inputs, whose embedding is the second view."""
    model.eval()
    device = next(model.parameters()).device
    out = model(_to_device(x, device, family))
    probs, embs = out["logits"].float().softmax(-1), [out["embedding"].float()]
    if tta_swap:
        out2 = model(_to_device(family.swap(x, frontend), device, family))
        probs = (probs + out2["logits"].float().softmax(-1)) / 2
        embs.append(out2["embedding"].float())
    return probs.cpu().numpy(), torch.stack(embs, dim=1).cpu().numpy()


#: receives per-position activations from :func:`run_rows`: (index of the fold in ``folds``, the batch's row positions,
#: their activations (batch, views, positions, dim) as float32)
PositionSink = Callable[[int, list[int], np.ndarray], None]


@torch.no_grad()
def forward_positions(
    model: torch.nn.Module, family: ModelFamily, x: torch.Tensor, frontend: FrontEndConfig, tta_swap: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`forward_views` through a :class:`~hms.families.Localized` network's positions, pool and head (one
    forward pass), also returning the per-position activations (batch, views, positions, dim)."""
    if not isinstance(model, Localized):
        raise ValueError(f"the {family.name} family's network has no per-position activations (positions/pool)")
    model.eval()
    device = next(model.parameters()).device
    probs, embs, cells = None, [], []
    for inputs in (x, family.swap(x, frontend)) if tta_swap else (x,):
        positions = model.positions(_to_device(inputs, device, family))
        embedding = model.pool(positions)
        p = model.head(embedding).float().softmax(-1)
        probs = p if probs is None else (probs + p) / 2
        embs.append(embedding.float())
        cells.append(positions.float())
    return probs.cpu().numpy(), torch.stack(embs, 1).cpu().numpy(), torch.stack(cells, 1).cpu().numpy()


class ModelOutputError(RuntimeError):
    """A model returned NaN/inf for a row it had inputs for: a bug, never papered over with the prior."""


def _check_finite(probs: np.ndarray, eeg_ids: list, fold: LoadedFold) -> None:
    finite = np.isfinite(probs).all(axis=1)
    if not finite.all():
        bad = [e for e, ok in zip(eeg_ids, finite, strict=True) if not ok]
        raise ModelOutputError(
            f"fold {fold.fold} of {fold.family.name} returned non-finite probabilities for eeg_id(s) {bad[:10]} "
            "although their inputs were cleaned: this is a bug; please report it with those files"
        )


def run_rows(
    comp: Competition,
    rows: pd.DataFrame,
    split: str,
    folds: list[LoadedFold],
    tta_swap: bool = True,
    hand: bool = False,
    batch_size: int = 32,
    timings: dict[str, float] | None = None,
    desc: str = "embed",
    prefetch: bool = True,
    positions: PositionSink | None = None,
) -> tuple[list[FoldOutputs], pd.DataFrame | None, dict[int, str]]:
    """Every fold's outputs for every row (rows with neither modality get NaN), optional band-power ("hand")
    features, and problems by row position. Each file is read and each input built once for all folds; with
    ``prefetch`` a background thread reads and builds the next batch while the models run on this one (same
    outputs; the parquet readers and the front-end release the GIL for most of their work). With ``positions``, the
    same forward pass also hands every batch's per-position activations to that sink (:func:`forward_positions`)."""
    timings = timings if timings is not None else {}
    family, frontend = folds[0].family, folds[0].frontend
    n = len(rows)
    probs = [np.full((n, N_CLASSES), np.nan, np.float32) for _ in folds]
    views: list[np.ndarray | None] = [None for _ in folds]
    feats: list[dict[str, float]] = [{} for _ in range(n)]
    problems: dict[int, str] = {}
    records = rows.to_dict("records")
    starts = list(range(0, n, batch_size))

    def load(start: int) -> tuple[RowInputs, list[dict[str, float]]]:
        batch = row_inputs(comp, records[start : start + batch_size], split, family, frontend, timings=timings)
        with timed(timings, "front-end"):
            hand_rows = [window_band_powers(e, s, frontend) for e, s, _ in batch.windows] if hand else []
        return batch, hand_rows

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, starts[0]) if starts and prefetch else None
        for k, start in enumerate(tqdm(starts, desc=desc, unit="batch", leave=False)):
            batch, hand_rows = pending.result() if pending is not None else load(start)
            pending = pool.submit(load, starts[k + 1]) if prefetch and k + 1 < len(starts) else None
            problems |= {start + i: p for i, p in batch.problems.items()}
            for i, f in enumerate(hand_rows):
                feats[start + i] = f
            if batch.inputs is None:
                continue
            idx = [start + i for i in batch.usable]
            with timed(timings, "model"):
                for m, fold in enumerate(folds):
                    if positions is None:
                        p, v = forward_views(fold.model, family, batch.inputs, frontend, tta_swap)
                    else:
                        p, v, cells = forward_positions(fold.model, family, batch.inputs, frontend, tta_swap)
                        positions(m, idx, cells)
                    _check_finite(p, [records[i].get("eeg_id") for i in idx], fold)
                    if views[m] is None:
                        views[m] = np.full((n, v.shape[1], v.shape[2]), np.nan, np.float32)
                    probs[m][idx], views[m][idx] = p, v

    outputs = [
        FoldOutputs(p, v if v is not None else np.full((n, 2 if tta_swap else 1, 0), np.nan, np.float32))
        for p, v in zip(probs, views, strict=True)
    ]
    hand_df = pd.DataFrame(feats, index=rows.index) if hand else None
    return outputs, hand_df, problems
