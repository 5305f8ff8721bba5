"""``python -m hms train``: every fold of an experiment, then OOF predictions, scores and a leaderboard row."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from hms.baseline import score_table
from hms.constants import VOTE_COLS
from hms.data import Competition, eeg_level, make_folds
from hms.io import write_csv, write_parquet
from hms.paths import MODELS_DIR
from hms.signal.prepare import CachedRecordings, prepare
from hms.train.config import ExperimentConfig, save_config
from hms.train.loop import distributed, predict_eegs, train_fold

log = logging.getLogger(__name__)


def record_run(experiment: str, scores: pd.DataFrame, data_root: Path, golden_eegs: pd.DataFrame, minutes: float,
               files_dir: str | Path | None = None, **extra) -> None:  # fmt: skip
    """One leaderboard row: OOF scores, and on simulated data the Bayes floor, the class prior and the gap left."""
    from hms import leaderboard

    overall = scores.set_index("part").loc["oof"]
    refs = simulated_references(data_root, golden_eegs)
    gap = float("nan")
    if refs and refs["class_prior_kl"] > refs["bayes_floor"]:
        gap = (overall["kl_golden"] - refs["bayes_floor"]) / (refs["class_prior_kl"] - refs["bayes_floor"])
    row = {
        "experiment": experiment, "oof_kl_all": float(overall["kl_all"]), "oof_kl_golden": float(overall["kl_golden"]),
        "bayes_floor": refs.get("bayes_floor"), "class_prior_kl": refs.get("class_prior_kl"), "gap_left": gap,
        "train_minutes": round(minutes, 2), "notes": f"data={data_root}",
    } | extra  # fmt: skip
    leaderboard.append(row, files_dir)


def simulated_references(data_root: Path, eegs: pd.DataFrame) -> dict[str, float]:
    """Bayes floor and class prior on exactly the golden eeg_ids that were scored (simulated data only)."""
    oracle_csv = data_root / "oracle.csv"
    if not oracle_csv.is_file():
        return {}
    from hms.synth.simulate import bayes_floor

    train = pd.read_csv(data_root / "train.csv")
    train = train[train["eeg_id"].isin(eegs["eeg_id"])]
    ref = bayes_floor(train, pd.read_csv(oracle_csv))
    return {"bayes_floor": ref.get("bayes_floor", float("nan")), "class_prior_kl": ref.get("class_prior", float("nan"))}


def run_experiment(
    cfg: ExperimentConfig, data: str | Path | None = None, models_root: str | Path = MODELS_DIR, resume: bool = False,
    files_dir: str | Path | None = None,
) -> pd.DataFrame:  # fmt: skip
    rank, _ = distributed()
    started = time.perf_counter()
    comp = Competition.from_arg(data)
    train = comp.train()
    out = Path(models_root) / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    folds = make_folds(train, cfg.n_folds, cfg.seed)
    if rank == 0:
        from hms.baseline import golden_prior
        from hms.io import write_json

        save_config(cfg, out / "config.yaml")
        prior = dict(zip(VOTE_COLS, golden_prior(eeg_level(train)).tolist(), strict=True))
        write_json({"model": "class_prior", "prior": prior}, out / "prior.json")
        write_csv(folds, out / "folds.csv")
        prepare(comp.root, cfg.cache, cfg.frontend, workers=2, train=train)
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
    cache = CachedRecordings(cfg.cache, cfg.frontend)
    train = train.merge(folds[["eeg_id", "fold"]], on="eeg_id")
    oof_parts = []
    for fold in cfg.fold_list():
        model = train_fold(cfg, fold, train[train["fold"] != fold], cache, out, resume=resume)
        if rank == 0:
            pred = predict_eegs(model, train[train["fold"] == fold], cache, cfg.train.batch_size, cfg.train.tta_swap)
            oof_parts.append(pd.concat([pred[["eeg_id"]].assign(fold=fold), pred.drop(columns="eeg_id")], axis=1))
    if rank != 0:
        return pd.DataFrame()
    oof = pd.concat(oof_parts, ignore_index=True)
    eegs = eeg_level(train).merge(oof[["eeg_id", "fold"]], on="eeg_id")
    oof = eegs[["eeg_id", "patient_id", "golden"]].merge(oof, on="eeg_id")
    write_parquet(oof, out / "oof.parquet")
    scores = score_table(eegs, oof.set_index("eeg_id").loc[eegs["eeg_id"], list(VOTE_COLS)].to_numpy())
    write_csv(scores, out / "scores.csv")
    minutes = (time.perf_counter() - started) / 60
    record_run(cfg.name, scores, comp.root, eegs[eegs["golden"]], minutes, files_dir, config_hash=cfg.config_hash(),
               seed=cfg.seed, folds=",".join(map(str, cfg.fold_list())), model=cfg.model.name)  # fmt: skip
    overall = scores.set_index("part").loc["oof"]
    log.info("%s: OOF KL golden %.4f, all %.4f (%.1f min)", cfg.name, overall["kl_golden"], overall["kl_all"], minutes)
    return scores
