"""Does a second model family add information the first lacks? On one simulated dataset and the same patient-grouped
folds: the spectrogram-image CNN, the raw-EEG model, their equal-weight and fitted blends (nested CV) and the
band-power LightGBM, out of fold, on all eeg_ids and on the golden ones, with the share of the gap left between the
class prior and the Bayes floor.

    python benchmarks/bench_families.py --data data/bench --cnn bench --raw raw_bench [--train-missing]

With --train-missing it first trains what is absent (configs/bench.yaml as the CNN, configs/raw_quick.yaml as the
raw-EEG model, the band-power baseline on the CNN's folds). The raw-EEG model must use the CNN's folds: same n_folds
and seed over the same train.csv (checked)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from hms import leaderboard
from hms.blend.fit import experiment_oofs, run_blend
from hms.data import Competition, eeg_level
from hms.evaluation import simulated_references
from hms.experiment import ExperimentDir

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> float:
    """Run ``python -m hms ...``; returns its minutes."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hms", *args], check=True, cwd=ROOT)
    return (time.perf_counter() - t0) / 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/bench")
    ap.add_argument("--cnn", default="bench", help="the spectrogram-CNN experiment")
    ap.add_argument("--raw", default="raw_bench", help="the raw-EEG experiment")
    ap.add_argument("--bandpower", default="models/bandpower_bench", help="the band-power baseline's folder")
    ap.add_argument("--models-root", default="models")
    ap.add_argument("--out", default="files/blend/bench")
    ap.add_argument("--train-missing", action="store_true", help="train the experiments that are absent first")
    args = ap.parse_args()
    cnn, raw = ExperimentDir.named(args.cnn, args.models_root), ExperimentDir.named(args.raw, args.models_root)
    minutes: dict[str, float] = {}
    if args.train_missing:
        if not cnn.oof_parquet.is_file():
            minutes[cnn.name] = _run(
                ["train", "--config", "configs/bench.yaml", "--data", args.data, "--set", f"name={cnn.name}"]
            )
        if not raw.oof_parquet.is_file():
            minutes[raw.name] = _run(
                ["train", "--config", "configs/raw_quick.yaml", "--data", args.data, "--set", f"name={raw.name}"]
            )
        if not (Path(args.bandpower) / "oof.parquet").is_file():
            minutes["bandpower"] = _run(
                ["bandpower", "--data", args.data, "--folds", str(cnn.folds_csv), "--out", args.bandpower]
            )
    if (
        not cnn.read_folds()
        .sort_values("eeg_id")
        .reset_index(drop=True)
        .equals(raw.read_folds().sort_values("eeg_id").reset_index(drop=True))
    ):
        raise SystemExit(f"{cnn.folds_csv} and {raw.folds_csv} differ: train both with the same n_folds and seed")
    comp = Competition.from_arg(args.data)
    eegs = eeg_level(comp.train())
    golden = eegs[eegs["golden"]]
    refs = simulated_references(comp.root, golden)
    floor, prior = refs.get("bayes_floor", float("nan")), refs.get("class_prior_kl", float("nan"))
    gap = lambda kl: (kl - floor) / (prior - floor)  # noqa: E731
    rows = []
    for name, folder in ((cnn.name, cnn.root), (raw.name, raw.root), ("bandpower", Path(args.bandpower))):
        scores = pd.read_csv(ExperimentDir(folder).scores_csv).set_index("part").loc["oof"]
        if name not in minutes:  # trained earlier: the minutes its leaderboard row recorded
            board = leaderboard.show()
            folder_name = Path(folder).name
            run = (
                name
                if name != "bandpower"
                else folder_name
                if folder_name.startswith("bandpower")
                else f"bandpower_{folder_name}"
            )
            mine = board[board["experiment"] == run]
            minutes[name] = float(mine["train_minutes"].iloc[-1]) if len(mine) else float("nan")
        rows.append(
            {
                "model": name,
                "oof_kl_all": scores["kl_all"],
                "oof_kl_golden": scores["kl_golden"],
                "gap_left": gap(scores["kl_golden"]),
                "minutes": minutes[name],
            }
        )
    out = Path(args.out)
    solution, oofs, train = experiment_oofs([cnn.name, raw.name], args.data, out, args.models_root)
    golden_blend, _ = run_blend(solution, oofs, train, 10, out)
    all_blend, _ = run_blend(solution, oofs, train, 0, out / "all_rows")
    g, a = golden_blend.scores, all_blend.scores
    rows.append(
        {
            "model": "equal-weight blend",
            "oof_kl_all": a["equal_weights"],
            "oof_kl_golden": g["equal_weights"],
            "gap_left": gap(g["equal_weights"]),
        }
    )
    rows.append(
        {
            "model": "fitted blend (nested CV)",
            "oof_kl_all": a["blend"],
            "oof_kl_golden": g["blend"],
            "gap_left": gap(g["blend"]),
        }
    )
    table = pd.DataFrame(rows)
    print(f"{args.data}: {len(eegs)} eeg_ids, {len(golden)} golden; Bayes floor {floor:.4f}, class prior {prior:.4f}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    weights = ", ".join(f"{n} {w:.3f}" for n, w in zip(golden_blend.names, golden_blend.weights, strict=True))
    print(f"fitted weights (golden rows): {weights}; in-sample {g['blend_in_sample']:.4f}; blend files in {out}")
    best = min(rows[:2], key=lambda r: r["oof_kl_golden"])
    print(
        f"blend={g['blend']:.4f} equal_weights={g['equal_weights']:.4f} best_single={best['oof_kl_golden']:.4f} "
        f"({best['model']})"
    )


if __name__ == "__main__":
    main()
