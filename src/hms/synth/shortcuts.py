"""Planted shortcuts: an artifact made to co-occur with one class in the training split only, so a model can learn to
read the artifact instead of the pattern — and an explanation tool can be checked for finding it.

``--shortcut seizure=blink`` (``CLASS=ARTIFACT``; CLASS one of :data:`hms.constants.CLASSES`, ARTIFACT one of
:data:`SHORTCUT_ARTIFACTS`) plants, over each training-split episode whose main pattern is CLASS, with probability
``strength``, a dense run of that artifact spanning the episode, distinct from the simulator's ordinary artifacts (as
a recording setup of one ward would be): strong blinks every 1.5-3 s, muscle bursts over about half of it, a strong
electrode pop every 3-6 s, or a strong EKG leak into the temporal and occipital channels. Test-split
sessions get none (there the artifact keeps its ordinary, class-independent rate). The planted events go to
``events.csv`` like every other artifact, and the pairs to ``synth_config.json`` (:func:`read_shortcuts`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hms.constants import CLASSES, SCALP_CHANNELS
from hms.errors import DataError
from hms.synth import signals as S
from hms.synth.structure import SessionPlan

SHORTCUT_ARTIFACTS = ("blink", "muscle", "pop", "ekg")
EKG_LEAK_CHANNELS = ("T3", "T4", "T5", "T6", "O1", "O2")
MUSCLE_CHANNELS = ("F7", "T3", "T5", "F8", "T4", "T6")


@dataclass(frozen=True)
class Shortcut:
    """One planted pair: the class whose training episodes carry the artifact."""

    cls: str
    artifact: str

    @classmethod
    def parse(cls, text: str) -> Shortcut:
        """``'seizure=blink'`` -> Shortcut; ``ValueError`` naming the allowed names otherwise."""
        name, sep, artifact = str(text).partition("=")
        name, artifact = name.strip().lower(), artifact.strip().lower()
        if not sep or name not in CLASSES or artifact not in SHORTCUT_ARTIFACTS:
            raise ValueError(
                f"shortcut {text!r}: expected CLASS=ARTIFACT with CLASS one of {', '.join(CLASSES)} and ARTIFACT one "
                f"of {', '.join(SHORTCUT_ARTIFACTS)} (e.g. --shortcut seizure=blink)"
            )
        return cls(name, artifact)

    def __str__(self) -> str:
        return f"{self.cls}={self.artifact}"


def _blinks(x: np.ndarray, rng: np.random.Generator, lo: int, hi: int) -> list[dict]:
    events, pos = [], lo + rng.uniform(0, 1.5) * S.FS
    while pos < hi:
        width = rng.uniform(0.15, 0.35) * S.FS
        a, b = S.add_blink(x, pos, width, rng.uniform(150, 300))
        events.append(S.artifact_event("blink", a, b, ("Fp1", "Fp2")))
        pos += rng.uniform(1.5, 3.0) * S.FS
    return events


def _muscle(x: np.ndarray, rng: np.random.Generator, lo: int, hi: int) -> list[dict]:
    chans = [SCALP_CHANNELS.index(c) for c in MUSCLE_CHANNELS]
    events, pos = [], lo
    while pos < hi:
        dur = min(int(rng.uniform(1.0, 3.0) * S.FS), hi - pos)
        if dur > S.FS // 5:
            S.add_muscle(x, rng, chans, pos, dur, (40, 80))
            events.append(S.artifact_event("muscle", pos, pos + dur, MUSCLE_CHANNELS))
        pos += 2 * dur + int(rng.uniform(0.2, 1.0) * S.FS)
    return events


def _pops(x: np.ndarray, rng: np.random.Generator, lo: int, hi: int) -> list[dict]:
    events, pos = [], lo + int(rng.uniform(0, 3) * S.FS)
    while pos < hi:
        ch = int(rng.integers(len(SCALP_CHANNELS)))
        stop = S.add_pop(x, ch, pos, rng.choice([-1, 1]) * rng.uniform(200, 400), rng.uniform(0.1, 0.5))
        events.append(S.artifact_event("pop", pos, stop, (SCALP_CHANNELS[ch],)))
        pos += int(rng.uniform(3, 6) * S.FS)
    return events


def _ekg(x: np.ndarray, rng: np.random.Generator, lo: int, hi: int) -> list[dict]:
    strength = rng.uniform(0.3, 0.5)
    for c in EKG_LEAK_CHANNELS:
        x[SCALP_CHANNELS.index(c), lo:hi] += strength * x[S.EKG, lo:hi]
    return [S.artifact_event("ekg", lo, hi, EKG_LEAK_CHANNELS) | {"strength": float(strength)}]


PLANTERS = {"blink": _blinks, "muscle": _muscle, "pop": _pops, "ekg": _ekg}
assert tuple(PLANTERS) == SHORTCUT_ARTIFACTS


@dataclass(frozen=True)
class ShortcutPlanter:
    """The shortcuts of a simulation and how often a matching episode gets its artifact; called per session by
    ``session_signal`` (a :data:`hms.synth.signals.Planter`)."""

    shortcuts: tuple[Shortcut, ...]
    strength: float

    def __call__(
        self, x: np.ndarray, rng: np.random.Generator, plan: SessionPlan, without: frozenset[str] = frozenset()
    ) -> list[dict]:
        """Plant every shortcut into a training-split session's signal ``x`` (channels, samples), in place (those
        whose artifact is in ``without`` drawn the same but not added); return the artifact events planted (none for
        a test-split session)."""
        if plan.split != "train":
            return []
        events = []
        n = x.shape[1]
        scratch = np.zeros_like(x) if without else x
        for ep in plan.episodes:
            lo, hi = max(0, int(ep.start * S.FS)), min(n, int(ep.stop * S.FS))
            for shortcut in self.shortcuts:
                if CLASSES[ep.cls] == shortcut.cls and hi - lo > S.FS and rng.random() < self.strength:
                    target = scratch if shortcut.artifact in without else x
                    events += PLANTERS[shortcut.artifact](target, rng, lo, hi)
        return events


def read_shortcuts(root: str | Path) -> list[Shortcut]:
    """The shortcuts a simulation in ``root`` was made with (its ``synth_config.json``); empty for a clean one."""
    path = Path(root) / "synth_config.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; simulate again (python -m hms synth --out {root} ...)")
    return [Shortcut.parse(s) for s in json.loads(path.read_text()).get("shortcuts", [])]
