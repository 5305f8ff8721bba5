"""Every GPU figure in one run, for the rare, brief GPU loan (15 minutes per task, by chance): spend it measuring.

On a bench-sized simulation written first (40 patients, seed 7), for every family (spectrogram CNN, raw EEG, raw EEG
as an image): ``bench_train.py`` (the model alone, the training loop, ``loop/ceiling``) and one fold-0 training of
its CPU benchmark config (minutes, golden OOF KL, gap left); then ``bench_submission.py`` over the trained families
and their equal blend (seconds per test EEG), and ``bench_sae_fit.py`` (SAE steps per second and the full-size fit).
One table per part, the families' first. A step that would start after the budget is skipped and says so.

    bash benchmarks/gpu_suite.sh                 # installs from gpu_wheels/ (make gpu-wheels) first, then this
    python benchmarks/gpu_suite.py [--out gpu_suite_out] [--budget-minutes 8] [--quick]

``--quick`` shrinks everything (tiny networks, 6 patients, one epoch) so the CPU path runs in a few minutes: what
the tests run. Everything is written under ``--out`` (data, cache, models, files).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: family -> its CPU benchmark config
FAMILIES = {
    "spectrogram_cnn": "configs/bench.yaml",
    "raw_eeg": "configs/raw_quick.yaml",
    "raw_image": "configs/raw_image_quick.yaml",
}
#: --quick: family -> overrides that make it tiny
QUICK = {
    "spectrogram_cnn": ["model.name=test_efficientnet", "model.pretrained=null", "frontend.panel_height=16"]
    + ["frontend.panel_width=32"],
    "raw_eeg": ["model.filters=4", "model.blocks=2", "model.width=8"],
    "raw_image": ["model.name=test_efficientnet", "model.pretrained=null"],
}
QUICK_TRAIN = ["n_folds=2", "train.batch_size=4", "train.epochs_stage1=1", "train.epochs_stage2=0"]


class Suite:
    """Runs the steps as subprocesses under one deadline, with the work dir under ``out``."""

    def __init__(self, out: Path, budget_minutes: float) -> None:
        self.out, self.deadline = out, time.monotonic() + 60 * budget_minutes
        self.env = os.environ | {
            "HMS_WORK_DIR": str(out),
            "HMS_FILES_DIR": str(out / "files"),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        self.skipped: list[str] = []

    def run(self, what: str, args: list[str]) -> str | None:
        """The step's stdout (its progress bars go to stderr); None when skipped for the budget. A failing step
        stops the suite with its output."""
        if time.monotonic() > self.deadline:
            self.skipped.append(what)
            print(f"[skipped, over the budget] {what}", flush=True)
            return None
        print(f"[{time.strftime('%H:%M:%S')}] {what}", flush=True)
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(f"gpu_suite: {what} failed (exit {done.returncode})")
        return done.stdout


def figure(text: str, label: str) -> float:
    """The number after ``label`` in a bench_train printout."""
    found = re.search(re.escape(label) + r"[^0-9]*([0-9.]+)", text)
    return float(found.group(1)) if found else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu_suite_out")
    ap.add_argument("--budget-minutes", type=float, default=8.0)
    ap.add_argument("--quick", action="store_true", help="tiny everything: the CPU path, in a few minutes")
    args = ap.parse_args()
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    suite = Suite(out, args.budget_minutes)
    data, cache = out / "data", out / "cache"
    patients = ["--n-patients", "6"] if args.quick else ["--n-patients", "40"]
    if not (data / "train.csv").is_file():
        suite.run("simulate the bench data", ["-m", "hms", "synth", "--out", str(data), *patients, "--seed", "7"])
    rows, trained = [], []
    for family, config in FAMILIES.items():
        sets = [f"cache={cache}", *((QUICK[family] + QUICK_TRAIN) if args.quick else [])]
        printed = suite.run(
            f"bench_train {family}",
            ["benchmarks/bench_train.py", "--config", config, "--data", str(data), *[f"--set={s}" for s in sets]],
        )
        row = {"family": family, "config": config}
        if printed is not None:
            row |= {
                "model alone items/s": figure(printed, "ceiling (model alone, fwd+bwd+step):"),
                "loop items/s": figure(printed, "training loop (one epoch):"),
                "loop/ceiling": figure(printed, "loop/ceiling ="),
            }
        name = f"gpu_{family}"
        started = time.monotonic()
        train = ["-m", "hms", "train", "--config", config, "--data", str(data), "--set", "folds=[0]"]
        if suite.run(f"train {family} fold 0", [*train, *[a for s in [*sets, f"name={name}"] for a in ("--set", s)]]):
            board = pd.read_csv(out / "files" / "leaderboard.csv")
            mine = board[board["experiment"] == name].iloc[-1]
            row |= {
                "fold-0 minutes": (time.monotonic() - started) / 60,
                "golden OOF KL": mine["oof_kl_golden"],
                "gap left": mine["gap_left"],
            }
            trained.append(name)
        rows.append(row)
    submission = None
    if trained:
        experiments = [a for name in trained for a in ("--experiment", f"{name}:{data}")]
        n = ["--n", "2" if args.quick else "48"]
        submission = suite.run(
            "bench_submission",
            ["benchmarks/bench_submission.py", *experiments, "--models-root", str(out / "models"), *n],
        )
    tiny_sae = ["--steps", "5", "--d-in", "128", "--expansions", "0.5,4"] if args.quick else ["--steps", "40"]
    sae = suite.run("bench_sae_fit", ["benchmarks/bench_sae_fit.py", *tiny_sae])
    print("\n== training, per family (bench-sized simulation, fold 0) ==")
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    for title, text in (("submission.py speed", submission), ("SAE fit speed", sae)):
        print(f"\n== {title} ==")
        print(text.strip() if text else "(skipped)")
    if suite.skipped:
        print(f"\nskipped for the budget: {', '.join(suite.skipped)}")


if __name__ == "__main__":
    main()
