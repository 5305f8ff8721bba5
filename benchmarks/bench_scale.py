"""What every stage costs at full competition size, from per-item costs measured here on a small dataset with a trained
experiment: prepare (per EEG-second, per spectrogram), one training epoch (per eeg_id), OOF prediction (per eeg_id),
the embeddings pass for the SAE (per label row and fold, with TTA), the SAE fit (per step of configs/sae.yaml's
dictionary: its configured steps, and one pass over the full-size time-shifted activations), the stacker (per row),
submission.py (per test EEG). Each is projected to the real sizes: 17,089 EEGs of 80 s on average, 11,138
spectrograms, 106,800 label rows, 2,640 hidden test EEGs, 5 folds. The embeddings pass is also costed on the distinct
label windows and on a cap per eeg_id, counted on the real train.csv when ../shared/hms_sample has it.

    python benchmarks/bench_scale.py --experiment quick --data data/sim [--config configs/quick.yaml]

Per-stage peak memory is the growth of this process's maximum resident set while the stage ran (a lower bound
for later stages); "full-size arrays GB" is computed from the shapes a stage holds at once at full size (streamed
stages hold a batch or one file).

The stacker is measured on a matrix shaped like its real input (6 logits, TopK SAE codes with k of d_sae latents
non-zero, 100 band powers), with the soft-label objective of ``hms.gbm`` and, as the reference in the same run, the
six-fold row expansion it replaced."""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import torch

from hms.config import read_yaml
from hms.constants import N_CLASSES
from hms.data import Competition, read_train_csv
from hms.embed import label_rows
from hms.experiment import ExperimentDir, load_config
from hms.families import get_family
from hms.gbm import DEFAULT_PARAMS, fit_soft
from hms.infer import predict_rows
from hms.paths import SHARED_SAMPLE_DIR
from hms.predict import load_fold, run_rows
from hms.sae.fit import fit_sae
from hms.sae.model import SAEConfig
from hms.signal.prepare import list_items, prepare_item
from hms.train.loop import train_fold
from hms.train.oof import predict_eegs

FULL = {
    "eeg_seconds": 17_089 * 80,
    "spectrograms": 11_138,
    "eeg_ids": 17_089,
    "rows": 106_800,
    "test": 2_640,
    "folds": 5,
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, fn) -> tuple[float, float]:
    """(seconds, growth of peak RSS in MB) of ``fn()``."""
    before = _peak_mb()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, _peak_mb() - before


def window_counts(train: pd.DataFrame, caps: tuple[int, ...] = (1, 5, 10)) -> dict[str, int]:
    """Label rows, distinct (eeg_id, offset) windows, and windows capped per eeg_id: the embeddings pass's sizes."""
    distinct = train.drop_duplicates(["eeg_id", "eeg_label_offset_seconds"])
    out = {"label rows": len(train), "distinct windows": len(distinct)}
    for cap in caps:
        out[f"<= {cap} windows per eeg_id"] = int(distinct.groupby("eeg_id").head(cap).shape[0])
    return out


def sparse_stack_matrix(n: int, d_sae: int, k: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6 + d_sae + 100) features like the stacker's logits + TopK SAE codes + band powers, and soft targets."""
    rng = np.random.default_rng(seed)
    codes = np.zeros((n, d_sae))
    codes[np.arange(n)[:, None], rng.integers(0, d_sae, size=(n, k))] = rng.exponential(size=(n, k))
    x = np.concatenate([rng.normal(size=(n, 6)), codes, rng.normal(size=(n, 100))], axis=1)
    return x, rng.dirichlet(np.ones(N_CLASSES), size=n)


def fit_expanded(x: np.ndarray, targets: np.ndarray, rounds: int) -> None:
    """The reference: every row repeated once per class with weight = its probability, LightGBM's multiclass."""
    xs = np.repeat(x, N_CLASSES, axis=0)
    ys = np.tile(np.arange(N_CLASSES), len(x))
    ws = targets.reshape(-1)
    keep = ws > 0
    params = DEFAULT_PARAMS | {"objective": "multiclass", "seed": 0}
    lgb.train(params, lgb.Dataset(xs[keep], ys[keep], weight=ws[keep]), num_boost_round=rounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="quick")
    ap.add_argument("--data", default="data/sim")
    ap.add_argument("--config", default="configs/quick.yaml")
    ap.add_argument("--models-root", default="models")
    ap.add_argument("--sae-config", default="configs/sae.yaml", help="the SAE settings whose fit is costed")
    args = ap.parse_args()
    comp = Competition.from_arg(args.data)
    exp = ExperimentDir.named(args.experiment, args.models_root)
    cfg = load_config(args.config, ["train.epochs_stage1=1", "train.epochs_stage2=0"])
    family = get_family(cfg.family)
    train = comp.train()
    rows: list[dict] = []

    def add(
        stage: str,
        seconds: float,
        n: float,
        unit: str,
        full: float,
        mb: float,
        full_gb: float | None = None,
    ) -> None:
        per = seconds / max(n, 1)
        rows.append(
            {
                "stage": stage,
                "measured on": f"{n:g} {unit}",
                "s per item": per,
                "full-size items": full,
                "projected CPU h": per * full / 3600,
                "peak RSS growth MB": mb,
                "full-size arrays GB": full_gb,
            }
        )

    items = list_items(comp, train)
    eeg_items = [i for i in items if i.kind == "eeg"][:8]
    spec_items = [i for i in items if i.kind == "spec"][:8]
    threads = torch.get_num_threads()  # prepare's items pin torch to one thread (it runs one per process)
    with tempfile.TemporaryDirectory() as tmp:
        secs, mb = measure("prepare eeg", lambda: [prepare_item(i, Path(tmp), cfg.frontend) for i in eeg_items])
        seconds = sum(comp.eeg_seconds(i.item_id, i.split) for i in eeg_items)
        add("prepare: EEG", secs, seconds, "EEG-seconds", FULL["eeg_seconds"], mb)
        secs, mb = measure("prepare spec", lambda: [prepare_item(i, Path(tmp), cfg.frontend) for i in spec_items])
        add("prepare: spectrograms", secs, len(spec_items), "files", FULL["spectrograms"], mb)
    torch.set_num_threads(threads)

    folds = exp.read_folds(train)
    train_f = train.merge(folds[["eeg_id", "fold"]], on="eeg_id")
    family.prepare(comp, train, cfg.frontend, cfg.cache, workers=1)
    source = family.train_source(comp, cfg.frontend, cfg.cache)
    stats: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = ExperimentDir(Path(tmp) / "x")
        scratch.root.mkdir(parents=True)
        _, mb = measure(
            "epoch", lambda: train_fold(cfg, 0, train_f[train_f["fold"] != 0], source, scratch, stats=stats)
        )
    epochs = cfg.train.epochs_stage1  # the configured schedule is costed below per epoch
    full_cfg = load_config(args.config)
    n_epochs = full_cfg.train.epochs_stage1 + full_cfg.train.epochs_stage2
    per_fold_ids = FULL["eeg_ids"] * (FULL["folds"] - 1) / FULL["folds"]
    add(
        f"training: {n_epochs} epochs x {FULL['folds']} folds",
        stats["seconds"] / epochs,
        stats["items"],
        "eeg_ids (1 epoch)",
        per_fold_ids * n_epochs * FULL["folds"],
        mb,
    )

    fold0 = load_fold(exp, 0)
    valid = train_f[train_f["fold"] == 0]
    secs, mb = measure(
        "oof",
        lambda: predict_eegs(fold0.model, fold0.family, valid, source, fold0.frontend, cfg.train.batch_size, True),
    )
    add(
        "OOF prediction", secs, valid["eeg_id"].nunique(), "eeg_ids", FULL["eeg_ids"], mb, FULL["eeg_ids"] * 6 * 8 / 1e9
    )

    lrows = label_rows(comp, exp).head(64)
    secs, mb = measure("embed", lambda: run_rows(comp, lrows, "train", [fold0], hand=True, desc="embed"))
    real = read_train_csv(SHARED_SAMPLE_DIR / "train.csv") if (SHARED_SAMPLE_DIR / "train.csv").is_file() else None
    counts = window_counts(real) if real is not None else {"label rows": FULL["rows"]}
    for label, count in counts.items():
        add(f"embeddings for the SAE: {label}", secs, len(lrows), "rows x 1 fold", count * FULL["folds"], mb)

    d_in = fold0.model.embed_dim
    n_train_rows = FULL["rows"] * (FULL["folds"] - 1) / FULL["folds"]
    gb = 1e9
    for i, count in enumerate(counts.values()):  # one fold's outputs: 2 views + mean embedding, float32
        rows[-len(counts) + i]["full-size arrays GB"] = count * (2 + 1) * d_in * 4 / gb
    sae_defaults = SAEConfig.from_dict({"d_in": d_in} | read_yaml(args.sae_config))
    sae_cfg = replace(sae_defaults, steps=20)
    x = np.random.default_rng(0).normal(size=(4096, d_in)).astype(np.float32)
    secs, mb = measure("sae", lambda: fit_sae(x, sae_cfg, progress=False))
    label = f"SAE fit, d_sae={sae_cfg.d_sae} k={sae_cfg.k}"
    add(
        f"{label} ({sae_defaults.steps} steps x {FULL['folds']} folds)",
        secs,
        sae_cfg.steps,
        "steps",
        sae_defaults.steps * FULL["folds"],
        mb,
        n_train_rows * 2 * d_in * 4 * 2 / gb,
    )
    shifts = 5  # hms sae --shifts=-10,-5,0,5,10: every training label row at 5 window positions, 2 views each
    vectors = n_train_rows * 2 * shifts
    add(
        f"SAE fit, one pass over {vectors:,.0f} shifted activations x {FULL['folds']} folds",
        secs,
        sae_cfg.steps,
        "steps",
        vectors / sae_cfg.batch_size * FULL["folds"],
        mb,
        vectors * d_in * 4 / gb,
    )
    rows[-1]["full-size arrays GB"] = None  # streamed from memory-mapped chunks: one batch in memory

    d_sae, k = sae_defaults.d_sae, sae_defaults.k
    xs, ts = sparse_stack_matrix(4000, d_sae, k)
    width = xs.shape[1]
    stack_gb = n_train_rows * width * 8 / gb  # the float64 feature matrix of a fold's training rows
    secs, mb = measure("stack", lambda: fit_soft(xs, ts, rounds=30))
    add(f"stacker ({width} features, 300 rounds x 5 folds)", secs * 10, len(xs), "rows", n_train_rows * 5, mb, stack_gb)
    secs, mb = measure("stack ref", lambda: fit_expanded(xs, ts, rounds=30))
    add(
        "  reference: rows repeated per class",
        secs * 10,
        len(xs),
        "rows",
        n_train_rows * 5,
        mb,
        stack_gb * (ts > 0).sum(axis=1).mean(),
    )

    test = comp.test()
    rows_t = pd.concat([test] * (16 // max(1, len(test)) + 1), ignore_index=True).head(16)
    secs, mb = measure("submit", lambda: predict_rows(comp, rows_t, exp, "test", feature_set="cnn"))
    add(f"submission.py ({len(exp.folds_with_weights())} folds, TTA)", secs, len(rows_t), "test EEGs", FULL["test"], mb)

    table = pd.DataFrame(rows)
    table["full-size arrays GB"] = table["full-size arrays GB"].map(lambda v: "streamed" if pd.isna(v) else f"{v:.3g}")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    print(f"{exp.name} ({family.name}) on {comp.root}; measured on {device}")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    main_rows = table[
        (~table["stage"].str.startswith(("embeddings", "  reference")))
        | (table["stage"] == "embeddings for the SAE: label rows")
    ]
    slowest = main_rows.sort_values("projected CPU h").iloc[-1]
    print(f"slowest stage at full size: {slowest['stage']} ({slowest['projected CPU h']:.1f} CPU hours here)")


if __name__ == "__main__":
    main()
