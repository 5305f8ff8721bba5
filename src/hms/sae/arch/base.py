"""What an SAE architecture is (:class:`Architecture`) and its registry."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

_ARCHITECTURES: dict[str, Architecture] = {}


class Architecture:
    """How latents fire (``activate``) and what keeps them sparse (``penalty``); ``cfg`` is the SAE's config."""

    name: ClassVar[str] = ""
    uses_k: ClassVar[bool] = False  # the config's k counts active latents per sample (TopK-like)
    uses_aux: ClassVar[bool] = False  # AuxK on dead latents (TopK-like)
    fire_above: ClassVar[float] = 0.0  # a code counts as firing above this (L0, density)

    def activate(self, pre: torch.Tensor, cfg: Any, state: dict[str, torch.Tensor], training: bool) -> torch.Tensor:
        """Pre-activations (n, d_sae) -> codes; ``state`` holds the architecture's buffers (e.g. a threshold)."""
        raise NotImplementedError

    def penalty(self, z: torch.Tensor, w_dec: torch.Tensor, cfg: Any) -> torch.Tensor:
        """The sparsity term of the loss (none by default: the activation is sparse by construction)."""
        return torch.zeros((), device=z.device)

    def buffers(self, cfg: Any) -> dict[str, torch.Tensor]:
        """Extra buffers the architecture keeps in the SAE's state (saved with it)."""
        return {}


def register_architecture(cls: type[Architecture]) -> type[Architecture]:
    if not cls.name:
        raise ValueError(f"{cls.__name__}: an SAE architecture needs a non-empty 'name'")
    _ARCHITECTURES[cls.name] = cls()
    return cls


def get_architecture(name: str) -> Architecture:
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown SAE architecture {name!r}; registered: {sorted(_ARCHITECTURES)}")
    return _ARCHITECTURES[name]


def list_architectures() -> list[str]:
    return sorted(_ARCHITECTURES)
