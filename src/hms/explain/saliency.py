"""Attributions on a model family's inputs with captum: integrated gradients for a class (from the blank input, the
value a missing modality gets), and gradient saliency of a single SAE feature through the embedding. The family's
view (``hms.families.views``) lays the maps out and says where their mass lies (which view, chain, band, when);
:func:`summarize` puts that in words."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import IntegratedGradients, Saliency
from tqdm.auto import tqdm

from hms.constants import CLASSES
from hms.families import InputView, ModelFamily
from hms.signal.bands import BANDS
from hms.signal.config import FrontEndConfig

BLANK = -1.0  # the image value of a missing modality: the "no signal" baseline


def explained_view(family: ModelFamily) -> InputView:
    """The family's view of its inputs; a family without one cannot be explained (``ValueError`` saying so)."""
    if family.view is None:
        raise ValueError(
            f"model family {family.name!r} declares no input view (ModelFamily.view): hms explain cannot "
            "draw its inputs; give the family an hms.families.views.InputView"
        )
    return family.view


def class_attribution(
    model, images: torch.Tensor, class_index: int, steps: int = 8, blank: float = BLANK
) -> torch.Tensor:
    """Integrated gradients of log p(class) w.r.t. the inputs, baseline the blank input: same shape as the inputs."""
    model.eval()
    ig = IntegratedGradients(lambda x: model(x)["logits"].log_softmax(-1))
    x = images.detach().clone().float().requires_grad_(True)
    return ig.attribute(x, baselines=torch.full_like(x, blank), target=class_index, n_steps=steps).detach()


def feature_attribution(model, sae, images: torch.Tensor, feature: int) -> torch.Tensor:
    """|d z_feature / d image| (captum Saliency) through the CNN embedding and the SAE encoder: (n, C, H, W)."""
    model.eval()

    def code(x: torch.Tensor) -> torch.Tensor:
        return sae.encode(sae.standardize(model(x)["embedding"]))[:, feature]

    return Saliency(code).attribute(images.detach().clone().float().requires_grad_(True), abs=True).detach()


def confident(targets: np.ndarray, c: int, n: int, threshold: float = 0.5) -> np.ndarray:
    """Indices of up to ``n`` rows whose vote share for class c is at least ``threshold``, most confident first."""
    idx = np.flatnonzero(targets[:, c] >= threshold)
    return idx[np.argsort(-targets[idx, c], kind="stable")][:n]


def class_maps(
    model,
    images: torch.Tensor,
    targets: np.ndarray,
    family: ModelFamily,
    cfg: FrontEndConfig,
    n: int = 8,
    steps: int = 8,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Integrated-gradient maps per class (laid out by the family's view, from its blank input), averaged over that
    class's confident samples, and
    ``seizure_vs_rest``: the seizure attribution on seizure samples minus that on samples with under 10 % seizure
    votes. Classes without confident samples are left out."""
    view, blank = explained_view(family), family.blank_value
    maps: dict[str, np.ndarray] = {}
    for c, name in enumerate(tqdm(CLASSES, desc="saliency", unit="class", disable=not progress, leave=False)):
        idx = confident(targets, c, n)
        if len(idx):
            maps[name] = view.mean_map(class_attribution(model, images[idx], c, steps, blank), cfg)
    rest = np.flatnonzero(targets[:, 0] < 0.1)[:n]
    if "seizure" in maps and len(rest):
        rest_map = view.mean_map(class_attribution(model, images[rest], 0, steps, blank), cfg)
        maps["seizure_vs_rest"] = maps["seizure"] - rest_map
    return maps


def summarize(p: dict) -> str:
    """Plain words from a profile, e.g. 'EEG view 71 %, LL+LP chains, delta2 2-4 Hz, central 20 s'."""
    chains = sorted(p["chains"], key=p["chains"].get, reverse=True)
    left = p["chains"]["LL"] + p["chains"]["LP"]
    side = "left chains" if left > 0.6 else "right chains" if left < 0.4 else "both sides"
    band = max(p["bands"], key=p["bands"].get)
    lo, hi = BANDS[band]
    time = np.asarray(p["time"])
    centre = time[len(time) * 3 // 10 : len(time) * 7 // 10].sum()
    extent = "central 20 s" if centre > 0.6 else "whole window"
    return (
        f"EEG view {100 * p['views'].get('eeg', 0):.0f} %, {side} (most: {chains[0]}), {band} {lo:g}-{hi:g} Hz "
        f"({100 * p['bands'][band]:.0f} %), {extent}"
    )
