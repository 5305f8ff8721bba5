"""The simulated competition's structure: patients -> sessions (spectrograms) -> EEGs -> annotation events -> label
rows, with the oracle class probabilities and the expert votes drawn from them. No signals here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hms.constants import (
    CLASSES,
    CONSENSUS_NAMES,
    EEG_TO_SPEC_SHIFT,
    EEG_WINDOW_SECONDS,
    LABEL_CENTRE_SECONDS,
    N_CLASSES,
    SPEC_WINDOW_SECONDS,
    TRAIN_COLUMNS,
    VOTE_COLS,
)
from hms.synth import params as P


@dataclass(frozen=True)
class Episode:
    """A planted pattern over session seconds [start, stop)."""

    start: float
    stop: float
    cls: int  # index into CLASSES
    clarity: float  # 0..1: amplitude of the pattern and how surely experts recognise it
    secondary: int | None = None  # a weaker second pattern (ambiguous mixture)


@dataclass(frozen=True)
class EegPlan:
    eeg_id: int
    start: int  # seconds from the session (spectrogram) start
    length: int  # seconds


@dataclass
class SessionPlan:
    """One continuous recording: its organizer spectrogram covers [0, length) and its EEGs are slices of it."""

    spectrogram_id: int
    patient_id: int
    split: str  # "train" or "test"
    length: int  # seconds, even
    seed: int
    eegs: list[EegPlan] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)


@dataclass
class Structure:
    sessions: list[SessionPlan]
    train: pd.DataFrame  # train.csv
    test: pd.DataFrame  # test.csv
    test_votes: pd.DataFrame  # eeg_id + six vote counts of the test rows (kept outside the competition files)
    oracle: pd.DataFrame  # split, eeg_id, eeg_sub_id, population, six oracle probabilities


class _Ids:
    """Unique random ids in the real ranges."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used: set[int] = set()

    def __call__(self, low: int, high: int) -> int:
        while True:
            value = int(self.rng.integers(low, high))
            if value not in self.used:
                self.used.add(value)
                return value


def _lognormal_count(rng: np.random.Generator, median_sigma: tuple[float, float], cap: int | None = None) -> int:
    median, sigma = median_sigma
    value = max(1, int(round(np.exp(np.log(median) + sigma * rng.standard_normal()))))
    return min(value, cap) if cap else value


def _vote_count(rng: np.random.Generator, counts: dict[int, int], low: int = 0, high: int = 10**6) -> int:
    keys = np.array([k for k in counts if low <= k <= high])
    weights = np.array([counts[k] for k in keys], dtype=float)
    return int(rng.choice(keys, p=weights / weights.sum()))


def _step(rng: np.random.Generator) -> int:
    (w_short, p_short), (_, p_long) = P.STEP_MIX
    p = p_short if rng.random() < w_short else p_long
    return 2 * int(rng.geometric(p))


def oracle_probabilities(cls: int, clarity: float, secondary: int | None, gamma: float) -> np.ndarray:
    """The distribution experts vote from: clarity on the planted class, the rest on its usual confusions."""
    confusion = P.CONFUSION[cls].copy()
    if secondary is not None:
        confusion = 0.5 * confusion + 0.5 * np.eye(N_CLASSES)[secondary]
    p = clarity * np.eye(N_CLASSES)[cls] + (1 - clarity) * confusion
    p = p**gamma
    return p / p.sum()


def _draw_event(rng: np.random.Generator, class_prior: np.ndarray, high: bool) -> tuple[int, float, int | None]:
    cls = int(rng.choice(N_CLASSES, p=class_prior))
    a, b = P.CLARITY_BETA_HIGH if high else P.CLARITY_BETA_LOW
    clarity = float(rng.beta(a, b))
    secondary = None
    if rng.random() < P.SECONDARY_PATTERN_PROB:
        secondary = int(rng.choice([c for c in range(N_CLASSES) if c != cls], p=_without(P.CONFUSION[cls], cls)))
    return cls, clarity, secondary


def _without(p: np.ndarray, i: int) -> np.ndarray:
    q = np.delete(p, i) + 1e-3
    return q / q.sum()


def _episode_bounds(centres: list[float], rng: np.random.Generator) -> tuple[float, float]:
    half = LABEL_CENTRE_SECONDS / 2
    return centres[0] - half - rng.uniform(8, 40), centres[-1] + half + rng.uniform(8, 40)


def _trim_overlaps(episodes: list[Episode], centres: list[tuple[float, float]]) -> list[Episode]:
    """Cut overlapping neighbours at the midpoint between their label centres."""
    out = list(episodes)
    for i in range(1, len(out)):
        prev, cur = out[i - 1], out[i]
        if cur.start < prev.stop:
            mid = (centres[i - 1][1] + centres[i][0]) / 2
            out[i - 1] = Episode(prev.start, max(mid, prev.start + 1), prev.cls, prev.clarity, prev.secondary)
            out[i] = Episode(min(mid, cur.stop - 1), cur.stop, cur.cls, cur.clarity, cur.secondary)
    return out


def build_structure(
    n_patients: int, n_test_patients: int, seed: int, max_eegs_per_patient: int | None = None
) -> Structure:
    rng = np.random.default_rng(seed)
    ids = _Ids(rng)
    sessions: list[SessionPlan] = []
    rows: list[dict] = []
    oracle_rows: list[dict] = []
    test_rows: list[dict] = []
    test_votes: list[dict] = []
    patient_ids = [ids(56, 65_500) for _ in range(n_patients + n_test_patients)]

    for i, pid in enumerate(patient_ids):
        test_patient = i >= n_patients
        taste = rng.dirichlet(np.full(N_CLASSES, P.PATIENT_DIRICHLET_ALPHA))
        n_eegs = _lognormal_count(rng, P.EEGS_PER_PATIENT, max_eegs_per_patient)
        if test_patient:
            for _ in range(n_eegs):
                _add_test_eeg(rng, ids, pid, taste, sessions, test_rows, test_votes, oracle_rows)
            continue
        remaining = n_eegs
        while remaining > 0:
            size = min(remaining, int(rng.geometric(1 - P.EEGS_PER_SESSION_Q)))
            remaining -= size
            _add_train_session(rng, ids, pid, taste, size, sessions, rows, oracle_rows)

    train = pd.DataFrame(rows, columns=list(TRAIN_COLUMNS)).sort_values(["eeg_id", "eeg_sub_id"], kind="stable")
    train = train.reset_index(drop=True)
    test = pd.DataFrame(test_rows, columns=["spectrogram_id", "eeg_id", "patient_id"])
    oracle = pd.DataFrame(oracle_rows)
    return Structure(sessions, train, test, pd.DataFrame(test_votes), oracle)


def _class_prior(taste: np.ndarray, high: bool) -> np.ndarray:
    prior = (P.CLASS_PRIOR_HIGH if high else P.CLASS_PRIOR_LOW) * taste
    return prior / prior.sum()


def _add_train_session(
    rng: np.random.Generator,
    ids: _Ids,
    pid: int,
    taste: np.ndarray,
    n_eegs: int,
    sessions: list[SessionPlan],
    rows: list[dict],
    oracle_rows: list[dict],
) -> None:
    spec_id = ids(350_000, 2_147_000_000)
    session = SessionPlan(spec_id, pid, "train", 0, int(rng.integers(2**31)))
    cursor = EEG_TO_SPEC_SHIFT  # the first EEG starts 275 s into its spectrogram (offset 0 <-> offset 0)
    spec_sub = 0
    max_spec_offset = 0.0
    all_centres: list[tuple[float, float]] = []
    for _ in range(n_eegs):
        eeg_id = ids(568_000, 4_294_000_000)
        high = rng.random() < P.HIGH_POPULATION_SHARE
        n_rows = _lognormal_count(rng, P.ROWS_PER_EEG, 300)
        offsets = [0]
        for _ in range(n_rows - 1):
            offsets.append(offsets[-1] + _step(rng))
        # split rows into annotation events: each event's rows share one vote draw
        starts = [0] + [r for r in range(1, n_rows) if rng.random() < P.NEW_EVENT_PROB]
        bounds = list(zip(starts, [*starts[1:], n_rows], strict=True))
        for first, last in bounds:
            cls, clarity, secondary = _draw_event(rng, _class_prior(taste, high), high)
            gamma = P.SHARPEN_GAMMA_HIGH if high else P.SHARPEN_GAMMA_LOW
            oracle = oracle_probabilities(cls, clarity, secondary, gamma)
            counts = P.HIGH_VOTE_COUNTS if high else P.LOW_VOTE_COUNTS
            votes = rng.multinomial(_vote_count(rng, counts), oracle)
            centres = [cursor + offsets[r] + EEG_WINDOW_SECONDS / 2 for r in range(first, last)]
            start, stop = _episode_bounds(centres, rng)
            session.episodes.append(Episode(start, stop, cls, clarity, secondary))
            all_centres.append((centres[0], centres[-1]))
            for r in range(first, last):
                spec_offset = cursor + offsets[r] - EEG_TO_SPEC_SHIFT
                max_spec_offset = max(max_spec_offset, spec_offset)
                rows.append(
                    {
                        "eeg_id": eeg_id,
                        "eeg_sub_id": r,
                        "eeg_label_offset_seconds": float(offsets[r]),
                        "spectrogram_id": spec_id,
                        "spectrogram_sub_id": spec_sub,
                        "spectrogram_label_offset_seconds": float(spec_offset),
                        "label_id": ids(338_000, 4_294_000_000),
                        "patient_id": pid,
                        "expert_consensus": CONSENSUS_NAMES[int(np.argmax(votes))],
                        **dict(zip(VOTE_COLS, (int(v) for v in votes), strict=True)),
                    }
                )
                oracle_rows.append(
                    {"split": "train", "eeg_id": eeg_id, "eeg_sub_id": r, "population": "high" if high else "low"}
                    | dict(zip(CLASSES, oracle.tolist(), strict=True))
                )
                spec_sub += 1
        length = offsets[-1] + EEG_WINDOW_SECONDS
        session.eegs.append(EegPlan(eeg_id, cursor, length))
        cursor += length + 2 * int(rng.integers(0, 90))
    session.episodes = _trim_overlaps(session.episodes, all_centres)
    session.length = int(max_spec_offset) + SPEC_WINDOW_SECONDS
    session.length += session.length % 2
    sessions.append(session)


def _add_test_eeg(
    rng: np.random.Generator,
    ids: _Ids,
    pid: int,
    taste: np.ndarray,
    sessions: list[SessionPlan],
    test_rows: list[dict],
    test_votes: list[dict],
    oracle_rows: list[dict],
) -> None:
    """Test rows look like the high-vote population: one row per eeg_id, 50 s EEG, 600 s spectrogram, 3-20 votes."""
    spec_id = ids(350_000, 2_147_000_000)
    eeg_id = ids(568_000, 4_294_000_000)
    session = SessionPlan(spec_id, pid, "test", SPEC_WINDOW_SECONDS, int(rng.integers(2**31)))
    session.eegs.append(EegPlan(eeg_id, EEG_TO_SPEC_SHIFT, EEG_WINDOW_SECONDS))
    cls, clarity, secondary = _draw_event(rng, _class_prior(taste, True), True)
    oracle = oracle_probabilities(cls, clarity, secondary, P.SHARPEN_GAMMA_HIGH)
    if rng.random() < 0.85:
        n_votes = _vote_count(rng, P.HIGH_VOTE_COUNTS, high=20)
    else:
        n_votes = _vote_count(rng, P.LOW_VOTE_COUNTS, low=3)
    votes = rng.multinomial(n_votes, oracle)
    centre = SPEC_WINDOW_SECONDS / 2
    start, stop = _episode_bounds([centre], rng)
    session.episodes.append(Episode(start, stop, cls, clarity, secondary))
    sessions.append(session)
    test_rows.append({"spectrogram_id": spec_id, "eeg_id": eeg_id, "patient_id": pid})
    test_votes.append({"eeg_id": eeg_id, **dict(zip(VOTE_COLS, (int(v) for v in votes), strict=True))})
    oracle_rows.append(
        {"split": "test", "eeg_id": eeg_id, "eeg_sub_id": 0, "population": "test"}
        | dict(zip(CLASSES, oracle.tolist(), strict=True))
    )
