"""The training loop: two stages, AdamW + one-cycle/cosine, gradient clipping, AMP on CUDA, resumable, and the same
code under ``torchrun --nproc_per_node N`` (DistributedDataParallel; gloo on CPU, nccl on GPU; rank 0 logs/saves).

Every random choice derives from (seed, epoch, eeg_id), never from the rank or worker, so N processes that split each
global batch reproduce the single-process run."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from hms.experiment import ExperimentConfig, ExperimentDir
from hms.families import ModelFamily, TrainSource, get_family
from hms.io import atomic_write
from hms.train.distributed import device_for, distributed, loader_workers, seed_everything
from hms.train.loss import kl_loss
from hms.train.mixup import mixup_batch
from hms.train.rows import draw_size, epoch_rows, stage_rows, with_draw_key

log = logging.getLogger(__name__)


def global_batch(n: int, batch: int, world: int) -> int:
    """Items per optimisation step: ``batch``, or for a stage smaller than one batch all rows (a multiple of world)."""
    return batch if n >= batch else n - n % world


def _rank_indices(n: int, batch: int, rank: int, world: int) -> list[int]:
    """Whole global batches only (drop-last), each split into ``world`` equal contiguous shards: this rank's items."""
    local = batch // world
    out = []
    for start in range(0, n - batch + 1, batch):
        out.extend(range(start + rank * local, start + (rank + 1) * local))
    return out


def use_channels_last(cfg: ExperimentConfig, device: torch.device) -> bool:
    """``train.channels_last``, or when unset: on CUDA only."""
    return cfg.train.channels_last if cfg.train.channels_last is not None else device.type == "cuda"


def epoch_draw(rows: pd.DataFrame, seed: int, epoch: int) -> pd.DataFrame:
    """An epoch's rows in training order: one row per draw group (``epoch_rows``), shuffled; deterministic."""
    draw = epoch_rows(rows, seed, epoch)
    order = np.random.default_rng([seed, epoch, 1]).permutation(len(draw))
    return draw.iloc[order].reset_index(drop=True)


class StageDataset(Dataset):
    """Every epoch of one stage behind one DataLoader (workers start once per stage and persist): an item key is
    (epoch, position); each process builds that epoch's draw and the family's dataset on first use."""

    def __init__(
        self,
        family: ModelFamily,
        rows: pd.DataFrame,
        source: TrainSource,
        cfg: ExperimentConfig,
        seed: int,
        vote_weighted: bool,
    ) -> None:
        self.family, self.rows, self.source, self.cfg = family, rows, source, cfg
        self.seed, self.vote_weighted = seed, vote_weighted
        self._epoch: int | None = None
        self._ds: Dataset | None = None

    def epoch_dataset(self, epoch: int) -> Dataset:
        if epoch != self._epoch:
            draw = epoch_draw(self.rows, self.seed, epoch)
            cfg = self.cfg
            self._ds = self.family.train_dataset(
                draw,
                self.source,
                cfg.frontend,
                cfg.augment,
                seed=self.seed,
                epoch=epoch,
                vote_weighted=self.vote_weighted,
            )
            self._epoch = epoch
        return self._ds

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, i = key
        return self.epoch_dataset(epoch)[i]

    def __len__(self) -> int:
        return draw_size(self.rows)


class EpochBatches(Sampler):
    """This rank's batches of (epoch, position) keys; set ``epoch`` before each pass."""

    def __init__(self, n: int, step_items: int, rank: int, world: int) -> None:
        self.indices = _rank_indices(n, step_items, rank, world)
        self.batch = step_items // world
        self.epoch = 0

    def __iter__(self):
        for start in range(0, len(self.indices), self.batch):
            yield [(self.epoch, i) for i in self.indices[start : start + self.batch]]

    def __len__(self) -> int:
        return (len(self.indices) + self.batch - 1) // self.batch


def _scheduler(cfg: ExperimentConfig, optimizer, lr: float, total_steps: int):
    if cfg.train.schedule == "onecycle" and total_steps >= 10:  # one-cycle needs room for warm-up and decay
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, total_steps), pct_start=0.2)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))


def _fold_seconds(saved: dict | None, started: float) -> float:
    """The fold's training time so far: earlier runs' (from the resumed state) + this run's."""
    return float(saved.get("fold_seconds", 0.0) if saved else 0.0) + time.perf_counter() - started


@dataclass
class FoldRun:
    """One fold's training in progress on this rank: its network (``model``, wrapped as ``net`` for DDP/compile),
    where it runs, and what a resumed run brought along (``saved``)."""

    cfg: ExperimentConfig
    fold: int
    rank: int
    world: int
    device: torch.device
    fmt: torch.memory_format
    model: torch.nn.Module
    net: torch.nn.Module
    stats: dict[str, float]
    started: float
    saved: dict | None = None

    @property
    def pin(self) -> bool:
        return self.device.type == "cuda"

    @property
    def use_amp(self) -> bool:
        return self.cfg.train.amp and self.device.type == "cuda"


def _start_fold(cfg: ExperimentConfig, fold: int, exp: ExperimentDir, resume: bool, stats: dict) -> FoldRun:
    """The fold's network on this rank's device, seeded by (seed + fold), resumed from its saved state with
    ``resume``."""
    started = time.perf_counter()
    rank, world = distributed()
    device = device_for(rank)
    if cfg.train.batch_size % world:
        raise ValueError(f"train.batch_size={cfg.train.batch_size} must be divisible by the {world} processes")
    family = get_family(cfg.family)
    seed_everything(cfg.seed + fold)  # identical initial weights on every rank (DDP also broadcasts them)
    fmt = torch.channels_last if family.channels_last and use_channels_last(cfg, device) else torch.contiguous_format
    model = family.network(cfg.model, cfg.frontend).to(device, memory_format=fmt)
    saved = None
    if resume and exp.train_state(fold).is_file():
        saved = torch.load(exp.train_state(fold), map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        stats["resumed_seconds"] = stats.get("resumed_seconds", 0.0) + float(saved.get("fold_seconds", 0.0))
        if rank == 0:
            log.info("fold %d: resuming after stage %d epoch %d", fold, int(saved["stage"]), int(saved["epoch"]))
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if cfg.train.compile:
        net = torch.compile(net)
    return FoldRun(cfg, fold, rank, world, device, fmt, model, net, stats, started, saved)


def _run_epoch(
    run: FoldRun, loader: DataLoader, steps: tuple, desc: str, mix: np.random.Generator | None = None
) -> list[torch.Tensor]:
    """One pass over the loader: the optimisation steps (``steps``: optimizer, scheduler, grad scaler), each batch
    mixed up first when ``mix`` (the epoch's generator) is given; returns the batch losses (left on the device)."""
    optimizer, scheduler, scaler = steps
    stats, device, pin = run.stats, run.device, run.pin
    run.net.train()
    losses = []
    bar = tqdm(loader, desc=desc, disable=run.rank != 0, leave=False)
    loop_start = wait_start = time.perf_counter()
    for item in bar:
        stats["wait_seconds"] = stats.get("wait_seconds", 0.0) + time.perf_counter() - wait_start
        inputs, target, weight = (item[k].to(device, non_blocking=pin) for k in ("inputs", "target", "weight"))
        if mix is not None:
            inputs, target, weight = mixup_batch(inputs, target, weight, run.cfg.train.mixup_alpha, mix)
        if inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=run.fmt)
        with torch.autocast(device.type, enabled=run.use_amp):
            logits = run.net(inputs)["logits"]
        loss = kl_loss(logits, target, weight)
        if log.isEnabledFor(logging.DEBUG):  # float() waits for the GPU: only when asked for
            log.debug("rank %d step: eeg_ids %s loss %.6f", run.rank, item["eeg_id"].tolist(), float(loss.detach()))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), run.cfg.train.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses.append(loss.detach())
        if len(losses) % 10 == 0:  # reading the loss waits for the GPU: not every step
            bar.set_postfix(loss=f"{float(torch.stack(losses).mean()):.4f}")
        stats["items"] = stats.get("items", 0) + len(target)
        wait_start = time.perf_counter()
    stats["seconds"] = stats.get("seconds", 0.0) + time.perf_counter() - loop_start
    return losses


def _save_state(run: FoldRun, exp: ExperimentDir, optimizer, scheduler, stage: int, epoch: int) -> None:
    """The resume state after a finished epoch (rank 0)."""
    state = {
        "model": run.model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "stage": stage,
        "epoch": epoch,
        "fold_seconds": _fold_seconds(run.saved, run.started),
    }
    atomic_write(exp.train_state(run.fold), lambda p: torch.save(state, p))


def _save_fold(run: FoldRun, exp: ExperimentDir) -> None:
    """The fold's weights and its sidecar (family, model and front-end settings; rank 0)."""
    cfg = run.cfg
    tensors = {k: v.contiguous() for k, v in run.model.state_dict().items()}
    atomic_write(exp.weights(run.fold), lambda p: save_file(tensors, str(p)))
    meta = {
        "fold": run.fold,
        "family": get_family(cfg.family).name,
        "model": asdict(cfg.model),
        "frontend": cfg.frontend.to_dict(),
        "embed_dim": run.model.embed_dim,
        "experiment": cfg.name,
        "seed": cfg.seed,
        "train_seconds": round(_fold_seconds(run.saved, run.started), 1),
    }
    exp.write_sidecar(run.fold, meta)


def train_fold(
    cfg: ExperimentConfig,
    fold: int,
    train_rows: pd.DataFrame,
    source: TrainSource,
    exp: ExperimentDir,
    resume: bool = False,
    stats: dict[str, float] | None = None,
) -> torch.nn.Module:
    """Train one fold through both stages; returns the trained (unwrapped) model. Rank 0 writes the files.
    ``stats`` (optional) accumulates this rank's loop: items, seconds, and seconds spent waiting for batches, and
    ``resumed_seconds``: the fold's training time spent by earlier runs that this one resumes (from its state)."""
    run = _start_fold(cfg, fold, exp, resume, stats if stats is not None else {})
    saved, family, rank, world = run.saved, get_family(cfg.family), run.rank, run.world
    done = {"stage": int(saved["stage"]), "epoch": int(saved["epoch"])} if saved else {"stage": 1, "epoch": 0}
    workers = loader_workers(cfg.train.num_workers, world)
    scaler = torch.amp.GradScaler("cuda", enabled=run.use_amp)
    global_epoch = 0
    for stage, epochs, lr in (
        (1, cfg.train.epochs_stage1, cfg.train.lr),
        (2, cfg.train.epochs_stage2, cfg.train.lr_stage2),
    ):
        rows = with_draw_key(stage_rows(train_rows, stage, cfg.train.stage2_min_votes), cfg.train.row_draw)
        n_items = draw_size(rows)
        step_items = global_batch(n_items, cfg.train.batch_size, world)
        if epochs == 0 or step_items == 0:
            if epochs and rank == 0:
                log.warning("fold %d: stage %d skipped, only %d rows to draw from", fold, stage, n_items)
            continue
        steps_per_epoch = n_items // step_items
        optimizer = torch.optim.AdamW(run.net.parameters(), lr=lr, weight_decay=cfg.train.weight_decay)
        scheduler = _scheduler(cfg, optimizer, lr, epochs * steps_per_epoch)
        first = 0
        if stage < done["stage"]:
            global_epoch += epochs
            continue
        if stage == done["stage"] and done["epoch"] > 0 and saved is not None:
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            first = done["epoch"]
            global_epoch += first
        ds = StageDataset(family, rows, source, cfg, cfg.seed + fold, cfg.train.vote_weighted and stage == 1)
        batches = EpochBatches(n_items, step_items, rank, world)
        loader = DataLoader(
            ds, batch_sampler=batches, num_workers=workers, pin_memory=run.pin, persistent_workers=workers > 0
        )
        for epoch in range(first, epochs):
            started = time.perf_counter()
            batches.epoch = global_epoch
            if workers == 0:
                ds.epoch_dataset(global_epoch)  # the draw is made here, in this process, before the first batch
            desc = f"fold {fold} stage {stage} epoch {epoch + 1}/{epochs}"
            mix = np.random.default_rng([cfg.seed, fold, global_epoch, rank]) if cfg.train.mixup_alpha > 0 else None
            losses = _run_epoch(run, loader, (optimizer, scheduler, scaler), desc, mix)
            global_epoch += 1
            if rank == 0:
                kl = float(torch.stack(losses).mean()) if losses else float("nan")
                log.info("%s: train KL %.4f, %.1f s", desc, kl, time.perf_counter() - started)
                _save_state(run, exp, optimizer, scheduler, stage, epoch + 1)
        done = {"stage": stage + 1, "epoch": 0}
    if rank == 0:
        _save_fold(run, exp)
    if world > 1:
        dist.barrier()
    return run.model
