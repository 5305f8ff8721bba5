"""Where things live: the data root is resolved in exactly one place."""

from __future__ import annotations

import os
import re
from pathlib import Path

from hms.constants import KAGGLE_DATA_DIR
from hms.errors import OutputError

REPO_ROOT = Path(__file__).resolve().parents[2]
#: the small simulated competition committed with the repo
SAMPLE_DATA_DIR = REPO_ROOT / "sample_data"
#: the only writable folder of a Kaggle session (the repo is an attached, read-only dataset there)
KAGGLE_WORKING_DIR = Path("/kaggle/working")


def work_dir() -> Path:
    """The writable root of models/, files/ and caches: ``$HMS_WORK_DIR`` if set, else ``/kaggle/working`` in a
    Kaggle session, else the repo root."""
    if os.environ.get("HMS_WORK_DIR"):
        return Path(os.environ["HMS_WORK_DIR"])
    return KAGGLE_WORKING_DIR if KAGGLE_WORKING_DIR.is_dir() else REPO_ROOT


def files_dir() -> Path:
    """Where leaderboard and reports go: ``$HMS_FILES_DIR`` if set (tests, CI), else ``files/`` of the work dir."""
    return Path(os.environ.get("HMS_FILES_DIR", work_dir() / "files"))


MODELS_DIR = work_dir() / "models"


def writable(path: str | os.PathLike[str]) -> Path:
    """A relative path (a cache folder, say) placed under the work dir; absolute paths stay as they are."""
    path = Path(path)
    return path if path.is_absolute() else work_dir() / path


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


#: experiment (and CLIP run) names: letters, digits, '_', '-', '.', no leading dot, at most 100 characters
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def check_name(name: str, what: str = "experiment name") -> str:
    """``name`` if it is a plain name (``NAME_PATTERN``), else ``OutputError``: a name never leaves its folder."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise OutputError(
            f"{what} {name!r}: use letters, digits, '_', '-' and '.' only, not starting with '.' (at most 100 "
            "characters); to keep experiments in another folder pass --models-root DIR"
        )
    return name


def under(root: str | os.PathLike[str], *parts: str) -> Path:
    """``root / parts``, refused (``OutputError``) unless it stays inside ``root`` once links are resolved."""
    base = Path(os.path.realpath(root))
    path = Path(root, *parts)
    real = Path(os.path.realpath(path))
    if real != base and base not in real.parents:
        raise OutputError(f"{path}: leaves its folder {root}; give a plain name instead of a path")
    return path
