"""The simulator's ground truth of what it planted, ``events.csv`` (this module owns the format), and the factors of a
label window read from it.

``events.csv`` holds one row per planted pattern episode (``kind`` a class name; ``role`` main or secondary; its
side, region and frequency) and per artifact event (``kind`` one of :data:`ARTIFACT_KINDS`), each with its session
seconds [start, stop) and the scalp channels it is on; the EKG leak is one event per session whose ``strength`` is the
largest leak coefficient. :func:`window_factors` turns it into one boolean column per planted factor for label rows
(the class pattern under the labelled central 10 s, its side, region and frequency band, each artifact kind in the
50 s window); :func:`factor_locations` says on which chains and at which seconds of the window a factor lies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import (
    CHAIN_NAMES,
    CHAINS,
    CLASSES,
    EEG_TO_SPEC_SHIFT,
    EEG_WINDOW_SECONDS,
    LABEL_CENTRE_SECONDS,
    LEFT_CHANNELS,
    RIGHT_CHANNELS,
    SCALP_CHANNELS,
)
from hms.data.labels import vote_probabilities
from hms.errors import DataError
from hms.signal.bands import BANDS
from hms.synth.structure import Structure

EVENTS_FILE = "events.csv"
EVENT_COLUMNS = (
    "spectrogram_id",
    "kind",
    "role",
    "start",
    "stop",
    "channels",
    "side",
    "region",
    "freq_hz",
    "strength",
)
#: every artifact kind the simulator plants (``ekg``: the QRS leak into temporal / occipital channels)
ARTIFACT_KINDS = ("blink", "muscle", "pop", "ekg", "flat", "gap")
PATTERN_CLASSES = tuple(c for c in CLASSES if c != "other")
SIDES = ("left", "right", "bilateral")
REGIONS = ("frontal", "temporal", "central", "parieto-occipital", "diffuse")
EKG_VISIBLE = 0.07  # a session's EKG leak counts from this coefficient (the largest of six uniform 0 - 0.08 draws)
MIN_PATTERN_OVERLAP = 5.0  # seconds of the labelled central 10 s a pattern must cover to count for the window
_SIDE_CHANNELS = {"left": LEFT_CHANNELS, "right": RIGHT_CHANNELS, "bilateral": SCALP_CHANNELS}


def events_table(structure: Structure, notes: dict[int, dict]) -> pd.DataFrame:
    """Every planted episode and artifact of every session (``notes``: what ``session_signal`` recorded, by
    spectrogram_id)."""
    rows = []
    for plan in structure.sessions:
        note = notes[plan.spectrogram_id]
        for ep, ep_notes in zip(plan.episodes, note["episodes"], strict=True):
            for role, cls in (("main", ep.cls), ("secondary", ep.secondary)):
                drawn = ep_notes.get(role)
                if cls is None or CLASSES[cls] == "other" or drawn is None:
                    continue
                side = drawn.get("side", "bilateral")
                freq = drawn.get("freq_hz", np.nan)
                if "freq_end_hz" in drawn:  # an evolving seizure: its band is the geometric middle of the sweep
                    freq = float(np.sqrt(drawn["freq_hz"] * drawn["freq_end_hz"]))
                rows.append(
                    {
                        "spectrogram_id": plan.spectrogram_id,
                        "kind": CLASSES[cls],
                        "role": role,
                        "start": float(ep.start),
                        "stop": float(ep.stop),
                        "channels": ",".join(_SIDE_CHANNELS[side]),
                        "side": side,
                        "region": drawn.get("region", "diffuse"),
                        "freq_hz": freq,
                        "strength": float(ep.clarity),
                    }
                )
        artifacts = note["artifacts"]
        for event in artifacts.get("events", []):
            rows.append({"spectrogram_id": plan.spectrogram_id, "role": "artifact"} | event)
        rows.append(
            {
                "spectrogram_id": plan.spectrogram_id,
                "kind": "ekg",
                "role": "artifact",
                "start": 0.0,
                "stop": float(plan.length),
                "channels": "T3,T4,T5,T6,O1,O2",
                "strength": artifacts.get("ekg_leak", 0.0),
            }
        )
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def read_events(root: str | Path) -> pd.DataFrame:
    """``root/events.csv``, checked: ``DataError`` naming the file and the fix when missing or of other columns."""
    path = Path(root) / EVENTS_FILE
    fix = f"simulate again (python -m hms synth --out {root} ...); real data has no ground truth"
    if not path.is_file():
        raise DataError(f"{path}: missing; {fix}")
    events = pd.read_csv(path)
    if tuple(events.columns) != EVENT_COLUMNS:
        raise DataError(f"{path}: columns {list(events.columns)}, expected {list(EVENT_COLUMNS)}; {fix}")
    return events


def test_targets(root: str | Path, eeg_ids: np.ndarray) -> np.ndarray:
    """Vote shares (n, 6) of the test split's ``eeg_ids`` from the simulator's ``test_votes.csv``."""
    path = Path(root) / "test_votes.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing; simulate again (python -m hms synth --out {root} ...)")
    votes = pd.read_csv(path).set_index("eeg_id")
    missing = sorted(set(eeg_ids) - set(votes.index))
    if missing:
        raise DataError(f"{path}: no votes for test eeg_ids {missing[:5]}; simulate again")
    return vote_probabilities(votes.loc[eeg_ids])


def window_starts(rows: pd.DataFrame) -> np.ndarray:
    """Session second at which each label row's 50 s EEG window starts (the simulator centres both windows)."""
    return rows["spectrogram_label_offset_seconds"].to_numpy(dtype=float) + EEG_TO_SPEC_SHIFT


def _band(freq: float) -> str | None:
    for name, (lo, hi) in BANDS.items():
        if lo <= freq < hi:
            return name
    return None


def _overlap(events: pd.DataFrame, lo: float, hi: float) -> np.ndarray:
    return np.minimum(events["stop"].to_numpy(), hi) - np.maximum(events["start"].to_numpy(), lo)


def _main_pattern(patterns: pd.DataFrame, w0: float) -> pd.Series | None:
    """The main episode covering most of the window's labelled central 10 s (at least MIN_PATTERN_OVERLAP s)."""
    if patterns.empty:
        return None
    centre = w0 + (EEG_WINDOW_SECONDS - LABEL_CENTRE_SECONDS) / 2
    overlap = _overlap(patterns, centre, centre + LABEL_CENTRE_SECONDS)
    best = int(np.argmax(overlap))
    return patterns.iloc[best] if overlap[best] >= MIN_PATTERN_OVERLAP else None


def factor_names() -> list[str]:
    """Every factor :func:`window_factors` returns, in its column order."""
    return [
        *(f"pattern_{c}" for c in PATTERN_CLASSES),
        *(f"side_{s}" for s in SIDES),
        *(f"region_{r}" for r in REGIONS),
        *(f"band_{b}" for b in BANDS),
        *(f"artifact_{k}" for k in ARTIFACT_KINDS),
    ]


def window_factors(rows: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per planted factor (:func:`factor_names`), rows aligned with ``rows`` (label rows with
    ``spectrogram_id`` and ``spectrogram_label_offset_seconds``)."""
    by_session = dict(tuple(events.groupby("spectrogram_id")))
    empty = events.iloc[:0]
    out = []
    for spec_id, w0 in zip(rows["spectrogram_id"].to_numpy(), window_starts(rows), strict=True):
        session = by_session.get(spec_id, empty)
        flags = dict.fromkeys(factor_names(), False)
        main = _main_pattern(session[session["role"] == "main"], w0)
        if main is not None:
            flags[f"pattern_{main['kind']}"] = True
            flags[f"side_{main['side']}"] = True
            flags[f"region_{main['region']}"] = main["region"] in REGIONS
            band = _band(float(main["freq_hz"]))
            if band is not None:
                flags[f"band_{band}"] = True
        artifacts = session[session["role"] == "artifact"]
        present = artifacts[_overlap(artifacts, w0, w0 + EEG_WINDOW_SECONDS) > 0]
        for kind in ARTIFACT_KINDS:
            of_kind = present[present["kind"] == kind]
            flags[f"artifact_{kind}"] = bool(
                (of_kind["strength"] >= EKG_VISIBLE).any() if kind == "ekg" else len(of_kind)
            )
        out.append(flags)
    return pd.DataFrame(out, index=rows.index, columns=factor_names())


def artifact_loads(rows: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """How much of each artifact kind lies in each label row's 50 s window: the seconds its events cover (summed
    over events; EKG: seconds times the leak coefficient), one column per kind of :data:`ARTIFACT_KINDS`."""
    by_session = dict(tuple(events[events["role"] == "artifact"].groupby("spectrogram_id")))
    empty = events.iloc[:0]
    out = []
    for spec_id, w0 in zip(rows["spectrogram_id"].to_numpy(), window_starts(rows), strict=True):
        session = by_session.get(spec_id, empty)
        seconds = np.clip(_overlap(session, w0, w0 + EEG_WINDOW_SECONDS), 0, None)
        weight = np.where(session["kind"].eq("ekg"), session["strength"].fillna(0.0), 1.0)
        load = pd.Series(seconds * weight).groupby(session["kind"].to_numpy()).sum()
        out.append({kind: float(load.get(kind, 0.0)) for kind in ARTIFACT_KINDS})
    return pd.DataFrame(out, index=rows.index, columns=list(ARTIFACT_KINDS))


def chains_of(channels: str) -> tuple[str, ...]:
    """The bipolar chains that touch any of the comma-separated scalp ``channels``."""
    names = set(str(channels).split(","))
    return tuple(c for c in CHAIN_NAMES if any(a in names or b in names for a, b in CHAINS[c]))


Location = tuple[tuple[str, ...], float, float]  # (chains, first second, last second) within the 50 s window


def factor_locations(rows: pd.DataFrame, events: pd.DataFrame, factor: str) -> list[Location]:
    """Where ``factor`` lies in each label row's window: (chains, first second, last second) of the planted events
    behind it, window seconds 0-50 (empty chains where the factor is absent). Pattern-derived factors (class, side,
    region, band) locate the window's main pattern."""
    by_session = dict(tuple(events.groupby("spectrogram_id")))
    empty = events.iloc[:0]
    kind = factor.split("_", 1)[1] if factor.startswith("artifact_") else None
    out = []
    for spec_id, w0 in zip(rows["spectrogram_id"].to_numpy(), window_starts(rows), strict=True):
        session = by_session.get(spec_id, empty)
        if kind is None:
            main = _main_pattern(session[session["role"] == "main"], w0)
            hits = session.iloc[:0] if main is None else main.to_frame().T
        else:
            hits = session[(session["kind"] == kind) & (session["role"] == "artifact")]
            hits = hits[_overlap(hits, w0, w0 + EEG_WINDOW_SECONDS) > 0]
        if hits.empty:
            out.append(((), 0.0, 0.0))
            continue
        chains = tuple(sorted({c for ch in hits["channels"] for c in chains_of(ch)}, key=CHAIN_NAMES.index))
        t0 = float(max(0.0, hits["start"].astype(float).min() - w0))
        t1 = float(min(EEG_WINDOW_SECONDS, hits["stop"].astype(float).max() - w0))
        out.append((chains, t0, t1))
    return out
