"""``python -m hms train``: every fold of an experiment, then OOF predictions, scores and a leaderboard row."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import torch.distributed as dist

from hms import leaderboard
from hms.constants import VOTE_COLS
from hms.data import Competition, eeg_level, make_folds
from hms.data.labels import golden_prior
from hms.evaluation import record_run, score_table
from hms.experiment import ExperimentConfig, ExperimentDir, save_config
from hms.families import get_family
from hms.io import write_csv, write_parquet
from hms.paths import MODELS_DIR, writable
from hms.train.distributed import distributed, prepare_workers
from hms.train.loop import train_fold
from hms.train.oof import predict_eegs
from hms.train.pseudo import check_teacher_folds, pseudo_labelled

log = logging.getLogger(__name__)


def run_experiment(
    cfg: ExperimentConfig,
    data: str | Path | None = None,
    models_root: str | Path = MODELS_DIR,
    resume: bool = False,
    files_dir: str | Path | None = None,
) -> pd.DataFrame:
    rank, _ = distributed()
    started = time.perf_counter()
    leaderboard.check(files_dir)  # before any work: a broken leaderboard must not cost the run's row
    comp = Competition.from_arg(data)
    train = comp.train()
    exp = ExperimentDir.named(cfg.name, models_root)
    exp.root.mkdir(parents=True, exist_ok=True)
    family = get_family(cfg.family)
    cache = str(writable(cfg.cache))  # a relative cache lives under the work dir (the repo is read-only on Kaggle)
    folds = make_folds(train, cfg.n_folds, cfg.seed)  # training is the first stage: every later one reads these
    if rank == 0:
        save_config(cfg, exp.config_yaml)
        exp.write_prior(golden_prior(eeg_level(train)))
        exp.write_folds(folds)
        family.prepare(comp, train, cfg.frontend, cache, workers=prepare_workers(cfg.train.prepare_workers))
    if dist.is_initialized():
        dist.barrier()
    source = family.train_source(comp, cfg.frontend, cache)
    train = train.merge(folds[["eeg_id", "fold"]], on="eeg_id")
    oof_parts = []
    stats: dict[str, float] = {}
    for fold in cfg.fold_list():
        fold_rows = train[train["fold"] != fold]
        if cfg.train.pseudo_teacher:
            teacher = ExperimentDir.named(cfg.train.pseudo_teacher, models_root)
            check_teacher_folds(teacher, fold, train.loc[train["fold"] == fold, "eeg_id"].unique())
            settings = (cfg.train.stage2_min_votes, cfg.train.pseudo_share)
            fold_rows = pseudo_labelled(fold_rows, comp, teacher, fold, settings)
        model = train_fold(cfg, fold, fold_rows, source, exp, resume=resume, stats=stats)
        if rank == 0:
            pred = predict_eegs(
                model,
                family,
                train[train["fold"] == fold],
                source,
                cfg.frontend,
                cfg.train.batch_size,
                cfg.train.tta_swap,
            )
            oof_parts.append(pd.concat([pred[["eeg_id"]].assign(fold=fold), pred.drop(columns="eeg_id")], axis=1))
    if rank != 0:
        return pd.DataFrame()
    oof = pd.concat(oof_parts, ignore_index=True)
    eegs = eeg_level(train).merge(oof[["eeg_id", "fold"]], on="eeg_id")
    oof = eegs[["eeg_id", "patient_id", "golden"]].merge(oof, on="eeg_id")
    write_parquet(oof, exp.oof_parquet)
    scores = score_table(eegs, oof.set_index("eeg_id").loc[eegs["eeg_id"], list(VOTE_COLS)].to_numpy())
    write_csv(scores, exp.scores_csv)
    # with --resume, the time the interrupted runs spent on the resumed folds counts too
    minutes = (time.perf_counter() - started + stats.get("resumed_seconds", 0.0)) / 60
    model_name = getattr(cfg.model, "name", cfg.family)
    record_run(
        cfg.name,
        scores,
        comp.root,
        eegs[eegs["golden"]],
        minutes,
        files_dir,
        config_hash=cfg.config_hash(),
        seed=cfg.seed,
        folds=",".join(map(str, cfg.fold_list())),
        model=model_name,
    )
    overall = scores.set_index("part").loc["oof"]
    log.info("%s: OOF KL golden %.4f, all %.4f (%.1f min)", cfg.name, overall["kl_golden"], overall["kl_all"], minutes)
    return scores
