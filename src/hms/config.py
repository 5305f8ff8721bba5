"""The one config mechanism: YAML files over typed dataclass defaults, ``--set key.sub=value`` overrides, nested
dataclasses, unknown keys rejected with the list of known ones.

Every settings class of the repo (experiment, front-end, SAE, CLIP) is read through :func:`build`. A dataclass may
define ``config_types(values) -> {field: class}`` to choose the class of a nested field from the values themselves
(the model section of an experiment depends on its model family)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import yaml

from hms.io import atomic_write

T = TypeVar("T")


def parse_overrides(overrides: list[str] | None, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply ``key.sub=value`` items (values parsed as YAML scalars/lists) onto a nested dict; returns it."""
    values = {} if values is None else values
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected key=value, e.g. train.epochs_stage1=2")
        *parents, leaf = key.strip().split(".")
        node = values
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set {item!r}: {part} is a value, not a section")
            node = child
        node[leaf] = yaml.safe_load(raw)
    return values


def read_yaml(path: str | os.PathLike[str], section: str | None = None) -> dict[str, Any]:
    """A YAML mapping (empty file: {}); with ``section``, that sub-mapping when the file has one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config not found; see configs/ for examples")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
    if section is not None and isinstance(values.get(section), dict):
        values = values[section]
    return values


def _field_classes(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    hints = get_type_hints(cls)
    classes = {f.name: hints.get(f.name) for f in dataclasses.fields(cls)}
    chooser = getattr(cls, "config_types", None)
    if chooser is not None:
        classes |= chooser(values)
    return classes


def build(cls: type[T], values: dict[str, Any] | None, where: str = "config") -> T:
    """An instance of dataclass ``cls`` from a nested dict: lists become tuples where the default is a tuple,
    nested dataclass fields are built recursively, unknown keys raise ``ValueError`` naming ``where``."""
    values = dict(values or {})
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    classes = _field_classes(cls, values)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        sub = classes.get(key)
        if isinstance(sub, type) and dataclasses.is_dataclass(sub):
            if dataclasses.is_dataclass(value):
                value = to_dict(value)
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key} must be a mapping of settings, got {value!r}")
            kwargs[key] = build(sub, value, f"{where}.{key}")
        else:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    for key, sub in classes.items():  # a nested section the values leave out follows the chosen class
        if key not in kwargs and isinstance(sub, type) and dataclasses.is_dataclass(sub):
            default = next(f for f in dataclasses.fields(cls) if f.name == key)
            if default.default_factory is dataclasses.MISSING or not isinstance(default.default_factory(), sub):
                kwargs[key] = sub()
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def load(cls: type[T], path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None,
         section: str | None = None, defaults: dict[str, Any] | None = None) -> T:  # fmt: skip
    """``defaults`` < YAML ``path`` (optionally its ``section``) < ``--set`` overrides, built into ``cls``."""
    values: dict[str, Any] = dict(defaults or {})
    if path is not None:
        values |= read_yaml(path, section)
    parse_overrides(overrides, values)
    return build(cls, values, str(path) if path is not None else cls.__name__)


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain nested dicts (tuples stay tuples; YAML/JSON writers turn them into lists)."""
    return dataclasses.asdict(obj)


def save_yaml(obj: Any, path: str | os.PathLike[str]) -> Path:
    values = to_dict(obj) if dataclasses.is_dataclass(obj) else obj
    return atomic_write(path, lambda p: p.write_text(yaml.safe_dump(_plain(values), sort_keys=False)))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
