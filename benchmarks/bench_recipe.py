"""The recipe switches against the default, same data, same folds, same seed, same run: one training per row.

Each switch is a set of ``--set`` overrides on the base config; the row ``default`` trains the config as it is.
Printed per row: OOF KL on the golden eeg_ids and on all of them, the gap left (simulated data: the share of the
distance from the Bayes floor to the class prior still to go), and minutes; each run also lands on the leaderboard
under its own experiment name. The last line is the best row.

    python benchmarks/bench_recipe.py --data data/bench [--config configs/bench.yaml] [--folds 0]
        [--switch mixup=train.mixup_alpha=0.5 ...]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from hms.experiment import load_config
from hms.paths import files_dir
from hms.train.run import run_experiment

#: the switches measured by default: name -> overrides
SWITCHES = {"mixup": ["train.mixup_alpha=0.5"], "group_draw": ["train.row_draw=group"]}


def parse_switch(text: str) -> tuple[str, list[str]]:
    """``name=key=value[,key=value...]`` -> (name, overrides)."""
    name, sep, rest = text.partition("=")
    if not sep or not rest:
        raise SystemExit(f"--switch {text!r}: expected NAME=KEY=VALUE[,KEY=VALUE...], e.g. mixup=train.mixup_alpha=0.5")
    return name, rest.split(",")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/bench")
    ap.add_argument("--config", default="configs/bench.yaml")
    ap.add_argument("--folds", default="0", help="comma-separated folds every row trains (the same for all)")
    ap.add_argument("--switch", action="append", default=None, help="NAME=KEY=VALUE[,KEY=VALUE...] (repeatable)")
    ap.add_argument("--prefix", default="recipe", help="experiment names: PREFIX_default, PREFIX_NAME, ...")
    args = ap.parse_args()
    switches = dict(parse_switch(s) for s in args.switch) if args.switch else SWITCHES
    folds = f"folds=[{args.folds}]"
    rows = []
    for name, overrides in {"default": [], **switches}.items():
        cfg = load_config(args.config, [*overrides, folds, f"name={args.prefix}_{name}"])
        started = time.perf_counter()
        run_experiment(cfg, args.data)
        board = pd.read_csv(files_dir() / "leaderboard.csv")
        mine = board[board["experiment"] == cfg.name].iloc[-1]  # the row this run just appended
        rows.append(
            {
                "switch": name,
                "overrides": " ".join(overrides) or "-",
                "oof_kl_golden": mine["oof_kl_golden"],
                "oof_kl_all": mine["oof_kl_all"],
                "gap_left": mine["gap_left"],
                "minutes": (time.perf_counter() - started) / 60,
            }
        )
    table = pd.DataFrame(rows)
    print(table.round(4).to_string(index=False))
    best = table.loc[table["oof_kl_golden"].idxmin()]
    print(f"best on golden OOF KL (folds {args.folds}): {best['switch']} {best['oof_kl_golden']:.4f}")


if __name__ == "__main__":
    main()
