"""Panels and stacked images: organizer + EEG-derived spectrograms -> the CNN input; hemisphere swap.

Panels are (..., views, chains, H, W) with low frequencies at the bottom row. Views: organizer (10 min), EEG (50 s),
and with ``zoom`` the EEG's central 10 s. Layouts:
  * ``stack8`` (default): the well-known 512x512 image, organizer chains stacked in the left column, EEG chains in
    the right; one channel.
  * ``stack12``: a third column with the zoomed central 10 s (512x768).
  * ``channels``: every panel its own channel, (views * chains, H, W).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hms.constants import EEG_CHANNELS, EEG_WINDOW_SAMPLES, LABEL_CENTRE_SECONDS, SPEC_COLUMNS, SPEC_WINDOW_ROWS
from hms.signal.config import FrontEndConfig
from hms.signal.spectrogram import chain_spectrogram, preprocess

#: chain order inside panels: LL, RL, LP, RP (+ Z); the swap exchanges left and right chains
SWAP_INDEX = (1, 0, 3, 2)
#: organizer files are rounded to 0.01, so log power is floored there
ORGANIZER_FLOOR = 1e-2


def _to_unit(log_power: torch.Tensor, log_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = log_range
    return (log_power.clamp(lo, hi) - lo) / (hi - lo) * 2.0 - 1.0


def _resize(x: torch.Tensor, cfg: FrontEndConfig) -> torch.Tensor:
    """(..., F, T) -> (..., H, W), flipped so that low frequencies sit at the bottom."""
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, x.shape[-2], x.shape[-1])
    out = F.interpolate(flat, size=(cfg.panel_height, cfg.panel_width), mode="bilinear", align_corners=False)
    return out.reshape(*lead, cfg.panel_height, cfg.panel_width).flip(-2)


def organizer_log(window: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Organizer power (..., rows, 400), NaN policy applied -> log power (..., 4 chains, 100 freqs, rows)."""
    x = torch.as_tensor(np.asarray(window, dtype=np.float32))
    x = x.reshape(*x.shape[:-1], 4, 100).movedim(-2, -3).transpose(-1, -2)
    return torch.log(x.clamp_min(ORGANIZER_FLOOR))


def organizer_panels_from_log(log_power: torch.Tensor, cfg: FrontEndConfig) -> torch.Tensor:
    """(..., 4, 100, 300) organizer log power -> (..., 4, H, W) in [-1, 1]."""
    return _resize(_to_unit(log_power.float(), cfg.organizer_log_range), cfg)


def organizer_panels(window: np.ndarray | torch.Tensor, cfg: FrontEndConfig) -> torch.Tensor:
    """Organizer window (..., 300 rows, 400) power, NaN policy applied -> (..., 4, H, W) in [-1, 1]."""
    return organizer_panels_from_log(organizer_log(window), cfg)


def eeg_log_spectrograms(eeg: np.ndarray, cfg: FrontEndConfig) -> list[torch.Tensor]:
    """Clean referential EEG window(s) (..., 10000, 20) -> [50 s view, (zoom view)] log power (..., C, F, T)."""
    pairs = preprocess(eeg, cfg)
    views = [chain_spectrogram(pairs, cfg)]
    if cfg.zoom:
        half = int(LABEL_CENTRE_SECONDS * cfg.sample_rate) // 2
        mid = pairs.shape[-1] // 2
        views.append(chain_spectrogram(pairs[..., mid - half : mid + half], cfg, zoom=True))
    return views


def eeg_panels_from_log(views: list[torch.Tensor], cfg: FrontEndConfig) -> torch.Tensor:
    """Log spectrogram views -> (..., n_views, C, H, W) in [-1, 1]."""
    return torch.stack([_resize(_to_unit(v.float(), cfg.eeg_log_range), cfg) for v in views], dim=-4)


def eeg_panels(eeg: np.ndarray, cfg: FrontEndConfig) -> torch.Tensor:
    if eeg.shape[-2] != EEG_WINDOW_SAMPLES:
        raise ValueError(f"EEG window must hold {EEG_WINDOW_SAMPLES} samples, got {eeg.shape[-2]}")
    return eeg_panels_from_log(eeg_log_spectrograms(eeg, cfg), cfg)


def stack_panels(organizer: torch.Tensor, eeg: torch.Tensor) -> torch.Tensor:
    """(..., 4, H, W) organizer and (..., V, C, H, W) EEG panels -> (..., 1 + V, 4, H, W) (first four chains)."""
    return torch.cat([organizer.unsqueeze(-4), eeg[..., :4, :, :]], dim=-4)


def panels_to_image(panels: torch.Tensor, layout: str) -> torch.Tensor:
    """(..., V, 4, H, W) panels -> the CNN image: (..., 1, 4H, V*W) for stack layouts, (..., V*4, H, W) else."""
    if layout == "channels":
        return panels.flatten(-4, -3)
    columns = panels.flatten(-3, -2)  # (..., V, 4H, W): chains stacked vertically in each view's column
    return torch.cat(columns.unbind(-3), dim=-1).unsqueeze(-3)


def image_to_panels(image: torch.Tensor, layout: str, n_views: int) -> torch.Tensor:
    """Inverse of ``panels_to_image``."""
    if layout == "channels":
        return image.unflatten(-3, (n_views, 4))
    body = image.squeeze(-3)
    height, width = body.shape[-2] // 4, body.shape[-1] // n_views
    cols = body.unflatten(-1, (n_views, width)).movedim(-2, -3)  # (..., V, 4H, W)
    return cols.unflatten(-2, (4, height))


def swap_panels(panels: torch.Tensor) -> torch.Tensor:
    """Exchange left and right chains (LL<->RL, LP<->RP) in (..., V, 4, H, W) panels."""
    return panels[..., list(SWAP_INDEX), :, :]


def swap_image(image: torch.Tensor, layout: str, n_views: int) -> torch.Tensor:
    """Hemisphere swap on a finished image (augmentation / test-time augmentation). Applied twice: identity."""
    return panels_to_image(swap_panels(image_to_panels(image, layout, n_views)), layout)


def n_views(cfg: FrontEndConfig) -> int:
    return 3 if cfg.zoom else 2


def build_image(eeg_window: np.ndarray, organizer_window: np.ndarray, cfg: FrontEndConfig) -> torch.Tensor:
    """Clean EEG window (..., 10000, 20) + clean organizer window (..., 300, 400) -> the CNN image."""
    panels = stack_panels(organizer_panels(organizer_window, cfg), eeg_panels(eeg_window, cfg))
    return panels_to_image(panels, cfg.layout)


def build_images(eegs: list[np.ndarray | None], specs: list[np.ndarray | None], cfg: FrontEndConfig) -> torch.Tensor:
    """A batch of images from clean windows; a missing window (None) becomes blank (-1) panels of its modality."""
    eeg_stack = np.stack(
        [e if e is not None else np.zeros((EEG_WINDOW_SAMPLES, len(EEG_CHANNELS)), np.float32) for e in eegs]
    )
    spec_stack = np.stack(
        [s if s is not None else np.zeros((SPEC_WINDOW_ROWS, len(SPEC_COLUMNS)), np.float32) for s in specs]
    )
    eeg_p, org_p = eeg_panels(eeg_stack, cfg), organizer_panels(spec_stack, cfg)
    for i, (e, s) in enumerate(zip(eegs, specs, strict=True)):
        if e is None:
            eeg_p[i] = -1.0
        if s is None:
            org_p[i] = -1.0
    return panels_to_image(stack_panels(org_p, eeg_p), cfg.layout)
