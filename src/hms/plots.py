"""Figures people look at: the stacked image with labelled panels and axes in s / Hz, and montage traces."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND"):  # headless by default; Jupyter sets its inline backend here
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from hms.constants import (  # noqa: E402
    CHAIN_NAMES,
    EEG_WINDOW_SECONDS,
    LABEL_CENTRE_SECONDS,
    SPEC_FREQS,
    SPEC_WINDOW_SECONDS,
)
from hms.data import Competition, DataError  # noqa: E402
from hms.io import atomic_write  # noqa: E402
from hms.signal.config import FrontEndConfig  # noqa: E402
from hms.signal.image import eeg_panels, organizer_panels, stack_panels  # noqa: E402
from hms.signal.montage import PAIR_NAMES  # noqa: E402
from hms.signal.spectrogram import frequency_axis, preprocess  # noqa: E402

VIEW_NAMES = ("organizer 10 min", "EEG 50 s", "EEG central 10 s")


def _view_extent(view: int, cfg: FrontEndConfig) -> tuple[float, float, float, float]:
    if view == 0:
        return (-SPEC_WINDOW_SECONDS / 2, SPEC_WINDOW_SECONDS / 2, SPEC_FREQS[0], SPEC_FREQS[-1])
    half = (EEG_WINDOW_SECONDS if view == 1 else LABEL_CENTRE_SECONDS) / 2
    freqs = frequency_axis(cfg, zoom=view == 2)
    return (-half, half, float(freqs[0]), float(freqs[-1]))


def plot_panels(
    panels: torch.Tensor | np.ndarray,
    cfg: FrontEndConfig,
    title: str = "",
    cmap: str = "magma",
    vmin: float = -1.0,
    vmax: float = 1.0,
    label: str = "scaled log power",
) -> Figure:
    """(views, 4, H, W) panels -> a grid: one column per view, one row per chain; time 0 = the label centre.
    Also draws attribution maps (``cmap="RdBu_r"`` with a symmetric range)."""
    panels = np.asarray(panels, dtype=np.float32)
    n_views = panels.shape[0]
    fig, axes = plt.subplots(4, n_views, figsize=(4.2 * n_views, 8), squeeze=False, constrained_layout=True)
    for v in range(n_views):
        extent = _view_extent(v, cfg)
        for c in range(4):
            ax = axes[c, v]
            im = ax.imshow(panels[v, c], aspect="auto", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(f"{CHAIN_NAMES[c]} · {VIEW_NAMES[v]}", fontsize=9)
            if v == 0:
                ax.set_ylabel("Hz")
            if c == 3:
                ax.set_xlabel("s from label centre")
            if v > 0 and cfg.freq_scale == "mel":
                ax.set_ylabel("Hz (mel-spaced)")
    fig.colorbar(im, ax=axes, shrink=0.6, label=label)
    if title:
        fig.suptitle(title)
    return fig


def plot_montage(eeg_window: np.ndarray, cfg: FrontEndConfig, title: str = "", spacing_uv: float = 150.0) -> Figure:
    """Filtered double-banana traces of a clean EEG window (time, 20); the central 10 s shaded."""
    pairs = preprocess(eeg_window, cfg)
    t = np.arange(pairs.shape[-1]) / cfg.sample_rate
    fig, ax = plt.subplots(figsize=(14, 8), constrained_layout=True)
    for i, trace in enumerate(pairs[:16]):
        ax.plot(t, trace - i * spacing_uv, lw=0.5, color="k")
    ax.set_yticks([-i * spacing_uv for i in range(16)], PAIR_NAMES)
    mid = t[-1] / 2
    ax.axvspan(mid - LABEL_CENTRE_SECONDS / 2, mid + LABEL_CENTRE_SECONDS / 2, color="tab:orange", alpha=0.15)
    ax.set_xlabel("s")
    ax.set_xlim(t[0], t[-1])
    ax.set_title(title or f"double-banana montage, {cfg.bandpass_hz[0]}-{cfg.bandpass_hz[1]} Hz (central 10 s shaded)")
    return fig


def subplots(*args, **kwargs) -> tuple[Figure, object]:
    """``plt.subplots`` with constrained layout (the figure is closed by ``save_figure``)."""
    return plt.subplots(*args, constrained_layout=True, **kwargs)


def save_figure(fig: Figure, path, dpi: int = 100) -> None:
    """Write a PNG atomically and free the figure."""
    atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, format="png"))
    plt.close(fig)


def plot_image(image: torch.Tensor | np.ndarray, title: str = "", width: float = 3.0) -> Figure:
    """A small thumbnail of the stacked CNN image (first channel), no axes."""
    image = np.asarray(image, dtype=np.float32)
    body = image[0] if image.ndim == 3 else image
    fig, ax = plt.subplots(figsize=(width, width * body.shape[0] / body.shape[1] + 0.3), constrained_layout=True)
    ax.imshow(body, aspect="auto", cmap="magma", vmin=-1, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return fig


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """PNG bytes of a figure (for pages that embed their images), and free it."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    return buf.getvalue()


def plot_label_row(comp: Competition, split: str, eeg_id: int | None, cfg: FrontEndConfig, out: Path) -> list[Path]:
    """``python -m hms plot``: the stacked image and the montage traces of one label row (default: the first row with
    files) as PNGs in ``out``."""
    table = comp.train(require_files=True) if split == "train" else comp.with_files(comp.test(), "test")
    rows = table[table["eeg_id"] == eeg_id] if eeg_id else table.head(1)
    if rows.empty:
        raise DataError(f"eeg_id {eeg_id} is not among the {split} rows with files under {comp.root}")
    row = rows.iloc[0].to_dict()
    window, _ = comp.clean_eeg_window(row, split)
    org = comp.clean_spectrogram_window(row, split)
    panels = stack_panels(organizer_panels(org, cfg), eeg_panels(window, cfg))
    label = row.get("expert_consensus", "test")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{row['eeg_id']}_image.png", out / f"{row['eeg_id']}_montage.png"]
    save_figure(plot_panels(panels, cfg, f"eeg {row['eeg_id']} · {label}"), paths[0], dpi=90)
    save_figure(plot_montage(window, cfg), paths[1], dpi=90)
    return paths


def plot_pair_map(
    values: np.ndarray,
    title: str = "",
    cmap: str = "RdBu_r",
    vmin: float = -1.0,
    vmax: float = 1.0,
    label: str = "attribution",
) -> Figure:
    """A (16 bipolar signals, time) map over the 50 s window (raw-EEG families' saliency): one row per pair, chains
    separated, time 0 = the label centre."""
    values = np.asarray(values, dtype=np.float32)
    half = EEG_WINDOW_SECONDS / 2
    fig, ax = plt.subplots(figsize=(8.5, 4.2), constrained_layout=True)
    im = ax.imshow(
        values,
        aspect="auto",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
        extent=(-half, half, len(values) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(values)), PAIR_NAMES[: len(values)], fontsize=7)
    for boundary in range(4, len(values), 4):
        ax.axhline(boundary - 0.5, color="black", lw=0.6)
    ax.axvspan(-LABEL_CENTRE_SECONDS / 2, LABEL_CENTRE_SECONDS / 2, color="grey", alpha=0.08)
    ax.set_xlabel("s from label centre")
    ax.set_ylabel("bipolar signal")
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_pair_traces(values: np.ndarray, title: str = "", width: float = 2.2) -> Figure:
    """A small thumbnail of (16, time) bipolar signals, stacked traces, no axes."""
    values = np.asarray(values, dtype=np.float32)
    spacing = float(np.percentile(np.abs(values), 99)) * 2 or 1.0
    t = np.linspace(-EEG_WINDOW_SECONDS / 2, EEG_WINDOW_SECONDS / 2, values.shape[-1])
    fig, ax = plt.subplots(figsize=(width, width * 0.75), constrained_layout=True)
    for i, trace in enumerate(values):
        ax.plot(t, trace - i * spacing, lw=0.3, color="black")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
    return fig


def plot_chain_traces(
    pairs: np.ndarray, chains: tuple[str, ...], sample_rate: float, span: tuple[float, float] | None, title: str = ""
) -> Figure:
    """Compact traces of the bipolar pairs (16, time) of ``chains`` (CHAIN_NAMES entries, four pairs each), each
    pair scaled to its own range; ``span`` (seconds) shaded."""
    rows = [i for c in chains for i in range(4 * CHAIN_NAMES.index(c), 4 * CHAIN_NAMES.index(c) + 4)]
    t = np.arange(pairs.shape[-1]) / sample_rate
    fig, ax = plt.subplots(figsize=(4.2, 0.22 * len(rows) + 0.5), constrained_layout=True)
    for k, i in enumerate(rows):
        trace = np.nan_to_num(pairs[i])
        scale = float(np.percentile(np.abs(trace), 99)) or 1.0
        ax.plot(t, trace / (2.2 * scale) - k, lw=0.4, color="k")
    ax.set_yticks([-k for k in range(len(rows))], [PAIR_NAMES[i] for i in rows], fontsize=5)
    if span is not None:
        ax.axvspan(*span, color="tab:orange", alpha=0.25)
    ax.set_xlim(t[0], t[-1])
    ax.tick_params(axis="x", labelsize=6)
    if title:
        ax.set_title(title, fontsize=7)
    return fig


def plot_image_cell(
    image: torch.Tensor | np.ndarray, box: tuple[float, float, float, float] | None, title: str = ""
) -> Figure:
    """The network's input (first channel of an image; a waveform family's signals x samples) with one cell of its
    last feature map outlined (``box``: x0, y0, x1, y1 in index units), colours over its 99th-percentile range."""
    body = np.asarray(image, dtype=np.float32)
    body = body[0] if body.ndim == 3 else body
    fig, ax = plt.subplots(figsize=(2.6, max(0.9, 2.6 * body.shape[0] / body.shape[1]) + 0.3), constrained_layout=True)
    top = float(np.nanpercentile(np.abs(body), 99)) or 1.0
    ax.imshow(body, aspect="auto", cmap="magma", vmin=-top, vmax=top, interpolation="nearest")
    if box is not None:
        x0, y0, x1, y1 = box
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="cyan", lw=1.5))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=7)
    return fig
