"""``python -m hms synth``: write a simulated competition in the exact real layout, plus its ground truth."""

from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from hms.constants import (
    CLASSES,
    EEG_CHANNELS,
    SAMPLE_RATE,
    SUBMISSION_COLUMNS,
    VOTE_COLS,
)
from hms.data.labels import eeg_level, vote_probabilities
from hms.data.stats import compare_table, describe_train
from hms.errors import DataError
from hms.io import write_csv, write_json, write_parquet
from hms.metric import score_arrays
from hms.signal.organizer import DEFAULT_PARAMS as ORGANIZER_RECIPE
from hms.signal.organizer import organizer_table
from hms.synth.params import REAL_REFERENCE
from hms.synth.reports import reports_table
from hms.synth.shortcuts import Shortcut, ShortcutPlanter
from hms.synth.signals import session_signal
from hms.synth.structure import SessionPlan, Structure, build_structure
from hms.synth.truth import EVENTS_FILE, events_table

log = logging.getLogger(__name__)
TRUTH_FILES = ("oracle.csv", "test_votes.csv", "reports.csv", EVENTS_FILE, "synth_summary.json")


@dataclass(frozen=True)
class SynthConfig:
    n_patients: int = 30
    n_test_patients: int | None = None  # default: max(2, n_patients // 6)
    seed: int = 42
    max_eegs_per_patient: int | None = None
    shortcuts: tuple[str, ...] = ()  # planted shortcuts, "CLASS=ARTIFACT" (hms.synth.shortcuts); training split only
    shortcut_strength: float = 0.8  # chance that an episode of the class carries its artifact

    def __post_init__(self) -> None:
        if self.n_patients < 1:
            raise ValueError("n_patients must be at least 1")
        object.__setattr__(self, "shortcuts", tuple(str(Shortcut.parse(s)) for s in self.shortcuts))
        if not 0 < self.shortcut_strength <= 1:
            raise ValueError(f"shortcut strength must be in (0, 1], got {self.shortcut_strength}")
        if self.n_test_patients is not None and self.n_test_patients < 1:
            raise ValueError("n_test_patients must be at least 1")

    @property
    def test_patients(self) -> int:
        return self.n_test_patients if self.n_test_patients is not None else max(2, self.n_patients // 6)

    def planter(self) -> ShortcutPlanter | None:
        if not self.shortcuts:
            return None
        return ShortcutPlanter(tuple(Shortcut.parse(s) for s in self.shortcuts), self.shortcut_strength)

    def record(self) -> dict:
        """The config as the files record it (a clean simulation records no shortcut fields, as before they
        existed)."""
        out = asdict(self) | {"shortcuts": list(self.shortcuts)}
        if not self.shortcuts:
            del out["shortcuts"], out["shortcut_strength"]
        return out


def _write_session(
    plan: SessionPlan, out: Path, shortcuts: ShortcutPlanter | None, without: frozenset[str] = frozenset()
) -> dict:
    """Write the session's EEG and spectrogram files (``without``: those artifact kinds left out); return what was
    planted (for the reports)."""
    torch.set_num_threads(1)
    notes: dict = {}
    signal = session_signal(plan, notes, shortcuts, without)
    for eeg in plan.eegs:
        part = signal[eeg.start * SAMPLE_RATE : (eeg.start + eeg.length) * SAMPLE_RATE]
        df = pd.DataFrame(np.round(part, 2).astype(np.float32), columns=list(EEG_CHANNELS))
        write_parquet(df, out / f"{plan.split}_eegs" / f"{eeg.eeg_id}.parquet")
    # the organizers' train files store time as int64, the test file as int16
    spec = organizer_table(signal, np.int16 if plan.split == "test" else np.int64)
    write_parquet(spec, out / f"{plan.split}_spectrograms" / f"{plan.spectrogram_id}.parquet")
    return notes


def _write_session_star(args: tuple) -> dict:
    return _write_session(*args)


def bayes_floor(train: pd.DataFrame, oracle: pd.DataFrame) -> dict[str, float]:
    """Metric of the oracle probabilities (and of the golden prior) against the votes, eeg_id-level golden set."""
    rows = train.merge(oracle[oracle["split"] == "train"], on=["eeg_id", "eeg_sub_id"], how="left")
    n = rows[list(VOTE_COLS)].sum(axis=1).to_numpy()[:, None]
    weighted = pd.DataFrame(rows[list(CLASSES)].to_numpy() * n, columns=list(CLASSES))
    weighted["eeg_id"], weighted["_n"] = rows["eeg_id"].to_numpy(), n[:, 0]
    agg = weighted.groupby("eeg_id", sort=False).sum()
    expected = agg[list(CLASSES)].to_numpy() / agg[["_n"]].to_numpy()
    eegs = eeg_level(train)
    golden = eegs["golden"].to_numpy()
    solution = vote_probabilities(eegs)
    oracle_eeg = expected[agg.index.get_indexer(eegs["eeg_id"])]
    if not golden.any():
        return {"golden_eeg_ids": 0}
    sol, orc = solution[golden], oracle_eeg[golden]
    prior = np.tile(sol.mean(axis=0), (len(sol), 1))
    return {
        "golden_eeg_ids": int(golden.sum()),
        "bayes_floor": score_arrays(sol, orc / orc.sum(axis=1, keepdims=True)),
        "class_prior": score_arrays(sol, prior),
        "uniform": score_arrays(sol, np.full_like(sol, 1 / len(CLASSES))),
    }


def ground_truth_only(cfg: SynthConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulation's train.csv and events.csv without writing any file (the signals are drawn, as the events
    come from them, but no EEG, spectrogram or table is written): what a test of the ground truth needs."""
    structure = build_structure(cfg.n_patients, cfg.test_patients, cfg.seed, cfg.max_eegs_per_patient)
    notes: dict[int, dict] = {}
    for plan in structure.sessions:
        notes[plan.spectrogram_id] = {}
        session_signal(plan, notes[plan.spectrogram_id], cfg.planter())
    return structure.train, events_table(structure, notes)


def dry_run(cfg: SynthConfig) -> dict:
    """Build the labels only (no signals, no files): statistics and Bayes floor at any size in seconds."""
    return _summary(cfg, build_structure(cfg.n_patients, cfg.test_patients, cfg.seed, cfg.max_eegs_per_patient))


def _summary(cfg: SynthConfig, structure: Structure) -> dict:
    test_sol = structure.test_votes[list(VOTE_COLS)].to_numpy(dtype=float)
    test_oracle = structure.oracle[structure.oracle["split"] == "test"][list(CLASSES)].to_numpy()
    return {
        "config": cfg.record(),
        "stats": describe_train(structure.train),
        "train_golden": bayes_floor(structure.train, structure.oracle),
        "test": {
            "eeg_ids": len(structure.test),
            "bayes_floor": score_arrays(test_sol / test_sol.sum(axis=1, keepdims=True), test_oracle),
        },
    }


def _stamp(cfg: SynthConfig) -> dict:
    """What a simulation depends on: its config and the organizer recipe its spectrograms are made with."""
    return cfg.record() | {"organizer_recipe": asdict(ORGANIZER_RECIPE)}


def _up_to_date(out: Path, cfg: SynthConfig) -> bool:
    stamp = out / "synth_config.json"
    if not stamp.is_file() or json.loads(stamp.read_text()) != _stamp(cfg):
        return False
    return all((out / f).exists() for f in ("train.csv", "test.csv", "sample_submission.csv", *TRUTH_FILES))


def simulate(out: str | Path, cfg: SynthConfig, workers: int = 2, force: bool = False) -> dict:
    """Write the dataset into ``out`` (skipped when it already holds this exact config); return the summary."""
    out = Path(out)
    if not force and _up_to_date(out, cfg):
        log.info("%s already holds this simulation (seed %d); use --force to rebuild", out, cfg.seed)
        return json.loads((out / "synth_summary.json").read_text())
    structure = build_structure(cfg.n_patients, cfg.test_patients, cfg.seed, cfg.max_eegs_per_patient)
    for sub in ("train_eegs", "train_spectrograms", "test_eegs", "test_spectrograms"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / sub).glob("*.parquet"):
            stale.unlink()
    jobs = [(plan, out, cfg.planter()) for plan in structure.sessions]
    bar = tqdm(total=len(jobs), desc="synth sessions", unit="session")
    notes: dict[int, dict] = {}
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for (plan, _, _), planted in zip(jobs, pool.map(_write_session_star, jobs, chunksize=4), strict=True):
                notes[plan.spectrogram_id] = planted
                bar.update()
    else:
        for job in jobs:
            notes[job[0].spectrogram_id] = _write_session_star(job)
            bar.update()
    bar.close()
    write_csv(structure.train, out / "train.csv")
    write_csv(structure.test, out / "test.csv")
    sample = structure.test[["eeg_id"]].copy()
    for col in VOTE_COLS:
        sample[col] = 1 / len(VOTE_COLS)
    write_csv(sample[list(SUBMISSION_COLUMNS)], out / "sample_submission.csv")
    write_csv(structure.oracle, out / "oracle.csv")
    write_csv(structure.test_votes, out / "test_votes.csv")
    write_csv(reports_table(structure, notes, cfg.seed), out / "reports.csv")
    write_csv(events_table(structure, notes), out / EVENTS_FILE)
    summary = _summary(cfg, structure)
    write_json(summary, out / "synth_summary.json")
    write_json(_stamp(cfg), out / "synth_config.json")
    return summary


def read_config(root: str | Path) -> SynthConfig:
    """The config a simulation in ``root`` was written with (its ``synth_config.json``)."""
    path = Path(root) / "synth_config.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; simulate again (python -m hms synth --out {root} ...)")
    recorded = json.loads(path.read_text())
    names = {f.name for f in fields(SynthConfig)}
    return SynthConfig(**{k: tuple(v) if k == "shortcuts" else v for k, v in recorded.items() if k in names})


def write_without(root: str | Path, spectrogram_ids: list[int], without: frozenset[str], out: str | Path) -> Path:
    """The counterfactual of some training sessions of the simulation in ``root``: each session of
    ``spectrogram_ids`` drawn again, the same but for the artifact kinds ``without`` (ordinary and planted ones),
    written to ``out`` in the competition layout with ``root``'s train.csv (its rows of other sessions have no
    files). With ``without`` empty the files are those of ``root``."""
    root, out = Path(root), Path(out)
    cfg = read_config(root)
    wanted = {int(s) for s in spectrogram_ids}
    structure = build_structure(cfg.n_patients, cfg.test_patients, cfg.seed, cfg.max_eegs_per_patient)
    plans = [p for p in structure.sessions if p.spectrogram_id in wanted and p.split == "train"]
    missing = wanted - {p.spectrogram_id for p in plans}
    if missing:
        raise DataError(f"{root}: no training session with spectrogram_id {sorted(missing)[:5]} in its simulation")
    for sub in ("train_eegs", "train_spectrograms"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for plan in tqdm(plans, desc=f"draw without {', '.join(sorted(without)) or 'nothing'}", unit="session"):
        _write_session(plan, out, cfg.planter(), frozenset(without))
    shutil.copyfile(root / "train.csv", out / "train.csv")
    return out


def format_summary(summary: dict) -> str:
    table = compare_table(summary["stats"], {})
    table["real"] = pd.Series(REAL_REFERENCE)
    g, t = summary["train_golden"], summary["test"]
    lines = [
        "simulated vs real train.csv statistics:",
        table.to_string(float_format=lambda v: f"{v:.3f}"),
        f"train golden eeg_ids: {g.get('golden_eeg_ids', 0)}",
    ]
    if g.get("golden_eeg_ids"):
        lines.append(
            f"Bayes floor (oracle vs votes, eeg-level golden): {g['bayes_floor']:.4f}   "
            f"class prior: {g['class_prior']:.4f}   uniform: {g['uniform']:.4f}"
        )
    lines.append(f"test eeg_ids: {t['eeg_ids']}   test Bayes floor: {t['bayes_floor']:.4f}")
    return "\n".join(lines)
