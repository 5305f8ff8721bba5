"""Counterfactual windows for the shortcut audit (simulated data only): for each artifact kind the simulator can
plant, validation rows of every class heavy with it are drawn again without it (``hms.synth.simulate.write_without``:
the same session, every other random draw unchanged) into a scratch folder under the work dir's ``cache/`` (removed
after), and the fold's model embeds them. What the audit compares: the same window with and without the artifact."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd

from hms.constants import CLASSES
from hms.data import Competition
from hms.explain.shortcuts import Counterfactual, class_present, heavy
from hms.paths import writable
from hms.predict import LoadedFold, run_rows
from hms.synth.shortcuts import SHORTCUT_ARTIFACTS
from hms.synth.simulate import write_without

PER_CLASS = 24  # counterfactual rows per artifact kind and class (a seeded draw of the class's heavy rows)


def pick_rows(loads: pd.DataFrame, factors: pd.DataFrame, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Row indices to draw again without ``kind``: for each class, up to PER_CLASS of the rows showing it and heavy
    with the artifact (against the rows without the class), sorted."""
    load = loads[kind].to_numpy()
    picked: set[int] = set()
    for name in CLASSES:
        inside = class_present(factors, name)
        candidates = np.flatnonzero(inside & heavy(load, ~inside))
        if len(candidates):
            picked.update(int(i) for i in rng.choice(candidates, size=min(PER_CLASS, len(candidates)), replace=False))
    return np.array(sorted(picked), dtype=int)


def counterfactuals(
    comp: Competition, loaded: LoadedFold, rows: pd.DataFrame, truth: tuple[pd.DataFrame, pd.DataFrame], seed: int
) -> dict[str, Counterfactual]:
    """Per artifact kind, validation ``rows`` heavy with it (:func:`pick_rows`; ``truth``: their artifact loads and
    planted factors, aligned with them) and their embedding views without it."""
    loads, factors = truth
    rng = np.random.default_rng(seed)
    out = {}
    scratch = writable("cache")
    scratch.mkdir(parents=True, exist_ok=True)
    for kind in SHORTCUT_ARTIFACTS:
        pick = pick_rows(loads, factors, kind, rng)
        if not len(pick):
            continue
        chosen = rows.iloc[pick].reset_index(drop=True)
        with tempfile.TemporaryDirectory(prefix="counterfactual-", dir=scratch) as folder:
            sessions = [int(s) for s in chosen["spectrogram_id"].unique()]
            twin = Competition(write_without(comp.root, sessions, frozenset({kind}), folder))
            (outputs,), _, _ = run_rows(twin, chosen, "train", [loaded], desc=f"without {kind}")
        ok = np.isfinite(outputs.probs).all(axis=1)
        out[kind] = Counterfactual(pick[ok], np.asarray(outputs.views[ok], dtype=np.float32))
    return out
