"""SAE fitting speed: steps per second of ``fit_sae`` for each dictionary size at the configured k, against the old
default (TopK, 4x expansion) as the reference in the same run, and the projected time of the full-size fit (one pass
over a fold's time-shifted activations: 106,800 label rows x 4/5 x 2 views x 5 shifts, batch 256, x 5 folds).

    python benchmarks/bench_sae_fit.py [--config configs/sae.yaml] [--steps 40] [--d-in 1280]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from hms.config import read_yaml
from hms.sae.fit import fit_sae
from hms.sae.model import SAEConfig

FULL_VECTORS = 106_800 * 4 / 5 * 2 * 5  # one fold's training label rows x 2 views x 5 shifts
FOLDS = 5


def steps_per_second(x: np.ndarray, cfg: SAEConfig) -> float:
    fit_sae(x, replace(cfg, steps=3), progress=False)  # warm-up (allocations, thread pool)
    t0 = time.perf_counter()
    fit_sae(x, cfg, progress=False)
    return cfg.steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/sae.yaml")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--d-in", type=int, default=1280)
    ap.add_argument("--expansions", default="0.5,1,2,4")
    args = ap.parse_args()
    base = SAEConfig.from_dict({"d_in": args.d_in} | read_yaml(args.config))
    x = np.random.default_rng(0).normal(size=(8192, args.d_in)).astype(np.float32)
    rows = []
    for e in [float(v) for v in args.expansions.split(",")]:
        cfg = replace(base, expansion=e, steps=args.steps)
        sps = steps_per_second(x, cfg)
        steps_full = FULL_VECTORS / cfg.batch_size
        rows.append(
            {
                "d_sae": cfg.d_sae,
                "k": cfg.k,
                "steps/s": sps,
                "configured": e == base.expansion,
                "reference (old default 4x)": e == 4,
                f"{base.steps} steps x {FOLDS} folds, min": base.steps * FOLDS / sps / 60,
                "one pass over full-size shifted activations x 5 folds, h": steps_full * FOLDS / sps / 3600,
            }
        )
    table = pd.DataFrame(rows)
    device = f"CPU, {torch.get_num_threads()} threads"
    print(f"SAE fit speed on {device}, batch {base.batch_size}, d_in {args.d_in}, TopK k = {base.k}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    ref = table[table["reference (old default 4x)"]]
    now = table[table["configured"]]
    if len(ref) and len(now):
        print(
            f"configured dictionary fits {now['steps/s'].item() / ref['steps/s'].item():.1f}x faster than the old "
            f"default (d_sae {ref['d_sae'].item()})"
        )


if __name__ == "__main__":
    main()
