"""Simulated multichannel EEG for one session: 1/f background with a posterior alpha rhythm, the six patterns
planted over their episodes, and real-world artifacts (blinks, muscle, electrode pops, flat channels, NaN)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hms.constants import CLASSES, EEG_CHANNELS, LEFT_CHANNELS, SAMPLE_RATE, SCALP_CHANNELS
from hms.synth.params import BACKGROUND_EXPONENT, LOCAL_EXPONENT_SHIFT
from hms.synth.structure import Episode, SessionPlan

#: plants extra artifacts into a session's signal in place (its own random stream), returning their events
#: plants shortcut artifacts into a session's signal (channels, samples), in place, but those of the kinds in the
#: frozenset, which it draws without adding; returns their events
Planter = Callable[[np.ndarray, np.random.Generator, SessionPlan, frozenset[str]], list[dict]]

FS = SAMPLE_RATE
#: approximate 10-20 positions on a unit disc seen from above (x: left -1 .. right +1, y: back -1 .. front +1)
POSITIONS: dict[str, tuple[float, float]] = {
    "Fp1": (-0.3, 0.95),
    "Fp2": (0.3, 0.95),
    "F7": (-0.8, 0.55),
    "F3": (-0.4, 0.5),
    "Fz": (0.0, 0.45),
    "F4": (0.4, 0.5),
    "F8": (0.8, 0.55),
    "T3": (-0.95, 0.0),
    "C3": (-0.45, 0.0),
    "Cz": (0.0, 0.0),
    "C4": (0.45, 0.0),
    "T4": (0.95, 0.0),
    "T5": (-0.8, -0.55),
    "P3": (-0.4, -0.5),
    "Pz": (0.0, -0.45),
    "P4": (0.4, -0.5),
    "T6": (0.8, -0.55),
    "O1": (-0.3, -0.95),
    "O2": (0.3, -0.95),
}
XY = np.array([POSITIONS[c] for c in SCALP_CHANNELS])  # (19, 2) in EEG_CHANNELS order
N_SCALP = len(SCALP_CHANNELS)
EKG = EEG_CHANNELS.index("EKG")
SEIZURE, LPD, GPD, LRDA, GRDA, OTHER = range(len(CLASSES))
#: focal centres per hemisphere side (+1 right / -1 left): frontal, temporal, central, parieto-occipital
FOCI = ((0.5, 0.5), (0.9, 0.0), (0.45, 0.0), (0.5, -0.6))


def _coloured_noise(rng: np.random.Generator, n_series: int, n: int, shape_fn) -> np.ndarray:
    """Gaussian noise with power spectrum shape_fn(freqs)**2, unit variance per series."""
    spec = np.fft.rfft(rng.standard_normal((n_series, n)), axis=1)
    spec *= shape_fn(np.fft.rfftfreq(n, 1 / FS))
    out = np.fft.irfft(spec, n=n, axis=1)
    out /= out.std(axis=1, keepdims=True) + 1e-12
    return out


def _gauss_map(centre: tuple[float, float], sigma: float) -> np.ndarray:
    d2 = ((XY - np.asarray(centre)) ** 2).sum(axis=1)
    return np.exp(-d2 / (2 * sigma**2))


#: names of FOCI, for the simulated reports
FOCUS_NAMES = ("frontal", "temporal", "central", "parieto-occipital")


def _focal_field(rng: np.random.Generator, side: int, notes: dict | None = None) -> np.ndarray:
    focus = int(rng.integers(len(FOCI)))
    fx, fy = FOCI[focus]
    if notes is not None:
        notes.setdefault("region", FOCUS_NAMES[focus])
    field = _gauss_map((side * fx, fy), rng.uniform(0.4, 0.65))
    contra = XY[:, 0] * side < -0.05
    field[contra] *= 0.08
    return field


def _general_field(rng: np.random.Generator, frontal: bool) -> np.ndarray:
    y0, sy = (0.55, 0.5) if frontal else (0.1, 0.8)
    field = np.exp(-((np.abs(XY[:, 0]) - 0.5) ** 2) / (2 * 0.55**2)) * np.exp(-((XY[:, 1] - y0) ** 2) / (2 * sy**2))
    return field * rng.uniform(0.85, 1.15, size=N_SCALP)


def _envelope(n: int, ramp: int) -> np.ndarray:
    env = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp > 0:
        r = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
        env[:ramp] = r
        env[n - ramp :] = r[::-1]
    return env


def _rhythmic(rng: np.random.Generator, n: int, f: np.ndarray | float, harmonics: tuple[float, ...]) -> np.ndarray:
    freq = np.broadcast_to(np.asarray(f, dtype=float), (n,))
    # real rhythms drift: phase diffusion plus slow (< 0.5 Hz) amplitude modulation
    jitter = np.cumsum(rng.standard_normal(n)) * 0.012
    phase = 2 * np.pi * np.cumsum(freq) / FS + jitter + rng.uniform(0, 2 * np.pi)
    wave = np.sin(phase)
    for k, a in enumerate(harmonics, start=2):
        wave += a * np.sin(k * phase + 0.6)
    am = _coloured_noise(rng, 1, n, lambda fr: (fr < 0.5).astype(float))[0]
    return wave * np.clip(1.0 + 0.35 * am, 0.2, None)


def _discharges(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Periodic discharges (~0.4 s): a sharp negative wave, a positive after-wave and a slow wave, every 1/rate s."""
    t = np.arange(int(0.6 * FS)) / FS
    kernel = (
        -np.exp(-(((t - 0.06) / 0.028) ** 2) / 2)
        + 0.6 * np.exp(-(((t - 0.15) / 0.05) ** 2) / 2)
        - 0.45 * np.exp(-(((t - 0.33) / 0.1) ** 2) / 2)
    )
    train = np.zeros(n)
    pos = rng.uniform(0, 1 / rate)
    while pos * FS < n:
        train[int(pos * FS)] = rng.uniform(0.8, 1.2)
        pos += (1 / rate) * rng.uniform(0.93, 1.07)
    return np.convolve(train, kernel)[:n]


#: the planted ground truth the explanation report checks against: spatial extent and rhythm / discharge rate (Hz)
PLANTED = {
    "lrda": ("one-sided", (1.0, 3.0)),
    "grda": ("bilateral", (1.0, 2.5)),
    "lpd": ("one-sided", (0.5, 2.5)),
    "gpd": ("bilateral", (0.5, 2.5)),
    "seizure": ("either", (1.5, 9.0)),
}


def _pattern(rng: np.random.Generator, cls: int, n: int, notes: dict | None = None) -> np.ndarray:
    """(19, n) scalp field of one planted pattern at unit clarity, in uV. ``notes`` (when given) receives what was
    drawn: side, region, frequency, evolution (the simulated reports are written from it); the draws are the same
    with or without it."""
    side = int(rng.choice([-1, 1]))
    record = (lambda **kw: notes.update(kw)) if notes is not None else (lambda **kw: None)  # noqa: E731
    if cls == LRDA:
        f = rng.uniform(*PLANTED["lrda"][1])
        record(side="left" if side < 0 else "right", freq_hz=float(f))
        wave = _rhythmic(rng, n, f, (0.3,))
        return rng.uniform(60, 130) * _focal_field(rng, side, notes)[:, None] * wave
    if cls == GRDA:
        f = rng.uniform(*PLANTED["grda"][1])
        wave = _rhythmic(rng, n, f, (0.3,))
        amplitude, frontal = rng.uniform(60, 130), rng.random() < 0.7  # the draw order of the original expression
        record(side="bilateral", freq_hz=float(f), region="frontal" if frontal else "diffuse")
        return amplitude * _general_field(rng, frontal=frontal)[:, None] * wave
    if cls == LPD:
        rate = rng.uniform(*PLANTED["lpd"][1])
        record(side="left" if side < 0 else "right", freq_hz=float(rate))
        wave = _discharges(rng, n, rate)
        return rng.uniform(150, 300) * _focal_field(rng, side, notes)[:, None] * wave
    if cls == GPD:
        rate = rng.uniform(*PLANTED["gpd"][1])
        wave = _discharges(rng, n, rate)
        amplitude, frontal = rng.uniform(150, 300), rng.random() < 0.4
        record(side="bilateral", freq_hz=float(rate), region="frontal" if frontal else "diffuse")
        return amplitude * _general_field(rng, frontal=frontal)[:, None] * wave
    if cls == SEIZURE:
        # evolving rhythm: frequency sweeps (usually down) and amplitude builds up over the episode
        f0, f1 = rng.uniform(4.0, 9.0), rng.uniform(1.5, 4.0)
        if rng.random() < 0.3:
            f0, f1 = f1, f0
        record(freq_hz=float(f0), freq_end_hz=float(f1))
        freq = np.geomspace(f0, f1, n)
        build = np.clip(np.linspace(0.25, 1.6, n), 0, 1)
        wave = _rhythmic(rng, n, freq, (0.45, 0.2)) * build
        if rng.random() < 0.55:
            focal, general = _focal_field(rng, side, notes), _general_field(rng, frontal=False)
            spreads = rng.random() < 0.5
            record(side="left" if side < 0 else "right", spread=bool(spreads))
            spread = np.clip(np.linspace(-0.5, 1.2, n), 0, 1) if spreads else np.zeros(n)
            field = focal[:, None] * (1 - spread) + general[:, None] * spread
        else:
            record(side="bilateral", region="diffuse")
            field = _general_field(rng, frontal=False)[:, None]
        return rng.uniform(60, 150) * field * wave
    return np.zeros((N_SCALP, n))


def _plant(x: np.ndarray, rng: np.random.Generator, ep: Episode, notes: dict | None = None) -> None:
    start, stop = max(0, int(ep.start * FS)), min(x.shape[1], int(ep.stop * FS))
    n = stop - start
    if n <= FS:
        return
    env = _envelope(n, int(2 * FS))
    main = {} if notes is not None else None
    second = {} if notes is not None else None
    if ep.cls != OTHER:
        x[:N_SCALP, start:stop] += (0.3 + 0.7 * ep.clarity) * _pattern(rng, ep.cls, n, main) * env
    if ep.secondary is not None and ep.secondary != OTHER:
        weight = 0.25 + 0.35 * (1 - ep.clarity) if ep.cls != OTHER else 0.3 + 0.6 * (1 - ep.clarity)
        x[:N_SCALP, start:stop] += weight * _pattern(rng, ep.secondary, n, second) * env
    if notes is not None:
        notes.update(main=main, secondary=second)


def _pink(beta: float) -> Callable[[np.ndarray], np.ndarray]:
    """Amplitude response of 1/f^beta power below 70 Hz (flat below 0.4 Hz)."""
    return lambda f: 1.0 / np.maximum(f, 0.4) ** (beta / 2) * (f < 70)


def _background(rng: np.random.Generator, n: int, notes: dict | None = None) -> np.ndarray:
    beta = rng.uniform(*BACKGROUND_EXPONENT)
    k = 6
    sources = _coloured_noise(rng, k, n, _pink(beta))
    mixing = np.stack([_gauss_map(tuple(rng.uniform(-1, 1, 2)), rng.uniform(0.35, 0.8)) for _ in range(k)], axis=1)
    local = _coloured_noise(rng, N_SCALP, n, _pink(beta + LOCAL_EXPONENT_SHIFT))
    bg = mixing @ sources + 0.7 * local
    bg /= bg.std(axis=1, keepdims=True)
    amplitude = rng.uniform(12, 35) * rng.uniform(0.8, 1.25, size=(N_SCALP, 1))
    out = bg * amplitude
    # posterior alpha, waxing and waning with eyes open / closed
    fa = rng.uniform(8.0, 11.5)
    if notes is not None:
        notes.update(alpha_hz=float(fa))
    alpha = _coloured_noise(rng, 1, n, lambda f: np.exp(-((f - fa) ** 2) / (2 * 0.6**2)))[0]
    eyes = (_coloured_noise(rng, 1, n, lambda f: (f < 0.05).astype(float))[0] > -0.3).astype(float)
    eyes = np.convolve(eyes, np.ones(FS) / FS, mode="same")
    out += rng.uniform(3, 20) * _gauss_map((0.0, -0.9), 0.45)[:, None] * (alpha * eyes)[None]
    return out


#: how strongly a blink shows on each scalp channel (frontal)
BLINK_MAP = np.array(
    [1.0 if c in ("Fp1", "Fp2") else 0.35 if c in ("F3", "F4", "F7", "F8", "Fz") else 0.05 for c in SCALP_CHANNELS]
)


def add_blink(x: np.ndarray, centre: float, width: float, amplitude: float) -> tuple[int, int]:
    """A slow positive frontal bump centred at sample ``centre``, in place; its sample span [lo, hi)."""
    n = x.shape[1]
    lo, hi = int(max(0, centre - 3 * width)), int(min(n, centre + 3 * width))
    bump = np.exp(-(((np.arange(lo, hi) - centre) / width) ** 2) / 2)
    x[:N_SCALP, lo:hi] += amplitude * BLINK_MAP[:, None] * bump
    return lo, hi


def add_muscle(
    x: np.ndarray, rng: np.random.Generator, chans: list[int], lo: int, dur: int, amplitude: tuple[float, float]
) -> None:
    """A broadband 20-70 Hz burst on ``chans`` over samples [lo, lo + dur), in place (its noise drawn first, then
    its amplitude from the range)."""
    burst = _coloured_noise(rng, len(chans), dur, lambda f: ((f > 20) & (f < 70)).astype(float))
    x[chans, lo : lo + dur] += rng.uniform(*amplitude) * burst * _envelope(dur, FS // 10)


def add_pop(x: np.ndarray, ch: int, lo: int, amplitude: float, tau: float) -> int:
    """An electrode pop (a step decaying with time constant ``tau`` s) on channel ``ch`` from sample ``lo``, in
    place; the sample where it has decayed (3 tau)."""
    n = x.shape[1]
    t = np.arange(n - lo) / FS
    x[ch, lo:] += amplitude * np.exp(-t / tau)
    return min(n, lo + int(3 * tau * FS) + 1)


def _artifacts(
    x: np.ndarray, rng: np.random.Generator, notes: dict | None = None, without: frozenset[str] = frozenset()
) -> None:
    """Blinks, muscle, pops, the EKG leak and mains hum, in place; a kind in ``without`` is drawn as usual (the
    random stream stays the same) but added to a scratch copy, so the signal is the same without it."""
    n = x.shape[1]
    scratch = np.zeros_like(x) if without else x

    def onto(kind: str) -> np.ndarray:
        return scratch if kind in without else x

    seconds = n / FS
    idx = {c: i for i, c in enumerate(SCALP_CHANNELS)}
    # eye blinks: slow positive bumps, frontal
    events: list[dict] = []
    record = events.append if notes is not None else (lambda event: None)
    n_blinks = rng.poisson(seconds * rng.uniform(0.0, 0.25))
    for _ in range(n_blinks):
        width = rng.uniform(0.15, 0.35) * FS
        centre = rng.uniform(0, n)
        lo, hi = add_blink(onto("blink"), centre, width, rng.uniform(80, 250))
        record(artifact_event("blink", lo, hi, ("Fp1", "Fp2")))
    # muscle bursts: broadband 20-70 Hz, temporal and frontal, one side or both
    n_muscle = rng.poisson(seconds * rng.uniform(0.0, 0.04))
    if notes is not None:
        notes.update(blinks_per_min=60 * n_blinks / seconds, muscle_per_min=60 * n_muscle / seconds)
    for _ in range(n_muscle):
        dur = int(rng.uniform(0.5, 4) * FS)
        lo = int(rng.integers(0, max(1, n - dur)))
        chans = [idx[c] for c in ("F7", "T3", "T5", "F8", "T4", "T6", "Fp1", "Fp2")]
        if rng.random() < 0.6:
            chans = [c for c in chans if (SCALP_CHANNELS[c] in LEFT_CHANNELS) == (rng.random() < 0.5)] or chans
        add_muscle(onto("muscle"), rng, chans, lo, dur, (15, 70))
        record(artifact_event("muscle", lo, lo + dur, tuple(SCALP_CHANNELS[c] for c in chans)))
    # electrode pops: a step with exponential decay on one channel
    for _ in range(rng.poisson(seconds * rng.uniform(0.0, 0.01))):
        ch, lo = int(rng.integers(N_SCALP)), int(rng.integers(0, n))
        stop = add_pop(onto("pop"), ch, lo, rng.choice([-1, 1]) * rng.uniform(100, 400), rng.uniform(0.1, 0.5))
        record(artifact_event("pop", lo, stop, (SCALP_CHANNELS[ch],)))
    # EKG: QRS complexes, leaking a little into the posterior-temporal channels
    hr = rng.uniform(55, 110) / 60
    beats = np.zeros(n)
    pos = rng.uniform(0, 1 / hr)
    while pos * FS < n:
        beats[int(pos * FS)] = 1.0
        pos += (1 / hr) * rng.uniform(0.95, 1.05)
    t = np.arange(-int(0.1 * FS), int(0.1 * FS)) / FS
    qrs = -np.gradient(np.exp(-((t / 0.012) ** 2) / 2)) * 30
    ekg = np.convolve(beats, qrs, mode="same") * rng.uniform(0.8, 2.0)
    x[EKG] = ekg + 2.0 * rng.standard_normal(n)
    leak = {c: rng.uniform(0.0, 0.08) for c in ("T5", "T6", "O1", "O2", "T3", "T4")}
    for c, weight in leak.items():
        onto("ekg")[idx[c]] += weight * ekg
    if notes is not None:
        notes.update(ekg_leak=float(max(leak.values())), events=events)
    # mains hum
    x[:N_SCALP] += rng.uniform(0, 3) * np.sin(2 * np.pi * 60 * np.arange(n) / FS + rng.uniform(0, 6.3))


def _dropouts(x: np.ndarray, rng: np.random.Generator, notes: dict | None = None) -> None:
    """Flat channels and NaN stretches, as in real recordings (``notes``: their events are appended to its
    ``events``)."""
    n = x.shape[1]
    record = notes.setdefault("events", []).append if notes is not None else (lambda event: None)
    if rng.random() < 0.08:
        flat = rng.standard_normal(n) * 0.1  # drawn before the channel (the order of the original assignment)
        ch = int(rng.integers(N_SCALP))
        x[ch] = flat
        record(artifact_event("flat", 0, n, (SCALP_CHANNELS[ch],)))
    if rng.random() < 0.06:
        for _ in range(int(rng.integers(1, 4))):
            dur = int(rng.uniform(1, 30) * FS)
            lo = int(rng.integers(0, max(1, n - dur)))
            x[:, lo : lo + dur] = np.nan
            record(artifact_event("gap", lo, lo + dur, SCALP_CHANNELS))
    if rng.random() < 0.03:
        ch = int(rng.integers(N_SCALP))
        x[ch] = np.nan
        record(artifact_event("flat", 0, n, (SCALP_CHANNELS[ch],)))


def artifact_event(kind: str, lo: int, hi: int, channels: tuple[str, ...]) -> dict:
    """One planted artifact: its kind, session seconds [start, stop) and the scalp channels it is on."""
    return {"kind": kind, "start": lo / FS, "stop": hi / FS, "channels": ",".join(channels)}


def session_signal(
    plan: SessionPlan,
    notes: dict | None = None,
    shortcuts: Planter | None = None,
    without: frozenset[str] = frozenset(),
) -> np.ndarray:
    """The whole session as float32 (length * 200, 20) in EEG_CHANNELS order, uV, NaN where dropped out.

    Background, patterns, artifacts and dropouts draw from separate streams of the session seed, so planting an
    episode leaves everything else unchanged. ``notes`` (when given) receives what was drawn: background alpha,
    artifact rates, every artifact event (kind, seconds, channels: ``hms.synth.truth`` writes them) and, per episode,
    the planted side / region / frequency (``hms.synth.reports`` writes from it). ``without``: artifact kinds left out
    of the signal (ordinary and planted ones; their events are still drawn and noted): the counterfactual the
    shortcut audit compares with.
    """
    rng_bg, rng_pattern, rng_artifact, rng_dropout, rng_shortcut = (
        np.random.default_rng(s) for s in np.random.SeedSequence(plan.seed).spawn(5)
    )
    n = plan.length * FS
    x = np.zeros((len(EEG_CHANNELS), n))
    if notes is not None:
        notes.update(background={}, artifacts={}, episodes=[{} for _ in plan.episodes])
    x[:N_SCALP] = _background(rng_bg, n, notes["background"] if notes is not None else None)
    for i, ep in enumerate(plan.episodes):
        _plant(x, rng_pattern, ep, notes["episodes"][i] if notes is not None else None)
    _artifacts(x, rng_artifact, notes["artifacts"] if notes is not None else None, without)
    if shortcuts is not None:
        planted = shortcuts(x, rng_shortcut, plan, without)
        if notes is not None:
            notes["artifacts"].setdefault("events", []).extend(planted)
    _dropouts(x, rng_dropout, notes["artifacts"] if notes is not None else None)
    return x.T.astype(np.float32)
