"""The model-family registry, in the manner of timm's ``register_model``: a family is a class decorated with
:func:`register_family`; experiments name it in their config (``family: spectrogram_cnn``) and fold sidecars record
it, so training, OOF, embeddings, the stacker, explanations and ``submission.py`` find it by name."""

from __future__ import annotations

from hms.families.base import ModelFamily

DEFAULT_FAMILY = "spectrogram_cnn"  # what fold sidecars written before families existed were trained with
_FAMILIES: dict[str, ModelFamily] = {}


def register_family(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: register one instance of ``cls`` under ``cls.name`` (a second class of that name replaces
    the first, so a notebook can redefine a family)."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__name__}: a model family needs a non-empty class attribute 'name'")
    _FAMILIES[cls.name] = cls()
    return cls


def get_family(name: str | None) -> ModelFamily:
    """The registered family ``name`` (None: the default family)."""
    name = name or DEFAULT_FAMILY
    if name not in _FAMILIES:
        raise ValueError(
            f"unknown model family {name!r}; registered: {sorted(_FAMILIES)} "
            "(a new family is a module with a @register_family class, imported before use)"
        )
    return _FAMILIES[name]


def list_families() -> list[str]:
    return sorted(_FAMILIES)
