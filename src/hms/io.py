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
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
