"""The training loop: two stages, AdamW + one-cycle/cosine, gradient clipping, AMP on CUDA, resumable, and the same
code under ``torchrun --nproc_per_node N`` (DistributedDataParallel; gloo on CPU, nccl on GPU; rank 0 logs/saves).

Every random choice derives from (seed, epoch, eeg_id), never from the rank or worker, so N processes that split each
global batch reproduce the single-process run."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from hms.constants import VOTE_COLS
from hms.data.labels import dedupe_rows, eeg_average, total_votes
from hms.models.build import HMSModel, ModelConfig, build_model
from hms.signal.config import FrontEndConfig
from hms.signal.image import n_views, swap_image
from hms.signal.prepare import CachedRecordings
from hms.train.config import ExperimentConfig
from hms.train.dataset import WindowDataset, epoch_rows, stage_rows
from hms.train.loss import kl_loss

log = logging.getLogger(__name__)


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - for libraries that draw from the global RNG
    torch.manual_seed(seed)


def device_for(rank: int) -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


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


def _loader(ds, indices: list[int], batch: int, workers: int) -> DataLoader:
    return DataLoader(Subset(ds, indices), batch_size=batch, shuffle=False, num_workers=workers, drop_last=False)


def _scheduler(cfg: ExperimentConfig, optimizer, lr: float, total_steps: int):
    if cfg.train.schedule == "onecycle" and total_steps >= 10:  # one-cycle needs room for warm-up and decay
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, total_steps),
                                                   pct_start=0.2)  # fmt: skip
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))


def fold_paths(out: Path, fold: int) -> dict[str, Path]:
    return {
        k: out / f"fold{fold}{s}" for k, s in (("weights", ".safetensors"), ("meta", ".json"), ("state", ".state.pt"))
    }


def train_fold(
    cfg: ExperimentConfig,
    fold: int,
    train_rows: pd.DataFrame,
    cache: CachedRecordings,
    out: Path,
    resume: bool = False,
) -> HMSModel:
    """Train one fold through both stages; returns the trained (unwrapped) model. Rank 0 writes the files."""
    rank, world = distributed()
    device = device_for(rank)
    if cfg.train.batch_size % world:
        raise ValueError(f"train.batch_size={cfg.train.batch_size} must be divisible by the {world} processes")
    seed_everything(cfg.seed + fold)  # identical initial weights on every rank (DDP also broadcasts them)
    model = build_model(cfg.model).to(device)
    paths = fold_paths(out, fold)
    done = {"stage": 1, "epoch": 0}
    saved = None
    if resume and paths["state"].is_file():
        saved = torch.load(paths["state"], map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        done = {"stage": int(saved["stage"]), "epoch": int(saved["epoch"])}
        if rank == 0:
            log.info("fold %d: resuming after stage %d epoch %d", fold, done["stage"], done["epoch"])
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    global_epoch = 0
    for stage, epochs, lr in (
        (1, cfg.train.epochs_stage1, cfg.train.lr),
        (2, cfg.train.epochs_stage2, cfg.train.lr_stage2),
    ):
        rows = stage_rows(train_rows, stage, cfg.train.stage2_min_votes)
        n_eegs = rows["eeg_id"].nunique()
        step_items = global_batch(n_eegs, cfg.train.batch_size, world)
        if epochs == 0 or step_items == 0:
            if epochs and rank == 0:
                log.warning("fold %d: stage %d skipped, only %d eeg_ids", fold, stage, n_eegs)
            continue
        steps_per_epoch = n_eegs // step_items
        optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=cfg.train.weight_decay)
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
        for epoch in range(first, epochs):
            started = time.perf_counter()
            draw = epoch_rows(rows, cfg.seed + fold, global_epoch)
            order = np.random.default_rng([cfg.seed + fold, global_epoch, 1]).permutation(len(draw))
            draw = draw.iloc[order].reset_index(drop=True)
            ds = WindowDataset(draw, cache, cfg.augment, seed=cfg.seed + fold, epoch=global_epoch,
                               vote_weighted=cfg.train.vote_weighted and stage == 1)  # fmt: skip
            indices = _rank_indices(len(ds), step_items, rank, world)
            loader = _loader(ds, indices, step_items // world, cfg.train.num_workers)
            net.train()
            losses = []
            bar = tqdm(loader, desc=f"fold {fold} stage {stage} epoch {epoch + 1}/{epochs}", disable=rank != 0,
                       leave=False)  # fmt: skip
            for item in bar:
                image, target, weight = (item[k].to(device) for k in ("image", "target", "weight"))
                with torch.autocast(device.type, enabled=use_amp):
                    logits = net(image)["logits"]
                loss = kl_loss(logits, target, weight)
                log.debug("rank %d step: eeg_ids %s loss %.6f", rank, item["eeg_id"].tolist(), float(loss.detach()))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{np.mean(losses):.4f}")
            global_epoch += 1
            if rank == 0:
                log.info("fold %d stage %d epoch %d/%d: train KL %.4f, %.1f s", fold, stage, epoch + 1, epochs,
                         float(np.mean(losses)), time.perf_counter() - started)  # fmt: skip
                state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "stage": stage, "epoch": epoch + 1}  # fmt: skip
                tmp = paths["state"].with_suffix(".tmp")
                torch.save(state, tmp)
                os.replace(tmp, paths["state"])
        done = {"stage": stage + 1, "epoch": 0}
    if rank == 0:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(paths["weights"]))
        meta = {
            "fold": fold, "model": asdict(cfg.model), "frontend": cfg.frontend.to_dict(),
            "embed_dim": model.embed_dim, "experiment": cfg.name, "seed": cfg.seed,
        }  # fmt: skip
        paths["meta"].write_text(json.dumps(meta, indent=2) + "\n")
    if world > 1:
        dist.barrier()
    return model


def load_fold(weights: Path, device: torch.device | str = "cpu") -> tuple[HMSModel, FrontEndConfig]:
    """A shipped fold: safetensors weights + JSON sidecar (model and front-end settings). No download, no pickle."""
    meta = json.loads(Path(weights).with_suffix(".json").read_text())
    model = build_model(ModelConfig(**meta["model"]), pretrained=False)
    model.load_state_dict(load_file(str(weights), device=str(device)))
    model = model.to(device, memory_format=torch.channels_last)  # ~1.7x faster convolutions on CPU
    return model.eval(), FrontEndConfig.from_dict(meta["frontend"])


@torch.no_grad()
def forward_views(
    model: HMSModel, images: torch.Tensor, cfg: FrontEndConfig, tta_swap: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(batch, C, H, W) images -> (probabilities, per-view embeddings (batch, views, dim)); with ``tta_swap`` the
    probabilities are averaged with those of the hemisphere-swapped image and its embedding is the second view."""
    model.eval()
    device = next(model.parameters()).device
    fmt = torch.channels_last if images.ndim == 4 else torch.contiguous_format
    out = model(images.to(device).contiguous(memory_format=fmt))
    probs, embs = out["logits"].float().softmax(-1), [out["embedding"].float()]
    if tta_swap:
        out2 = model(swap_image(images, cfg.layout, n_views(cfg)).to(device).contiguous(memory_format=fmt))
        probs = (probs + out2["logits"].float().softmax(-1)) / 2
        embs.append(out2["embedding"].float())
    return probs.cpu().numpy(), torch.stack(embs, dim=1).cpu().numpy()


def predict_images(
    model: HMSModel, images: torch.Tensor, cfg: FrontEndConfig, tta_swap: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(batch, C, H, W) images -> (probabilities, embeddings), both averaged over the TTA views."""
    probs, views = forward_views(model, images, cfg, tta_swap)
    return probs, views.mean(axis=1)


def predict_eegs(model: HMSModel, rows: pd.DataFrame, cache: CachedRecordings, batch_size: int, tta_swap: bool,
                 split: str = "train") -> pd.DataFrame:  # fmt: skip
    """eeg_id-level predictions: every distinct-vote row of an eeg is predicted, averaged weighted by its votes."""
    rows = dedupe_rows(rows) if split == "train" else rows.reset_index(drop=True)
    ds = WindowDataset(rows, cache, augment=None, split=split)
    probs, embs = [], []
    for batch in DataLoader(ds, batch_size=batch_size, shuffle=False):
        p, e = predict_images(model, batch["image"], cache.cfg, tta_swap)
        probs.append(p)
        embs.append(e)
    probs_a, embs_a = np.concatenate(probs), np.concatenate(embs)
    w = total_votes(rows).to_numpy(dtype=float) if split == "train" else np.ones(len(rows))
    agg = eeg_average(rows["eeg_id"].to_numpy(), np.concatenate([probs_a, embs_a], axis=1), w)
    agg.columns = [*VOTE_COLS, *(f"emb_{i}" for i in range(embs_a.shape[1]))]
    return agg.reset_index()
