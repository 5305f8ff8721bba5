"""Is the side of a one-sided pattern in the EEG embeddings at all? A logistic probe trained on the training folds'
planted sides (reports.csv `side`, the simulator's truth, not the report's wording), scored on the held-out one-sided
EEGs, on the CLIP-aligned embedding and on the supervised CNN's embedding of the same fold. Compare with bench_clip's
"side in words" line, which asks the same question through the text encoder.

    python benchmarks/bench_clip_side.py --data data/bench --clip models/bench_sup/clip --supervised models/bench

Runs in seconds; prints the accuracy per fold and the mean weighted by held-out EEGs."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hms.clip.train import read_reports
from hms.data import Competition
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir

SIDES = ("left", "right")


def side_accuracy(x: np.ndarray, side: np.ndarray, train: np.ndarray, test: np.ndarray, c: float) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    model.fit(x[train], side[train])
    return float((model.predict(x[test]) == side[test]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/bench")
    ap.add_argument("--clip", default="models/bench_sup/clip", help="models/<name>/clip of python -m hms clip")
    ap.add_argument("--supervised", default="models/bench", help="the supervised experiment (same folds)")
    ap.add_argument("--c", type=float, default=0.05, help="inverse L2 strength of the probe")
    args = ap.parse_args()
    comp = Competition.from_arg(args.data)
    reports = read_reports(comp)
    clip_dir, sup_dir = Path(args.clip), Path(args.supervised)
    fold_files = ExperimentDir.clip_array_files(clip_dir)
    if not fold_files:
        raise SystemExit(f"{clip_dir}: no fold*.npz; train it first (python -m hms clip --data {args.data})")
    cache = EmbeddingCache.build(sup_dir, args.data)  # the supervised embeddings (computed once, then cached)
    records = []
    for path in fold_files:
        fold = int(path.stem.removeprefix("fold"))
        with np.load(path) as z:
            ids, eeg_z, is_train = z["eeg_ids"], z["eeg_z"], z["is_train"]
        side = reports.loc[ids, "side"].fillna("").to_numpy()
        one_sided = np.isin(side, SIDES)
        train, test = is_train & one_sided, ~is_train & one_sided
        sup = cache.eeg_embeddings(fold, ids)
        records.append(
            {
                "fold": fold,
                "train_eegs": int(train.sum()),
                "held_out_eegs": int(test.sum()),
                "clip_aligned": side_accuracy(eeg_z, side, train, test, args.c),
                "supervised_cnn": side_accuracy(sup, side, train, test, args.c),
                "majority_side": float((side[test] == pd.Series(side[train]).mode()[0]).mean()),
            }
        )
    table = pd.DataFrame(records)
    print(f"side probe ({clip_dir}; held-out one-sided EEGs, accuracy):")
    print(table.round(3).to_string(index=False))
    w = table["held_out_eegs"] / table["held_out_eegs"].sum()
    print(
        "weighted by eeg_ids: "
        + ", ".join(f"{c} {(table[c] * w).sum():.3f}" for c in table.columns[3:])
        + f" (of {table['held_out_eegs'].sum()} EEGs)"
    )


if __name__ == "__main__":
    main()
