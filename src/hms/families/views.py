"""How explanations read and draw a family's inputs: the mean attribution map in the family's own coordinates, where
its mass lies (which chain, which band, when), a thumbnail of an input, and a picture of a map. A family names its
view (``ModelFamily.view``); ``hms explain`` asks the view and never guesses from a tensor's shape.

- :class:`ImageView`: stacked spectrogram images (n, C, H, W): panels per view (organizer, EEG 50 s, zoom) x chain.
- :class:`WaveformView`: bipolar waveforms (n, 16, time): maps are bipolar signal x seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import uniform_filter

from hms.constants import (
    CHAIN_NAMES,
    EEG_TO_SPEC_SHIFT,
    EEG_WINDOW_SECONDS,
    LABEL_CENTRE_SECONDS,
    SPEC_FREQS,
    SPEC_WINDOW_SECONDS,
)
from hms.signal.bands import BANDS
from hms.signal.config import FrontEndConfig
from hms.signal.image import image_to_panels, n_views, panels_to_image
from hms.signal.spectrogram import frequency_axis

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_EPS = 1e-12
#: what :meth:`InputView.position_cells` says of each position: its view, its chain ("" when it mixes all), the
#: seconds it covers relative to the start of the 50 s EEG window, and its frequency range (NaN when it has none)
CELL_COLUMNS = ("view", "chain", "t0", "t1", "f0", "f1")
VIEW_NAMES = ("organizer", "eeg", "eeg_zoom")
#: seconds each view's panels span, relative to the EEG window's start
VIEW_SECONDS = {
    "organizer": (-float(EEG_TO_SPEC_SHIFT), float(SPEC_WINDOW_SECONDS - EEG_TO_SPEC_SHIFT)),
    "eeg": (0.0, float(EEG_WINDOW_SECONDS)),
    "eeg_zoom": ((EEG_WINDOW_SECONDS - LABEL_CENTRE_SECONDS) / 2, (EEG_WINDOW_SECONDS + LABEL_CENTRE_SECONDS) / 2),
}


def _shares(mass: np.ndarray, names: tuple[str, ...] | list[str]) -> dict[str, float]:
    return {n: float(m / max(float(mass.sum()), _EPS)) for n, m in zip(names, mass, strict=True)}


def _colours(values: np.ndarray, signed: bool) -> dict:
    vmax = float(np.abs(values).max()) or 1.0
    return {
        "cmap": "RdBu_r" if signed else "viridis",
        "vmin": -vmax if signed else 0.0,
        "vmax": vmax,
        "label": "attribution" if signed else "|saliency|",
    }


#: a box (x0, y0, x1, y1) in an input's (..., H, W) index units
Box = tuple[float, float, float, float]


def grid_shape(input_shape: tuple[int, ...], n_positions: int) -> tuple[int, int]:
    """(h, w) of a convolutional network's last feature map over an input of ``input_shape`` (..., H, W): the grid of
    the stride that gives ``n_positions`` ceil-divided cells."""
    height, width = input_shape[-2], input_shape[-1]
    strides = [s for s in (4, 8, 16, 32, 64) if -(-height // s) * -(-width // s) == n_positions]
    if not strides:
        raise ValueError(f"{n_positions} positions fit no stride of a {height} x {width} input")
    return -(-height // strides[0]), -(-width // strides[0])


class InputView:
    """What explanations need of a family's inputs (see the module docstring); subclasses implement it."""

    #: how the class maps' baseline and smoothing read in the report
    baseline_note: ClassVar[str] = ""
    #: resolution of the map pictures in the report
    map_dpi: ClassVar[int] = 60

    def mean_map(self, attr: torch.Tensor, frontend: FrontEndConfig) -> np.ndarray:
        """The mean (signed) attribution over samples, laid out for :meth:`map_figure`."""
        raise NotImplementedError

    def profile(self, attr: torch.Tensor, frontend: FrontEndConfig) -> dict:
        """Shares of |attribution| by view ("views"), by chain ("chains"), by frequency band ("bands", summing to
        1) and over time ("time")."""
        raise NotImplementedError

    def input_figure(self, x: torch.Tensor | np.ndarray, frontend: FrontEndConfig, title: str) -> Figure:
        """A thumbnail of one input."""
        raise NotImplementedError

    def map_figure(self, values: np.ndarray, frontend: FrontEndConfig, title: str, signed: bool) -> Figure:
        """A (smoothed) picture of a map from :meth:`mean_map`."""
        raise NotImplementedError

    def position_cells(self, frontend: FrontEndConfig, input_shape: tuple[int, ...], n_positions: int) -> pd.DataFrame:
        """Where each of a network's ``n_positions`` per-position vectors (``Localized.positions`` order) looks in an
        input of ``input_shape`` (one sample, no batch): one row per position, :data:`CELL_COLUMNS`."""
        raise NotImplementedError

    def cell_box(self, input_shape: tuple[int, ...], n_positions: int, position: int) -> Box:
        """The box (x0, y0, x1, y1), in the input's (..., H, W) index units, that position ``position`` of the
        network's ``n_positions`` looks at: what the dashboard outlines on the input."""
        raise NotImplementedError


class ImageView(InputView):
    baseline_note = "baseline: the blank image; smoothed over 5 x 5 pixels"
    map_dpi = 50
    smooth = 5  # pixels: per-pixel gradients are speckled

    def mean_map(self, attr: torch.Tensor, frontend: FrontEndConfig) -> np.ndarray:
        """(views, 4, H, W) panels."""
        return image_to_panels(attr.mean(0), frontend.layout, n_views(frontend)).numpy()

    @staticmethod
    def row_frequencies(frontend: FrontEndConfig, view: int) -> np.ndarray:
        """Frequency (Hz) of each image row of a panel of ``view`` (0 organizer, 1 EEG 50 s, 2 EEG zoom), top to
        bottom."""
        freqs = np.asarray(SPEC_FREQS) if view == 0 else frequency_axis(frontend, zoom=view == 2)
        rows = np.interp(np.linspace(0, 1, frontend.panel_height), np.linspace(0, 1, len(freqs)), freqs)
        return rows[::-1]  # panels are flipped: low frequencies at the bottom

    def profile(self, attr: torch.Tensor, frontend: FrontEndConfig) -> dict:
        """All on the EEG 50 s view except the view shares; bands as per-Hz density (the mean over a band's image
        rows: wide bands would win a plain sum)."""
        panels = image_to_panels(attr.abs().mean(0), frontend.layout, n_views(frontend)).numpy()
        eeg = panels[1]
        freqs = self.row_frequencies(frontend, 1)
        in_band = {b: (freqs >= lo) & (freqs < hi) for b, (lo, hi) in BANDS.items()}
        band_mass = {b: float(eeg[:, m].sum(axis=(0, 2)).mean()) if m.any() else 0.0 for b, m in in_band.items()}
        eeg_total = max(sum(band_mass.values()), _EPS)
        views = ("organizer", "eeg", "eeg_zoom")[: panels.shape[0]]
        return {
            "views": _shares(panels.sum(axis=(1, 2, 3)), views),
            "chains": _shares(eeg.sum(axis=(1, 2)), CHAIN_NAMES),
            "bands": {b: m / eeg_total for b, m in band_mass.items()},
            "time": (eeg.sum(axis=(0, 1)) / max(float(eeg.sum()), _EPS)).tolist(),
        }

    def input_figure(self, x: torch.Tensor | np.ndarray, frontend: FrontEndConfig, title: str) -> Figure:
        """As the stack layout shows it (a channels-layout image is laid out as panels first)."""
        from hms.plots import plot_image  # deferred: matplotlib, which inference never needs

        panels = image_to_panels(x, frontend.layout, n_views(frontend))
        return plot_image(panels_to_image(panels, "stack8"), title, width=2.2)

    def map_figure(self, values: np.ndarray, frontend: FrontEndConfig, title: str, signed: bool) -> Figure:
        from hms.plots import plot_panels  # deferred: matplotlib, which inference never needs

        size = (1, 1, self.smooth, self.smooth)
        panels = uniform_filter(np.asarray(values, dtype=np.float32), size=size, mode="nearest")
        return plot_panels(panels, frontend, title, **_colours(panels, signed))

    def position_cells(self, frontend: FrontEndConfig, input_shape: tuple[int, ...], n_positions: int) -> pd.DataFrame:
        """Cells of the last feature map, row-major over its (h, w) grid (found as the stride that gives
        ``n_positions`` cells, as a convolutional network's ceil-divided map). In the stacked layouts a cell's centre
        pixel names its panel (view and chain) and its pixel span there its seconds and frequencies; the channels
        layout holds every view and chain at each pixel, so its cells read as the EEG view with chain ""."""
        height, width = input_shape[-2], input_shape[-1]
        h, w = grid_shape(input_shape, n_positions)
        stacked = frontend.layout != "channels"
        ph, pw = (frontend.panel_height, frontend.panel_width) if stacked else (height, width)
        rows = []
        for i in range(h):
            y0, y1 = i * height / h, (i + 1) * height / h
            panel_row = int((y0 + y1) / 2 // ph)
            r0, r1 = int(np.clip(y0 - panel_row * ph, 0, ph - 1)), int(np.clip(np.ceil(y1 - panel_row * ph), 1, ph))
            for j in range(w):
                x0, x1 = j * width / w, (j + 1) * width / w
                panel_col = int((x0 + x1) / 2 // pw)
                view = VIEW_NAMES[panel_col] if stacked else "eeg"
                freqs = self.row_frequencies(frontend, VIEW_NAMES.index(view))[r0:r1]
                lo, hi = VIEW_SECONDS[view]
                u0, u1 = (np.clip([x0 - panel_col * pw, x1 - panel_col * pw], 0, pw) / pw).tolist()
                rows.append(
                    {
                        "view": view,
                        "chain": CHAIN_NAMES[panel_row] if stacked else "",
                        "t0": lo + u0 * (hi - lo),
                        "t1": lo + u1 * (hi - lo),
                        "f0": float(freqs.min()),
                        "f1": float(freqs.max()),
                    }
                )
        return pd.DataFrame(rows, columns=list(CELL_COLUMNS))

    def cell_box(self, input_shape: tuple[int, ...], n_positions: int, position: int) -> Box:
        """One cell (row-major) of the ceil-divided grid."""
        height, width = input_shape[-2], input_shape[-1]
        h, w = grid_shape(input_shape, n_positions)
        i, j = divmod(int(position), w)
        return j * width / w, i * height / h, (j + 1) * width / w, (i + 1) * height / h


class WaveformView(InputView):
    baseline_note = "baseline: the blank (all-zero) bipolar signals; rows are the 16 bipolar signals, smoothed over 1 s"
    map_dpi = 60

    def mean_map(self, attr: torch.Tensor, frontend: FrontEndConfig) -> np.ndarray:
        """(16, time): bipolar signal x samples."""
        return attr.mean(0).numpy()

    def profile(self, attr: torch.Tensor, frontend: FrontEndConfig) -> dict:
        """Chain shares, the band shares of the attribution's own spectrum, its time profile."""
        mag = attr.abs().mean(0).numpy()  # (16, time)
        spectrum = (np.abs(np.fft.rfft(attr.numpy(), axis=-1)) ** 2).mean(axis=(0, 1))
        freqs = np.fft.rfftfreq(attr.shape[-1], 1 / frontend.sample_rate)
        in_band = {b: (freqs >= lo) & (freqs < hi) for b, (lo, hi) in BANDS.items()}
        band_mass = {b: float(spectrum[m].mean()) if m.any() else 0.0 for b, m in in_band.items()}
        band_total = max(sum(band_mass.values()), _EPS)
        return {
            "views": {"eeg": 1.0},
            "chains": _shares(mag.reshape(len(CHAIN_NAMES), -1, mag.shape[-1]).sum(axis=(1, 2)), CHAIN_NAMES),
            "bands": {b: m / band_total for b, m in band_mass.items()},
            "time": (mag.sum(axis=0) / max(float(mag.sum()), _EPS)).tolist(),
        }

    def input_figure(self, x: torch.Tensor | np.ndarray, frontend: FrontEndConfig, title: str) -> Figure:
        from hms.plots import plot_pair_traces  # deferred: matplotlib, which inference never needs

        return plot_pair_traces(np.asarray(x), title)

    def map_figure(self, values: np.ndarray, frontend: FrontEndConfig, title: str, signed: bool) -> Figure:
        from hms.plots import plot_pair_map  # deferred: matplotlib, which inference never needs

        size = (1, max(1, int(frontend.sample_rate)))  # 1 s of each signal
        smoothed = uniform_filter(np.asarray(values, dtype=np.float32), size=size, mode="nearest")
        return plot_pair_map(smoothed, title, **_colours(smoothed, signed))

    def position_cells(self, frontend: FrontEndConfig, input_shape: tuple[int, ...], n_positions: int) -> pd.DataFrame:
        """Time steps evenly over the 50 s window; each mixes all 16 signals (chain "") and has no frequency range."""
        edges = np.linspace(0.0, float(EEG_WINDOW_SECONDS), n_positions + 1)
        return pd.DataFrame(
            {"view": "eeg", "chain": "", "t0": edges[:-1], "t1": edges[1:], "f0": np.nan, "f1": np.nan},
            columns=list(CELL_COLUMNS),
        )

    def cell_box(self, input_shape: tuple[int, ...], n_positions: int, position: int) -> Box:
        """One time step: its share of the samples, over all 16 signals."""
        height, width = input_shape[-2], input_shape[-1]
        return position * width / n_positions, 0.0, (position + 1) * width / n_positions, float(height)
