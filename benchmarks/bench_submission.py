"""Seconds per test EEG of submission.py's inference path, split into read / front-end / model / stack, for trained
experiments of any family, the blend of all of them, and the projected time for the hidden test set (about 2,640
eeg_ids) with 5 folds.

Stages overlap: a background thread reads and builds the next batch while the models run, so the stage seconds add
up to more than the total; "the model runs N % of the time" is model seconds over total seconds.

Reference in the same run: the same folds predicted one after another (each fold reads the files and builds the
images again, as a loop over ``predict`` per fold would). Ours reads and builds each image once for all folds.

Projection, stated assumptions: read, front-end and stack run on one core and do not speed up with more cores;
the CNN uses all cores and scales linearly from this machine's core count to 4 cores. A GPU projection is printed
only when a GPU is present here to measure the CNN on; without one the GPU line gives the CPU-bound floor
(read + front-end + stack), which a GPU does not remove.

    python benchmarks/bench_submission.py --experiment quick:data/sim --experiment bench:data/bench [--n 48]
    python benchmarks/bench_submission.py --experiment bench:data/bench --experiment raw_bench:data/bench \
        --blend files/blend/bench/blend.json
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd
import torch

from hms.blend.model import Blend
from hms.data import Competition
from hms.experiment import ExperimentDir
from hms.infer import predict_rows
from hms.stack.model import CNN_ONLY, default_feature_set

HIDDEN_TEST_EEGS = 2640
TARGET_FOLDS = 5


def test_rows(comp: Competition, n: int) -> pd.DataFrame:
    """test.csv rows cycled to ``n`` rows (timings per EEG need more than a handful)."""
    test = comp.test()
    return pd.concat([test] * (n // len(test) + 1), ignore_index=True).head(n)


def measure(comp: Competition, rows: pd.DataFrame, models: ExperimentDir, feature_set: str) -> dict[str, float]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    predict_rows(comp, rows, models, "test", feature_set=feature_set, timings=timings)
    timings["total"] = time.perf_counter() - t0
    return {k: v / len(rows) for k, v in timings.items()}


def reference(comp: Competition, rows: pd.DataFrame, models: ExperimentDir, feature_set: str) -> float:
    folds = models.folds_with_weights()
    t0 = time.perf_counter()
    for k in folds:
        predict_rows(comp, rows, models, "test", folds=[k], feature_set=feature_set)
    return (time.perf_counter() - t0) / len(rows)


def project(per_eeg: dict[str, float], n_folds: int, cores_here: int) -> tuple[float, float]:
    """(minutes on a 4-core CPU, CPU-bound floor in minutes) for the hidden test set with TARGET_FOLDS folds."""
    scale = TARGET_FOLDS / n_folds
    serial = per_eeg["read"] + per_eeg["front-end"] + per_eeg.get("stack", 0.0) * scale
    cnn_4 = per_eeg["model"] * scale * cores_here / 4
    return (serial + cnn_4) * HIDDEN_TEST_EEGS / 60, serial * HIDDEN_TEST_EEGS / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--experiment",
        action="append",
        required=True,
        metavar="NAME:DATA",
        help="models/NAME trained on DATA (its test.csv is used)",
    )
    parser.add_argument("--models-root", "--models", dest="models_root", default="models")
    parser.add_argument("--blend", default=None, help="blend.json for the blend line (default: equal weights)")
    parser.add_argument("--n", type=int, default=48, help="test rows timed per experiment (test.csv cycled)")
    args = parser.parse_args()
    cores = torch.get_num_threads()
    print(f"torch threads {cores}, cpu count {os.cpu_count()}, cuda {torch.cuda.is_available()}")
    lines = []
    for item in args.experiment:
        name, _, data = item.partition(":")
        models = ExperimentDir.named(name, args.models_root)
        comp = Competition.from_arg(data or None)
        rows = test_rows(comp, args.n)
        n_folds = len(models.folds_with_weights())
        family = models.read_sidecar(models.folds_with_weights()[0]).get("family", "spectrogram_cnn")
        # the CNN alone, the experiment's default, and the heaviest stack (CNN -> SAE -> LightGBM + band powers)
        sets = [CNN_ONLY, default_feature_set(models)]
        if models.stack_set_dir("logits_sae_hand").is_dir():
            sets.append("logits_sae_hand")
        sets = list(dict.fromkeys(sets))
        predict_rows(comp, rows.head(4), models, "test", feature_set=sets[-1])  # warm-up (first-call overheads)
        for feature_set in sets:
            ours = measure(comp, rows, models, feature_set)
            ref = reference(comp, rows, models, feature_set)
            minutes_4, floor = project(ours, n_folds, cores)
            stages = ", ".join(f"{k} {ours.get(k, 0.0):.4f}" for k in ("read", "front-end", "model", "stack"))
            print(
                f"{name} ({family}) [{feature_set}] {n_folds} folds, {len(rows)} EEGs: s/EEG {stages}, total "
                f"{ours['total']:.4f}; reference (fold by fold) {ref:.4f} -> {ref / ours['total']:.2f}x; the model "
                f"runs {100 * ours['model'] / ours['total']:.0f} % of the time (reading overlaps it)"
            )
            if torch.cuda.is_available():  # the CNN ran on the GPU: no core scaling applies
                per_fold = (ours["model"] + ours.get("stack", 0.0)) * TARGET_FOLDS / n_folds
                gpu_minutes = (ours["read"] + ours["front-end"] + per_fold) * HIDDEN_TEST_EEGS / 60
                print(f"  projection {HIDDEN_TEST_EEGS} EEGs x {TARGET_FOLDS} folds on this GPU: {gpu_minutes:.1f} min")
                minutes_4 = float("nan")
            else:
                print(
                    f"  projection {HIDDEN_TEST_EEGS} EEGs x {TARGET_FOLDS} folds: 4-core CPU {minutes_4:.1f} min; "
                    f"one GPU: not measured (no GPU here), CPU-bound floor {floor:.1f} min"
                )
            lines.append((name, feature_set, minutes_4, ref / ours["total"]))
    if len(args.experiment) > 1:  # the blend of every experiment, as submission.py runs it
        exps = [
            (ExperimentDir.named(i.partition(":")[0], args.models_root), i.partition(":")[2]) for i in args.experiment
        ]
        comp = Competition.from_arg(exps[0][1] or None)
        rows = test_rows(comp, args.n)
        blend = Blend.load(args.blend) if args.blend else Blend.equal([e.name for e, _ in exps])
        t0 = time.perf_counter()
        per = {e.name: predict_rows(Competition.from_arg(d or None), rows, e, "test")[0] for e, d in exps}
        blend.apply([per[n] for n in blend.names])
        total = (time.perf_counter() - t0) / len(rows)
        print(
            f"blend of {', '.join(blend.names)} ({'weights of ' + args.blend if args.blend else 'equal weights'}): "
            f"{total:.4f} s/EEG, {total * HIDDEN_TEST_EEGS / 60:.1f} min for {HIDDEN_TEST_EEGS} EEGs on this machine"
        )
    for name, feature_set, minutes, ratio in lines:
        verdict = "meets" if minutes < 15 else "misses"
        print(
            f"{name} [{feature_set}]: projected {minutes:.1f} min on a 4-core CPU ({verdict} the 15 min target); "
            f"{ratio:.2f}x the fold-by-fold reference"
        )


if __name__ == "__main__":
    main()
