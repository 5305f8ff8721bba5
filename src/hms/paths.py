"""Where things live: the data root is resolved in exactly one place."""

from __future__ import annotations

import os
from pathlib import Path

from hms.constants import KAGGLE_DATA_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]
#: the small simulated competition committed with the repo
SAMPLE_DATA_DIR = REPO_ROOT / "sample_data"
FILES_DIR = REPO_ROOT / "files"


def files_dir() -> Path:
    """Where leaderboard and reports go: ``$HMS_FILES_DIR`` if set (tests, CI), else ``files/``."""
    return Path(os.environ.get("HMS_FILES_DIR", FILES_DIR))


MODELS_DIR = REPO_ROOT / "models"
#: the real competition sample shipped beside the checkout (tests only; never committed)
SHARED_SAMPLE_DIR = REPO_ROOT.parent / "shared" / "hms_sample"


def resolve_data_root(data: str | os.PathLike[str] | None = None) -> Path:
    """``--data DIR`` if given, else the Kaggle input folder when it exists, else the embedded ``sample_data/``."""
    if data is not None:
        root = Path(data).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"data folder {root} does not exist: pass --data with a folder holding train.csv/test.csv "
                f"(a simulated one: python -m hms synth --out {root})"
            )
        return root
    kaggle = Path(KAGGLE_DATA_DIR)
    if kaggle.is_dir():
        return kaggle
    return SAMPLE_DATA_DIR
