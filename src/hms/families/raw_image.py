"""The raw-EEG-as-image family (the 1st, 2nd and 7th places' idea): the 16 bipolar signals of the 50 s window through
the shared front-end (the raw-EEG family's inputs, so the same cache, augmentations and swap), rendered as one 2D image
for a timm backbone with the offline ImageNet weights:

    each signal cut into ``SEGMENTS`` consecutive 5 s pieces; the image's rows are segment by segment, and within a
    segment the 16 signals in montage order (LL, RL, LP, RP), each repeated ``ROWS_PER_SIGNAL`` times; columns are
    the samples of the segment. At 50 Hz: a (320, 250) image, one channel, microvolts / ``input_scale`` — about the
    pixels of ``bench``'s spectrogram image, so it trains on a CPU.

So image row r shows signal (r mod 32) // 2 of segment r // 32 and column c its sample segment * (T / SEGMENTS) + c
(:func:`pixel_source`). With a stride-32 backbone each cell of the last feature map covers the 16 signals of one
segment over 0.64 s, so per-position explanations say which seconds (:class:`RawImageView`; the chain is mixed, as in
the raw-EEG family's time steps). The network renders the image itself, so saliency lands on the waveforms: signal x
seconds, which chain and when, as for the raw-EEG family."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from hms.constants import CHAIN_NAMES, EEG_WINDOW_SECONDS
from hms.families.raw_eeg import N_PAIRS, RawEEG
from hms.families.registry import register_family
from hms.families.views import CELL_COLUMNS, Box, WaveformView, grid_shape
from hms.models.build import HMSModel, ModelConfig
from hms.signal.config import FrontEndConfig

SEGMENTS = 10  # 5 s pieces of the 50 s window
ROWS_PER_SIGNAL = 2  # image rows per signal: a segment's 16 signals are 32 rows, one row of stride-32 cells
PAIRS_PER_CHAIN = N_PAIRS // len(CHAIN_NAMES)


@dataclass(frozen=True)
class RawImageConfig(ModelConfig):
    """The backbone's settings (as the spectrogram CNN's ``model:``) and the scale of the rendered microvolts."""

    input_scale: float = 32.0  # clipped microvolts (+-1024) are divided by this

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.input_scale <= 0:
            raise ValueError(f"model.input_scale must be > 0, got {self.input_scale}")


def image_shape(samples: int) -> tuple[int, int]:
    """(height, width) of the image rendered from ``samples`` samples per signal."""
    return N_PAIRS * SEGMENTS * ROWS_PER_SIGNAL, -(-samples // SEGMENTS)


def render(x: torch.Tensor) -> torch.Tensor:
    """(batch, 16, T) bipolar signals -> (batch, 1, H, W) image (see the module docstring); T is zero-padded at the end
    to a multiple of ``SEGMENTS``."""
    b, pairs, t = x.shape
    _, width = image_shape(t)
    x = nn.functional.pad(x, (0, width * SEGMENTS - t))
    pieces = x.reshape(b, pairs, SEGMENTS, width).transpose(1, 2)  # (b, segment, pair, width)
    rows = pieces.repeat_interleave(ROWS_PER_SIGNAL, dim=2)
    return rows.reshape(b, 1, SEGMENTS * pairs * ROWS_PER_SIGNAL, width)


def pixel_source(row: int, col: int, samples: int) -> tuple[int, int]:
    """(signal, sample) of the window that image pixel (row, col) shows."""
    _, width = image_shape(samples)
    segment, within = divmod(int(row), N_PAIRS * ROWS_PER_SIGNAL)
    return within // ROWS_PER_SIGNAL, segment * width + int(col)


class RawImageNet(HMSModel):
    """The timm backbone + head of the spectrogram CNN, fed the image it renders from the bipolar signals."""

    def __init__(self, cfg: RawImageConfig, pretrained: bool = True) -> None:
        super().__init__(cfg, pretrained=pretrained)
        self.input_scale = cfg.input_scale

    def image(self, x: torch.Tensor) -> torch.Tensor:
        return render(x / self.input_scale)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return super().embed(self.image(x))

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        return super().positions(self.image(x))


class RawImageView(WaveformView):
    """Maps are signal x seconds (the inputs are the waveforms); positions are the cells of the last feature map over
    the rendered image, each placed back on its signals and seconds."""

    @staticmethod
    def _cell(input_shape: tuple[int, ...], n_positions: int, position: int) -> tuple[int, int, int, float, float]:
        """(segment, first signal, last signal + 1, first sample, end sample) that a cell shows."""
        samples = input_shape[-1]
        height, width = image_shape(samples)
        h, w = grid_shape((height, width), n_positions)
        i, j = divmod(int(position), w)
        sy, sx = -(-height // h), -(-width // w)  # the network's stride: cell (i, j) reads pixels from (sy i, sx j)
        y0, y1 = i * sy, min((i + 1) * sy, height)
        segment = int((y0 + y1) / 2) // (N_PAIRS * ROWS_PER_SIGNAL)
        top = segment * N_PAIRS * ROWS_PER_SIGNAL
        first = int(np.clip((y0 - top) // ROWS_PER_SIGNAL, 0, N_PAIRS - 1))
        last = int(np.clip(-(-(y1 - top) // ROWS_PER_SIGNAL), first + 1, N_PAIRS))
        x0, x1 = j * sx, min((j + 1) * sx, width)
        return segment, first, last, segment * width + x0, min(segment * width + x1, samples)

    def position_cells(self, frontend: FrontEndConfig, input_shape: tuple[int, ...], n_positions: int) -> pd.DataFrame:
        """Row-major over the feature map: the chain of the cell's signals ("" when it spans several), its seconds."""
        fs = frontend.sample_rate
        rows = []
        for p in range(n_positions):
            _, first, last, s0, s1 = self._cell(input_shape, n_positions, p)
            chains = {CHAIN_NAMES[k // PAIRS_PER_CHAIN] for k in range(first, last)}
            chain = chains.pop() if len(chains) == 1 else ""
            t0, t1 = min(s0 / fs, EEG_WINDOW_SECONDS), min(s1 / fs, EEG_WINDOW_SECONDS)
            rows.append(
                {"view": "eeg", "chain": chain, "t0": t0, "t1": max(t1, t0 + 1 / fs), "f0": np.nan, "f1": np.nan}
            )
        return pd.DataFrame(rows, columns=list(CELL_COLUMNS))

    def cell_box(self, input_shape: tuple[int, ...], n_positions: int, position: int) -> Box:
        """The cell's signals (rows) and samples (columns) of the (16, T) input."""
        _, first, last, s0, s1 = self._cell(input_shape, n_positions, position)
        return s0, float(first), s1, float(last)


@register_family
class RawImage(RawEEG):
    """Inputs, swap, cache and waveform augmentations of the raw-EEG family; the network sees them as an image."""

    name = "raw_image"
    model_config = RawImageConfig
    channels_last = False  # the inputs are (batch, 16, time); the network makes the image
    view = RawImageView()

    def build(self, cfg: RawImageConfig, pretrained: bool = True) -> nn.Module:
        return RawImageNet(cfg, pretrained=pretrained)
