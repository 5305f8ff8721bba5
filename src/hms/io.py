"""Atomic writes: a killed process never leaves a partial file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path`` in one step, with the mode the
    replaced file had (a new file: the mode a plain ``open`` would give, 0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, path.stat().st_mode & 0o7777 if path.is_file() else 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Fail early (before any long work) when ``path`` cannot be written: a folder, a missing or read-only parent
    folder, a read-only file. Raises ``OSError`` with the path and the fix."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: the {what} path is a folder; give a file name, e.g. {path / 'out.csv'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"{path}: the {what}'s folder {parent} does not exist; create it or choose another")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: the {what}'s folder {parent} is not writable; choose a writable folder "
                              "(on Kaggle: /kaggle/working)")  # fmt: skip
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{path}: the existing {what} file is read-only; remove it or choose another name")
    return path


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    return atomic_write(path, lambda p: df.to_csv(p, index=False, **kwargs))


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    return atomic_write(path, lambda p: df.to_parquet(p, index=False, **kwargs))


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))
