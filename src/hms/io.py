"""The one writer of files, and the checked reader of small JSON files.

Writing: a killed process never leaves a partial file behind (a temporary file next to the target, renamed onto it
in one step), a symbolic link is followed to the file it points to (the link stays a link), anything that is not a
regular file or a new path (a folder, a device such as ``/dev/stdout``, a pipe) is refused, and every OS error (disk
full, permission) names the path. :func:`check_output` runs the same checks before any long work and also refuses an
output that is one of the run's inputs."""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from hms.errors import DataError, OutputError


def output_target(path: str | os.PathLike[str], what: str = "output") -> Path:
    """The file a write to ``path`` replaces: links followed to their target; refused (``OutputError``): a folder,
    or anything that exists and is not a regular file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: the {what} path is a folder; give a file name, e.g. {path / 'out.csv'}")
    if path.exists() and not path.is_file():
        mode = path.stat().st_mode
        kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a pipe or socket"
        raise OutputError(f"{path}: the {what} path is {kind}, not a regular file; give the path of a file to write")
    return Path(os.path.realpath(path))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(
    path: str | os.PathLike[str], what: str = "output", inputs: Iterable[str | os.PathLike[str]] = ()
) -> Path:
    """Fail early (before any long work) when ``path`` must not or cannot be written: a folder, a device, one of the
    run's ``inputs`` (files, or folders whose files it reads), a missing or read-only parent folder, a read-only file.
    Raises ``OutputError`` or ``OSError`` with the path and the fix; returns the target (links followed)."""
    path = Path(path)
    target = output_target(path, what)
    for item in inputs:
        source = Path(os.path.realpath(item))
        same = target.exists() and source.exists() and os.path.samefile(target, source)
        if same or (source.is_dir() and _inside(target, source)):
            where = "is" if same or target == source else "lies in"
            raise OutputError(
                f"{path}: the {what} {where} one of this run's inputs ({item}); writing it would destroy that "
                "input: choose another path, e.g. submission.csv in the working folder"
            )
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"{path}: the {what}'s folder {parent} does not exist; create it or choose another")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{path}: the {what}'s folder {parent} is not writable; choose a writable folder "
            "(on Kaggle: /kaggle/working)"
        )
    if target.exists() and not os.access(target, os.W_OK):
        raise PermissionError(f"{path}: the existing {what} file is read-only; remove it or choose another name")
    return target


class WriteError(OSError):
    """Writing a file failed (disk full, permission): the message names the file."""


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to the target of ``path`` (links followed); on success it is renamed onto the
    target in one step, with the mode the replaced file had (a new file: the mode a plain ``open`` would give, 0666
    less the umask). An OS error names ``path``; the old file is then left as it was."""
    target = output_target(path)
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, target.stat().st_mode & 0o7777 if target.is_file() else 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except WriteError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"{path}: could not be written ({reason}); the previous file, if any, is unchanged: free disk space "
        raise WriteError(exc.errno, message + "or choose another path") from exc
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    return atomic_write(path, lambda p: df.to_csv(p, index=False, **kwargs))


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str], **kwargs: Any) -> Path:
    return atomic_write(path, lambda p: df.to_parquet(p, index=False, **kwargs))


def write_json(obj: Any, path: str | os.PathLike[str], indent: int = 2) -> Path:
    return write_text(json.dumps(obj, indent=indent, sort_keys=True) + "\n", path)


#: a small JSON file (a sidecar, prior.json, blend.json) larger than this is not one
MAX_JSON_BYTES = 16 * 2**20


def read_json(path: str | os.PathLike[str], what: str, fix: str) -> dict[str, Any]:
    """A small JSON file holding a mapping; ``DataError`` naming the file, what it is and ``fix`` when it is missing,
    truncated, not JSON, too large or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing ({what}); {fix}")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise DataError(f"{path}: {what} is {path.stat().st_size:,} bytes, not a small JSON file; {fix}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise DataError(f"{path}: {what} is not valid JSON (truncated or edited? {exc}); {fix}") from exc
    if not isinstance(value, dict):
        raise DataError(f"{path}: {what} must hold a JSON object, got {type(value).__name__}; {fix}")
    return value


def finite_numbers(values: Any, n: int | None, path: str | os.PathLike[str], field: str, fix: str) -> list[float]:
    """``values`` as a list of finite floats (``n`` of them when given), else ``DataError`` naming file and field."""
    ok = isinstance(values, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not ok or (n is not None and len(values) != n):
        size = f"{n} " if n is not None else ""
        raise DataError(f"{path}: {field} must be a list of {size}numbers, got {values!r:.200}; {fix}")
    if not all(math.isfinite(v) for v in values):
        raise DataError(f"{path}: {field} holds NaN or infinite values ({values}); {fix}")
    return [float(v) for v in values]
