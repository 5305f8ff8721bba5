"""The recipe switches against the default, same data, same folds, same seed, same run: one training per row.

Each switch is a set of ``--set`` overrides on the base config; the row ``default`` trains the config as it is.
Printed per row: OOF KL on the golden eeg_ids and on all of them, the gap left (simulated data: the share of the
distance from the Bayes floor to the class prior still to go), and minutes; each run also lands on the leaderboard
under its own experiment name. The last line is the best row.

    python benchmarks/bench_recipe.py --data data/bench [--config configs/bench.yaml] [--folds 0]
        [--switch mixup=train.mixup_alpha=0.5 ...] [--family raw_eeg=configs/raw_quick.yaml ...] [--blend]
        [--no-default]

``--family NAME=CONFIG`` adds a row trained from another config (another model family; its ``n_folds`` and
``seed`` must be the base config's, so the folds are the same); ``--blend`` ends with ``python -m hms blend`` (nested
CV) over every row's experiment and prints its line; ``--no-default`` skips the default row (already measured).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
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


def parse_family(text: str) -> tuple[str, str]:
    """``name=configs/FILE.yaml`` -> (name, path)."""
    name, sep, path = text.partition("=")
    if not sep or not path.endswith(".yaml"):
        raise SystemExit(f"--family {text!r}: expected NAME=CONFIG.yaml, e.g. raw_eeg=configs/raw_quick.yaml")
    return name, path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/bench")
    ap.add_argument("--config", default="configs/bench.yaml")
    ap.add_argument("--folds", default="0", help="comma-separated folds every row trains (the same for all)")
    ap.add_argument("--switch", action="append", default=None, help="NAME=KEY=VALUE[,KEY=VALUE...] (repeatable)")
    ap.add_argument("--family", action="append", default=[], help="NAME=CONFIG: a row from another config")
    ap.add_argument("--blend", action="store_true", help="then blend every row's experiment (python -m hms blend)")
    ap.add_argument("--no-default", action="store_true", help="skip the default row")
    ap.add_argument("--prefix", default="recipe", help="experiment names: PREFIX_default, PREFIX_NAME, ...")
    args = ap.parse_args()
    switches = dict(parse_switch(s) for s in args.switch) if args.switch else ({} if args.family else SWITCHES)
    families = dict(parse_family(f) for f in args.family)
    folds = f"folds=[{args.folds}]"
    base = load_config(args.config)
    runs = {} if args.no_default else {"default": (args.config, [])}
    runs |= {name: (args.config, overrides) for name, overrides in switches.items()}
    runs |= {name: (path, []) for name, path in families.items()}
    rows = []
    for name, (path, overrides) in runs.items():
        cfg = load_config(path, [*overrides, folds, f"name={args.prefix}_{name}"])
        if (cfg.n_folds, cfg.seed) != (base.n_folds, base.seed):
            raise SystemExit(f"{path}: n_folds/seed {cfg.n_folds}/{cfg.seed} differ from {args.config}'s: other folds")
        started = time.perf_counter()
        run_experiment(cfg, args.data)
        board = pd.read_csv(files_dir() / "leaderboard.csv")
        mine = board[board["experiment"] == cfg.name].iloc[-1]  # the row this run just appended
        rows.append(
            {
                "switch": name,
                "overrides": " ".join(overrides) or (path if path != args.config else "-"),
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
    if args.blend:
        names = ",".join(f"{args.prefix}_{name}" for name in runs)
        command = [sys.executable, "-m", "hms", "blend", "--experiments", names, "--data", args.data]
        command += ["--out", str(files_dir() / "blend" / args.prefix)]
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
