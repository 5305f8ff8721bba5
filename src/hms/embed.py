"""Row-level outputs of one fold's CNN through the inference front-end (raw files -> images -> CNN), so the SAE and
the stacker are trained on exactly what ``submission.py`` computes at test time.

``python -m hms sae`` and ``python -m hms stack`` share the cache ``models/<experiment>/embeddings/``:
``rows.parquet`` (every label row: ids, offsets, fold, votes), ``hand.parquet`` (band-power features per row, fold
independent) and ``fold{k}.npz`` (that fold's model on every row: probabilities and per-view embeddings). Each fold is
written atomically, so an interrupted run resumes with the next missing fold."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hms.data import Competition, read_folds
from hms.features import window_features
from hms.io import atomic_write, write_parquet
from hms.signal.config import FrontEndConfig

ROW_COLUMNS = ("eeg_id", "eeg_sub_id", "eeg_label_offset_seconds", "spectrogram_id", "spectrogram_sub_id",
               "spectrogram_label_offset_seconds", "patient_id")  # fmt: skip


@dataclass
class FoldOutputs:
    """One fold's CNN on rows: TTA-averaged probabilities (n, 6) and per-view embeddings (n, views, dim)."""

    probs: np.ndarray
    views: np.ndarray

    @property
    def embedding(self) -> np.ndarray:
        """The inference embedding: mean over the TTA views."""
        return self.views.mean(axis=1)

    @property
    def logits(self) -> np.ndarray:
        """Log-probabilities (the CNN's logits up to a per-row constant, after TTA averaging)."""
        return np.log(np.clip(self.probs, 1e-7, 1.0))


def run_rows(comp: Competition, rows: pd.DataFrame, split: str, models: list, cfg: FrontEndConfig,
             tta_swap: bool = True, hand: bool = False, batch_size: int = 32,
             timings: dict[str, float] | None = None, desc: str = "embed",
             ) -> tuple[list[FoldOutputs], pd.DataFrame | None, dict[int, str]]:  # fmt: skip
    """Every model's outputs for every row (rows with neither modality get NaN), optional hand features, and
    problems by row position. Each file is read and each image built once for all models; the same functions as
    test-time inference (load_inputs, images_for, forward_views)."""
    from hms.infer import images_for, load_inputs
    from hms.train.loop import forward_views

    timings = timings if timings is not None else {}
    n = len(rows)
    probs = [np.full((n, 6), np.nan, np.float32) for _ in models]
    views: list[np.ndarray | None] = [None for _ in models]
    feats: list[dict[str, float]] = [{} for _ in range(n)]
    problems: dict[int, str] = {}
    records = rows.to_dict("records")
    add = lambda key, t0: timings.__setitem__(key, timings.get(key, 0.0) + time.perf_counter() - t0)  # noqa: E731
    for start in tqdm(range(0, n, batch_size), desc=desc, unit="batch", leave=False):
        chunk = records[start : start + batch_size]
        t0 = time.perf_counter()
        loaded = [load_inputs(comp, r, split) for r in chunk]
        add("read", t0)
        for i, (_, _, problem) in enumerate(loaded):
            if problem:
                problems[start + i] = problem
        usable = [i for i, (e, s, _) in enumerate(loaded) if e is not None or s is not None]
        t0 = time.perf_counter()
        if hand:
            for i, (e, s, _) in enumerate(loaded):
                feats[start + i] = window_features(e, s, cfg)
        if not usable:
            add("front-end", t0)
            continue
        images = images_for([loaded[i][0] for i in usable], [loaded[i][1] for i in usable], cfg)
        add("front-end", t0)
        idx = [start + i for i in usable]
        t0 = time.perf_counter()
        for m, model in enumerate(models):
            p, v = forward_views(model, images, cfg, tta_swap)
            if views[m] is None:
                views[m] = np.full((n, v.shape[1], v.shape[2]), np.nan, np.float32)
            probs[m][idx], views[m][idx] = p, v
        add("cnn", t0)
    outputs = [
        FoldOutputs(p, v if v is not None else np.full((n, 2 if tta_swap else 1, 0), np.nan, np.float32))
        for p, v in zip(probs, views, strict=True)
    ]
    hand_df = pd.DataFrame(feats, index=rows.index) if hand else None
    return outputs, hand_df, problems


def cache_dir(experiment_dir: Path) -> Path:
    return Path(experiment_dir) / "embeddings"


def label_rows(comp: Competition, folds_csv: Path) -> pd.DataFrame:
    """Every label row of train.csv whose files exist, with its fold (the experiment's patient-grouped folds)."""
    from hms.constants import VOTE_COLS

    train = comp.train()
    folds = read_folds(folds_csv, train)
    rows = train.merge(folds[["eeg_id", "fold"]], on="eeg_id", how="inner")
    return rows[[*ROW_COLUMNS, *VOTE_COLS, "fold"]].reset_index(drop=True)


def load_fold_outputs(path: Path) -> FoldOutputs:
    with np.load(path) as z:
        return FoldOutputs(z["probs"], z["views"])


def eeg_embeddings(experiment_dir: Path, fold: int, rows: pd.DataFrame, eeg_ids: np.ndarray) -> np.ndarray:
    """Fold ``fold``'s embedding of each eeg_id's first label row (the row EEG-CLIP evaluates), in ``eeg_ids`` order;
    ``rows`` is what :func:`ensure_embeddings` returned."""
    first = rows.drop_duplicates("eeg_id").reset_index().set_index("eeg_id")["index"]
    return load_fold_outputs(cache_dir(experiment_dir) / f"fold{fold}.npz").embedding[first.loc[eeg_ids].to_numpy()]


def ensure_embeddings(experiment_dir: Path, data: str | Path | None, batch_size: int = 32) -> pd.DataFrame:
    """Compute (or reuse) rows.parquet, hand.parquet and fold{k}.npz for every fold model of an experiment."""
    from hms.infer import fold_files
    from hms.train.loop import load_fold

    experiment_dir = Path(experiment_dir)
    out = cache_dir(experiment_dir)
    out.mkdir(parents=True, exist_ok=True)
    comp = Competition.from_arg(data)
    rows = label_rows(comp, experiment_dir / "folds.csv")
    rows_path = out / "rows.parquet"
    if rows_path.is_file():
        cached = pd.read_parquet(rows_path)
        if not cached[["eeg_id", "eeg_sub_id"]].equals(rows[["eeg_id", "eeg_sub_id"]]):
            raise ValueError(f"{out}: cached rows differ from {comp.root}/train.csv; delete {out} and run again")
    else:
        write_parquet(rows, rows_path)
    weights = fold_files(experiment_dir)
    if not weights:
        raise FileNotFoundError(f"{experiment_dir}: no fold*.safetensors; train first (python -m hms train ...)")
    for path in tqdm(weights, desc="folds", unit="fold"):
        target = out / f"{path.stem}.npz"
        if target.is_file() and target.stat().st_mtime >= path.stat().st_mtime:
            continue  # cached, and newer than the fold's weights (a retrained fold is embedded again)
        model, cfg = load_fold(path)
        need_hand = not (out / "hand.parquet").is_file()
        (outputs,), hand, _ = run_rows(comp, rows, "train", [model], cfg, hand=need_hand, batch_size=batch_size,
                                       desc=f"embed {path.stem}")  # fmt: skip
        if hand is not None:
            write_parquet(hand.reset_index(drop=True), out / "hand.parquet")

        def save(tmp: Path, o: FoldOutputs = outputs) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, probs=o.probs, views=o.views)

        atomic_write(target, save)
    return rows
