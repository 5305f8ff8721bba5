"""Front-end settings shared by ``prepare``, training and ``submission.py`` (one dataclass, validated)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from hms import config
from hms.constants import SAMPLE_RATE

LAYOUTS = ("stack8", "stack12", "channels")
#: settings that only lay the cached spectrograms out as an image: not part of the cache key
IMAGE_ONLY = ("eeg_log_range", "organizer_log_range", "layout", "panel_height", "panel_width")


@dataclass(frozen=True)
class FrontEndConfig:
    # filters (scipy butter sos + sosfiltfilt, zero phase), then amplitude clipping in uV
    bandpass_hz: tuple[float, float] = (0.5, 20.0)  # the panels show <= 20 Hz; also the anti-alias filter
    filter_order: int = 4
    notch_hz: float | None = None  # e.g. 60.0 or 50.0; the 40 Hz low-pass already removes mains hum
    notch_q: float = 30.0
    clip_uv: float = 1024.0
    midline: bool = False  # add Fz-Cz, Cz-Pz (panels then show 5 "chains": LL, RL, LP, RP, Z)
    # EEG-derived spectrograms (torch.stft) after decimating the filtered signal to 200 / decimate Hz
    decimate: int = 4
    window_seconds: float = 2.0  # Hann window = FFT length (zero padding is 4x slower in torch.stft): 0.5 Hz bins
    hop_seconds: float = 0.2  # 50 s -> 251 frames
    freq_scale: Literal["linear", "mel"] = "linear"
    # the time-frequency transform: Hann STFT; multitaper STFT (DPSS tapers, scipy); complex Morlet CWT (ptwt)
    transform: Literal["stft", "multitaper", "cwt"] = "stft"
    multitaper_nw: float = 2.0  # time-half-bandwidth: +-1 Hz resolution on a 2 s window
    multitaper_k: int = 3  # tapers (2 NW - 1 keeps the well-concentrated ones)
    cwt_wavelet: str = "cmor1.5-1.0"  # PyWavelets name: cmor{bandwidth}-{centre frequency}
    n_mels: int = 64
    fmin_hz: float = 0.5
    fmax_hz: float = 20.0
    # zoomed view of the central 10 s (layout stack12 / channels with zoom)
    zoom: bool = False
    zoom_window_seconds: float = 0.64  # the central 10 s, finer in time
    zoom_hop_seconds: float = 0.04
    # log power -> image: clip log power to [log_min, log_max], then scale to [-1, 1]
    eeg_log_range: tuple[float, float] = (-4.0, 8.0)
    organizer_log_range: tuple[float, float] = (-4.0, 8.0)
    # image
    layout: Literal["stack8", "stack12", "channels"] = "stack8"
    panel_height: int = 128
    panel_width: int = 256

    def __post_init__(self) -> None:
        lo, hi = self.bandpass_hz
        if not 0 < lo < hi < 100:
            raise ValueError(f"bandpass_hz must satisfy 0 < low < high < 100 Hz, got {self.bandpass_hz}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.layout == "stack12" and not self.zoom:
            raise ValueError("layout 'stack12' shows the zoomed 10 s view: set zoom=True")
        fs = self.sample_rate
        if self.decimate < 1 or SAMPLE_RATE % self.decimate:
            raise ValueError(f"decimate must divide the sample rate {SAMPLE_RATE}")
        if self.bandpass_hz[1] >= fs / 2:
            raise ValueError(
                f"bandpass high edge {self.bandpass_hz[1]} Hz must stay below {fs / 2:g} Hz after decimation"
            )
        for name in ("window_seconds", "hop_seconds", "zoom_window_seconds", "zoom_hop_seconds"):
            samples = getattr(self, name) * fs
            if samples < 1 or abs(samples - round(samples)) > 1e-6:
                raise ValueError(f"{name} must be a whole number of samples at {fs:g} Hz (decimate={self.decimate})")
        if not 0 <= self.fmin_hz < self.fmax_hz <= fs / 2:
            raise ValueError(f"need 0 <= fmin_hz < fmax_hz <= {fs / 2:g} Hz (the Nyquist frequency after decimation)")
        if self.freq_scale not in ("linear", "mel"):
            raise ValueError("freq_scale must be 'linear' or 'mel'")
        if self.transform not in ("stft", "multitaper", "cwt"):
            raise ValueError(f"transform must be 'stft', 'multitaper' or 'cwt', got {self.transform!r}")
        if self.multitaper_k < 1 or not 0 < self.multitaper_nw or self.multitaper_k > 2 * self.multitaper_nw:
            raise ValueError("multitaper_k must be between 1 and 2 * multitaper_nw, and multitaper_nw > 0")
        if self.transform == "cwt" and self.fmin_hz <= 0:
            raise ValueError("transform 'cwt' needs fmin_hz > 0 (a wavelet has no zero frequency)")

    @property
    def sample_rate(self) -> float:
        """Sample rate of the signal the STFT sees."""
        return SAMPLE_RATE / self.decimate

    def stft_lengths(self, zoom: bool = False) -> tuple[int, int]:
        """(n_fft = window, hop) in samples at ``sample_rate``."""
        win, hop = (
            (self.zoom_window_seconds, self.zoom_hop_seconds) if zoom else (self.window_seconds, self.hop_seconds)
        )
        return int(round(win * self.sample_rate)), int(round(hop * self.sample_rate))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FrontEndConfig:
        return config.build(cls, values, "front-end settings")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def spectrogram_hash(self) -> str:
        """Hash of the settings that change cached spectrograms: every field except those that only lay the image
        out (``IMAGE_ONLY``), so a new setting is in the cache key unless it is declared image-only."""
        keys = sorted(f.name for f in fields(self) if f.name not in IMAGE_ONLY)
        payload = json.dumps({k: getattr(self, k) for k in keys}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:10]
