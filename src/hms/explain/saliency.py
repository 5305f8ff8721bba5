"""Attributions on a model family's inputs with captum: integrated gradients for a class (from the blank input, the
value a missing modality gets), and gradient saliency of a single SAE feature through the embedding. Inputs are
stacked spectrogram images (n, C, H, W) or bipolar waveforms (n, 16, time). Summaries say where the attribution mass
lies: which view (organizer / EEG), which chain, which frequency band, when."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import IntegratedGradients, Saliency
from tqdm.auto import tqdm

from hms.constants import CHAIN_NAMES, CLASSES, SPEC_FREQS
from hms.signal.bands import BANDS
from hms.signal.config import FrontEndConfig
from hms.signal.image import image_to_panels, n_views
from hms.signal.spectrogram import frequency_axis

BLANK = -1.0  # the image value of a missing modality: the "no signal" baseline


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


def mean_panels(attr: torch.Tensor, cfg: FrontEndConfig) -> np.ndarray:
    """Mean (signed) attribution over samples: (views, 4, H, W) panels for images, (16, time) for waveforms."""
    if attr.ndim == 3:
        return attr.mean(0).numpy()
    return image_to_panels(attr.mean(0), cfg.layout, n_views(cfg)).numpy()


def confident(targets: np.ndarray, c: int, n: int, threshold: float = 0.5) -> np.ndarray:
    """Indices of up to ``n`` rows whose vote share for class c is at least ``threshold``, most confident first."""
    idx = np.flatnonzero(targets[:, c] >= threshold)
    return idx[np.argsort(-targets[idx, c], kind="stable")][:n]


def class_maps(
    model,
    images: torch.Tensor,
    targets: np.ndarray,
    cfg: FrontEndConfig,
    n: int = 8,
    steps: int = 8,
    progress: bool = True,
    blank: float = BLANK,
) -> dict[str, np.ndarray]:
    """Integrated-gradient panels per class, averaged over that class's confident samples, and
    ``seizure_vs_rest``: the seizure attribution on seizure samples minus that on samples with under 10 % seizure
    votes. Classes without confident samples are left out."""
    maps: dict[str, np.ndarray] = {}
    for c, name in enumerate(tqdm(CLASSES, desc="saliency", unit="class", disable=not progress, leave=False)):
        idx = confident(targets, c, n)
        if len(idx):
            maps[name] = mean_panels(class_attribution(model, images[idx], c, steps, blank), cfg)
    rest = np.flatnonzero(targets[:, 0] < 0.1)[:n]
    if "seizure" in maps and len(rest):
        rest_map = mean_panels(class_attribution(model, images[rest], 0, steps, blank), cfg)
        maps["seizure_vs_rest"] = maps["seizure"] - rest_map
    return maps


def row_frequencies(cfg: FrontEndConfig, view: int) -> np.ndarray:
    """Frequency (Hz) of each image row of a panel of ``view`` (0 organizer, 1 EEG 50 s, 2 EEG zoom), top to bottom."""
    freqs = np.asarray(SPEC_FREQS) if view == 0 else frequency_axis(cfg, zoom=view == 2)
    rows = np.interp(np.linspace(0, 1, cfg.panel_height), np.linspace(0, 1, len(freqs)), freqs)
    return rows[::-1]  # panels are flipped: low frequencies at the bottom


def profile(attr: torch.Tensor, cfg: FrontEndConfig) -> dict:
    """Shares of |attribution| by view and by chain, its per-Hz density by band (normalised to sum 1), and its time
    profile, all on the EEG 50 s view except the view shares. Waveforms: chain shares, the band shares of the
    attribution's own spectrum and its time profile."""
    if attr.ndim == 3:
        return _waveform_profile(attr, cfg)
    panels = image_to_panels(attr.abs().mean(0), cfg.layout, n_views(cfg)).numpy()  # (views, 4, H, W)
    total = max(float(panels.sum()), 1e-12)
    eeg = panels[1]
    freqs = row_frequencies(cfg, 1)
    # per-Hz density: mean over the band's image rows (wide bands would win a plain sum)
    in_band = {b: (freqs >= lo) & (freqs < hi) for b, (lo, hi) in BANDS.items()}
    band_mass = {b: float(eeg[:, m].sum(axis=(0, 2)).mean()) if m.any() else 0.0 for b, m in in_band.items()}
    eeg_total = max(sum(band_mass.values()), 1e-12)
    chain_mass = eeg.sum(axis=(1, 2))
    return {
        "views": {
            name: float(panels[v].sum() / total)
            for v, name in enumerate(("organizer", "eeg", "eeg_zoom")[: panels.shape[0]])
        },
        "chains": {c: float(m / max(chain_mass.sum(), 1e-12)) for c, m in zip(CHAIN_NAMES, chain_mass, strict=True)},
        "bands": {b: m / eeg_total for b, m in band_mass.items()},
        "time": (eeg.sum(axis=(0, 1)) / max(float(eeg.sum()), 1e-12)).tolist(),
    }


def _waveform_profile(attr: torch.Tensor, cfg: FrontEndConfig) -> dict:
    mag = attr.abs().mean(0).numpy()  # (16, time)
    chain_mass = mag.reshape(4, 4, -1).sum(axis=(1, 2))
    spectrum = (np.abs(np.fft.rfft(attr.numpy(), axis=-1)) ** 2).mean(axis=(0, 1))
    freqs = np.fft.rfftfreq(attr.shape[-1], 1 / cfg.sample_rate)
    in_band = {b: (freqs >= lo) & (freqs < hi) for b, (lo, hi) in BANDS.items()}
    band_mass = {b: float(spectrum[m].mean()) if m.any() else 0.0 for b, m in in_band.items()}
    band_total = max(sum(band_mass.values()), 1e-12)
    return {
        "views": {"eeg": 1.0},
        "chains": {c: float(m / max(chain_mass.sum(), 1e-12)) for c, m in zip(CHAIN_NAMES, chain_mass, strict=True)},
        "bands": {b: m / band_total for b, m in band_mass.items()},
        "time": (mag.sum(axis=0) / max(float(mag.sum()), 1e-12)).tolist(),
    }


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
