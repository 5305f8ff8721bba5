"""How the number of activations changes one fold's SAE. Does a cheaper embeddings pass give the same SAE? The SAE
fitted on the embeddings of every training label row (both TTA views) against one fitted on a cap of windows per
eeg_id, both scored on the same validation part: explained variance, dead latents, and how many of the full SAE's
live decoder directions the capped SAE also has. With --shifts, a third SAE trains on the training rows' windows
moved by each shift (more activations from the same recordings, hms.sae.activations).

    python benchmarks/bench_sae_cap.py --experiment quick --data data/sim [--fold 0] [--cap 1] [--shifts=-10,-5,0,5,10]

Computes the experiment's embeddings first when they are missing (python -m hms sae would too)."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.sae.activations import build_activations
from hms.sae.fit import evaluate, fit_sae
from hms.sae.model import SAEConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="quick")
    ap.add_argument("--data", default="data/sim")
    ap.add_argument("--models-root", default="models")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--cap", type=int, default=1, help="windows per eeg_id in the capped pass")
    ap.add_argument("--shifts", default="", help="also fit on these time shifts (s), e.g. --shifts=-5,0,5")
    args = ap.parse_args()
    exp = ExperimentDir.named(args.experiment, args.models_root)
    cache = EmbeddingCache.build(exp, args.data)
    rows, views = cache.rows, cache.fold(args.fold).views
    ok = np.isfinite(views).all(axis=(1, 2))
    train = ok & (rows["fold"] != args.fold).to_numpy()
    x_valid = views[ok & (rows["fold"] == args.fold).to_numpy()].reshape(-1, views.shape[-1])
    capped = (rows.groupby("eeg_id").cumcount() < args.cap).to_numpy()
    saes = {}
    print(f"{args.experiment} fold {args.fold}: {len(x_valid)} validation vectors")
    print("embeddings pass        train vectors  EV valid  EV train  dead (train part)  dead (valid)")
    sources = [
        ("every label row", views[train].reshape(-1, views.shape[-1])),
        (f"<= {args.cap} per eeg_id", views[train & capped].reshape(-1, views.shape[-1])),
    ]
    if args.shifts:
        shifts = tuple(float(v) for v in args.shifts.split(","))
        sources.append((f"shifts {args.shifts}", build_activations(exp, args.data, args.fold, shifts)))
    for name, x in sources:
        sae, _ = fit_sae(x, SAEConfig(d_in=views.shape[-1]), desc=name)
        on_valid, on_train = evaluate(sae, x_valid), evaluate(sae, x)
        saes[name] = (sae, on_train["density"])
        print(
            f"{name:22s} {len(x):13d}  {on_valid['explained_variance']:8.3f}  {on_train['explained_variance']:8.3f}"
            f"  {on_train['dead_fraction']:17.3f}  {on_valid['dead_fraction']:12.3f}"
        )
    (full, density), (cap, _) = list(saes.values())[:2]
    a = torch.nn.functional.normalize(full.W_dec.detach(), dim=0)
    b = torch.nn.functional.normalize(cap.W_dec.detach(), dim=0)
    best = (a.T @ b).abs().max(dim=1).values.numpy()[density > 0]
    print(
        f"live latents of the full SAE: {len(best)}; best |cos| with a capped-SAE decoder direction: median "
        f"{np.median(best):.2f}, share > 0.9: {(best > 0.9).mean():.3f}"
    )


if __name__ == "__main__":
    main()
