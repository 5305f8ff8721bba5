#!/usr/bin/env python
"""Write submission.csv for the competition's test set.

    python submission.py [--data DIR] [--experiment-dir models/NAME ...] [--blend blend.json] [--out submission.csv]

The data root resolves as everywhere in the repo: --data, else the Kaggle input folder, else sample_data/.
--experiment-dir (old spelling: --models) is one experiment folder, models/<experiment>: its fold*.safetensors
(+ .json sidecars naming the model family) from `python -m hms train` run with the front-end they were trained with,
averaged over folds (with hemisphere-swap TTA unless --no-tta); when the experiment has a stack (`python -m hms
stack`), each fold's model -> SAE -> LightGBM chain is used with the feature set of stack/best.json (--stack NAME
picks another, --stack cnn the fold models alone); a folder holding only prior.json (`python -m hms baseline`)
predicts the class prior. Give --experiment-dir several times to blend experiments of any families: with the
weights and class biases of --blend (from `python -m hms blend`), else with equal weights. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # runs from a Kaggle dataset copy too

import numpy as np  # noqa: E402

from hms.blend.model import Blend  # noqa: E402
from hms.constants import VOTE_COLS  # noqa: E402
from hms.data import Competition, DataError  # noqa: E402
from hms.errors import HmsError  # noqa: E402
from hms.experiment import ExperimentDir  # noqa: E402
from hms.infer import check_experiment, predict_test  # noqa: E402
from hms.io import check_output  # noqa: E402
from hms.paths import MODELS_DIR  # noqa: E402
from hms.predict import ModelOutputError  # noqa: E402
from hms.submit import SubmissionError, make_submission, write_submission  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None)
    parser.add_argument(
        "--experiment-dir",
        "--models",
        dest="experiment_dir",
        action="append",
        help="an experiment folder, models/<experiment> (default: quick under the work dir's models/); repeat to blend",
    )
    parser.add_argument("--blend", default=None, help="blend.json of python -m hms blend (default: equal weights)")
    parser.add_argument("--no-tta", action="store_true", help="skip the hemisphere-swap test-time augmentation")
    parser.add_argument(
        "--stack",
        default=None,
        metavar="FEATURE_SET",
        help="stacker feature set (default: the experiment's stack/best.json; 'cnn' = CNN alone)",
    )
    parser.add_argument("--out", default="submission.csv")
    args = parser.parse_args(argv)
    try:
        comp = Competition.from_arg(args.data)
        exps = [ExperimentDir(Path(d)) for d in args.experiment_dir or [MODELS_DIR / "quick"]]
        inputs = [*comp.input_paths("test"), *(e.root for e in exps), *([args.blend] if args.blend else [])]
        check_output(args.out, "submission", inputs)  # before any work: a bad --out must not waste a hidden-test run
        test, sample = comp.test(), comp.sample_submission()
        names = [e.name for e in exps]
        if len(set(names)) < len(names):
            raise DataError(f"experiment folders must have distinct names to be blended, got {names}")
        blend = Blend.load(args.blend) if args.blend else Blend.equal(names)
        order = blend.ordered(names, args.blend or "the equal-weight blend")  # checked before any work
        for exp in exps:  # every folder checked whole before any inference
            print(check_experiment(exp, args.stack))
        per_experiment = []
        for exp in exps:
            if exp.folds_with_weights():
                pred = predict_test(comp, exp, tta_swap=not args.no_tta, feature_set=args.stack)
                per_experiment.append(pred[list(VOTE_COLS)].to_numpy())
            else:
                per_experiment.append(np.tile(exp.read_prior(), (len(test), 1)))
        probs = per_experiment[0] if len(exps) == 1 else blend.apply([per_experiment[i] for i in order])
        sub = make_submission(test["eeg_id"].to_numpy(), probs)
        write_submission(sub, test, args.out, sample)
    except (HmsError, SubmissionError, OSError, ModelOutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    how = (
        f" ({'blend ' + args.blend if args.blend else 'equal-weight blend'} of {', '.join(names)})"
        if len(names) > 1
        else ""
    )
    print(f"wrote {args.out}: {len(sub)} rows from {comp.root}{how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
