"""How many activations does the per-position SAE need? Validation explained variance (every position of the fold's
validation windows) against the number of training vectors, on one fold's position store (written by
``python -m hms sae --positions``): the SAE of ``configs/sae_positions.yaml`` fitted on nested shares of the
training vectors, the same number of steps each, beside PCA with as many components as its L0 fitted on the same
vectors (the reference, same run). Prints the table and the log-linear extrapolation to the target.

    python benchmarks/bench_position_curve.py --experiment bench [--fold 0] [--fractions 0.125,0.25,0.5,1]
        [--set sae.expansion=2 --set sae.steps=3000]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from hms.experiment import ExperimentDir
from hms.sae.baselines import explained_variance, pca_reconstructor
from hms.sae.fit import evaluate, fit_sae
from hms.sae.model import SAEConfig
from hms.sae.positions import PositionStore, read_position_config
from hms.sae.store import ActivationStore

TARGET_EV = 0.90


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", default="bench")
    ap.add_argument("--models-root", default="models")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--config", default="configs/sae_positions.yaml")
    ap.add_argument("--fractions", default="0.125,0.25,0.5,1")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an SAE setting, e.g. sae.expansion=2")
    args = ap.parse_args()
    exp = ExperimentDir.named(args.experiment, args.models_root)
    store = PositionStore.open(exp.position_store_dir(args.fold))
    settings, _ = read_position_config(args.config, args.set)
    cfg = SAEConfig.from_dict({"d_in": store.train.dim} | settings)
    valid = np.asarray(store.valid, dtype=np.float32).reshape(-1, store.train.dim)
    order = np.random.default_rng(cfg.seed).permutation(len(store.train))
    rows = []
    for fraction in (float(f) for f in args.fractions.split(",")):
        n = int(round(fraction * len(store.train)))
        x = store.train.take(np.sort(order[:n]))
        sae, _ = fit_sae(x, cfg, progress=False)
        on_valid = evaluate(sae, ActivationStore.from_array(valid))
        pca = pca_reconstructor(sae, x, int(round(on_valid["l0"])), cfg.seed)
        rows.append(
            {
                "train_vectors": n,
                "sae_ev_valid": on_valid["explained_variance"],
                "sae_l0": on_valid["l0"],
                "sae_dead_train": evaluate(sae, x)["dead_fraction"],
                "pca_ev_valid": explained_variance(sae, pca, valid),
            }
        )
        print(pd.DataFrame(rows[-1:]).round(4).to_string(index=False, header=len(rows) == 1))
    table = pd.DataFrame(rows)
    if len(table) < 2:
        return
    slope, intercept = np.polyfit(np.log10(table["train_vectors"]), table["sae_ev_valid"], 1)
    if slope > 0:
        need = 10 ** ((TARGET_EV - intercept) / slope)
        print(f"log-linear fit: EV {slope:+.3f} per decade of vectors; EV {TARGET_EV} at ~{need:,.0f} vectors")
    else:
        print(f"log-linear fit: EV {slope:+.3f} per decade of vectors: more vectors do not help at this size")


if __name__ == "__main__":
    main()
