"""The one config mechanism: YAML files over typed dataclass defaults, ``--set key.sub=value`` overrides, nested
dataclasses, unknown keys rejected with the list of known ones, every value checked against its field's type when it
is read (the error names the key and the type expected).

YAML is read with a bounded loader: plain values only (tags such as ``!!python/object`` are refused), at most
``MAX_YAML_BYTES`` of text and ``MAX_YAML_NODES`` values once aliases are expanded (an "alias bomb" is refused in
microseconds instead of hanging), no recursive aliases.

Every settings class of the repo (experiment, front-end, SAE, CLIP) is read through :func:`build`. A dataclass may
define ``config_types(values) -> {field: class}`` to choose the class of a nested field from the values themselves
(the model section of an experiment depends on its model family)."""

from __future__ import annotations

import dataclasses
import os
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from hms.io import atomic_write

T = TypeVar("T")

MAX_YAML_BYTES = 1 << 20
MAX_YAML_NODES = 100_000
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "seq", "map")}


def _check_nodes(root: yaml.Node, where: str) -> None:
    """Refuse tags other than plain values, recursive aliases, and more than ``MAX_YAML_NODES`` expanded values."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ValueError(f"{where}: a recursive YAML alias; configs hold plain values only")
        if node.tag not in _PLAIN_TAGS:
            line = node.start_mark.line + 1
            raise ValueError(
                f"{where}: the YAML tag {node.tag!r} (line {line}) is refused: configs hold plain values only "
                "(numbers, text, true/false, null, lists, mappings)"
            )
        open_nodes.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_YAML_NODES:
                raise ValueError(
                    f"{where}: more than {MAX_YAML_NODES:,} values once YAML aliases are expanded; a config is a few "
                    "hundred values (an alias bomb?)"
                )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


def parse_yaml(text: str, where: str) -> Any:
    """Plain YAML values from ``text`` with the bounded loader; ``ValueError`` naming ``where`` otherwise."""
    if len(text) > MAX_YAML_BYTES:
        raise ValueError(
            f"{where}: {len(text):,} characters of YAML; a config is a few KB (at most {MAX_YAML_BYTES:,})"
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_nodes(node, where)
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from exc
    except RecursionError as exc:
        raise ValueError(f"{where}: YAML nested too deeply for a config") from exc


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
        node[leaf] = parse_yaml(raw, f"--set {item}")
    return values


def read_yaml(path: str | os.PathLike[str], section: str | None = None) -> dict[str, Any]:
    """A YAML mapping (empty file: {}); with ``section``, that sub-mapping when the file has one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config not found; see configs/ for examples")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file ({exc}); a config is a YAML file") from exc
    values = parse_yaml(text, str(path)) or {}
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
                raise ValueError(f"{f'{where}.{key}'} must be a mapping of settings, got {value!r}")
            kwargs[key] = build(sub, value, f"{where}.{key}")
        else:
            value = check_value(value, sub, f"{where}.{key}")
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


_NAMES = {
    bool: ("true/false", "true/false values"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("text", "texts"),
    type(None): ("null", "nulls"),
}


def _describe(hint: Any, plural: bool = False) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a, plural) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        if origin is list or len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_describe(args[0], plural=True)}"
        return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
    if hint in _NAMES:
        return _NAMES[hint][plural]
    return getattr(hint, "__name__", str(hint))


def check_value(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it is of type ``hint`` (int, float, bool, str, Literal, unions with None, tuples and lists of
    those; an integer is a number; text such as "1e-3" for a number is read as one), else ``ValueError`` naming
    ``where`` and the type expected. Other hints (Any, classes) pass the value through."""
    origin, args = get_origin(hint), get_args(hint)
    bad = ValueError(f"{where}: expected {_describe(hint)}, got {value!r:.80}")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return check_value(value, arg, where)
            except ValueError:
                continue
        raise bad
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise bad
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise bad
        variable = origin is list or len(args) == 2 and args[1] is Ellipsis
        if not variable and len(value) != len(args):
            raise bad
        kinds = [args[0]] * len(value) if variable else list(args)
        items = [check_value(v, a, where) for v, a in zip(value, kinds, strict=True)]
        return type(value)(items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad
    return value


def load(
    cls: type[T],
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    section: str | None = None,
    defaults: dict[str, Any] | None = None,
) -> T:
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
