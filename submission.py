#!/usr/bin/env python
"""Write submission.csv for the competition's test set.

    python submission.py [--data DIR] [--experiment-dir models/NAME] [--out submission.csv]

The data root resolves as everywhere in the repo: --data, else the Kaggle input folder, else sample_data/.
--experiment-dir (old spelling: --models) is one experiment folder: fold*.safetensors (+ .json sidecars naming the
model family) from `python -m hms train`, predicted with the same front-end as training, averaged over folds (with
hemisphere-swap TTA unless --no-tta); when the experiment has a stack (`python -m hms stack`), each fold's CNN -> SAE
-> LightGBM chain is used with the feature set of stack/best.json (the best out-of-fold one; --stack NAME picks
another, --stack cnn the CNN alone); a folder holding only prior.json (`python -m hms baseline`) predicts the class
prior. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # runs from a Kaggle dataset copy too

import numpy as np  # noqa: E402

from hms.constants import VOTE_COLS  # noqa: E402
from hms.data import Competition, DataError  # noqa: E402
from hms.experiment import ExperimentDir  # noqa: E402
from hms.infer import predict_test  # noqa: E402
from hms.submit import SubmissionError, make_submission, write_submission  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None)
    parser.add_argument(
        "--experiment-dir",
        "--models",
        dest="experiment_dir",
        default="models/quick",
        help="one experiment folder, models/<experiment> (default models/quick)",
    )
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
        test, sample = comp.test(), comp.sample_submission()
        exp = ExperimentDir(Path(args.experiment_dir))
        if exp.folds_with_weights():
            pred = predict_test(comp, exp, tta_swap=not args.no_tta, feature_set=args.stack)
            probs = pred[list(VOTE_COLS)].to_numpy()
        else:
            probs = np.tile(exp.read_prior(), (len(test), 1))
        sub = make_submission(test["eeg_id"].to_numpy(), probs)
        write_submission(sub, test, args.out, sample)
    except (DataError, SubmissionError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(sub)} rows from {comp.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
