"""How close the training loop runs to the model's own speed, on whatever device is present, in one run:

  1. ceiling: the network alone, forward + backward + optimizer step on batches already in memory (AMP on CUDA,
     channels_last for image families), after a warm-up;
  2. data path alone: the training DataLoader of one epoch (same workers, same augmentations), no model;
  3. the real loop: ``train_fold`` over one epoch of fold 0, timed inside the loop (setup excluded).

The last line is ``loop/ceiling = 0.NN`` (items/s of the loop over items/s of the ceiling).

    python benchmarks/bench_train.py --config configs/bench.yaml --data data/bench [--set train.batch_size=32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from hms.data import Competition, make_folds
from hms.experiment import ExperimentDir, load_config
from hms.families import get_family
from hms.train.distributed import device_for, loader_workers, prepare_workers, seed_everything
from hms.train.loop import train_fold, use_channels_last
from hms.train.loss import kl_loss
from hms.train.rows import epoch_rows


def ceiling(family, cfg, batch: dict, device: torch.device, steps: int) -> float:
    """Items/s of forward + backward + step of the network alone on one resident batch."""
    fmt = torch.channels_last if family.channels_last and use_channels_last(cfg, device) else torch.contiguous_format
    model = family.network(cfg.model, cfg.frontend, pretrained=False).to(device, memory_format=fmt).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = batch["inputs"].to(device)
    x = x.contiguous(memory_format=fmt) if x.ndim == 4 else x
    target, weight = batch["target"].to(device), batch["weight"].to(device)
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    def step() -> None:
        with torch.autocast(device.type, enabled=use_amp):
            loss = kl_loss(model(x)["logits"], target, weight)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * len(x) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/bench.yaml")
    ap.add_argument("--data", default="data/bench")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--steps", type=int, default=10, help="timed steps of the ceiling")
    args = ap.parse_args()
    cfg = load_config(args.config, [*args.set, "train.epochs_stage1=1", "train.epochs_stage2=0"])
    device = device_for(0)
    comp = Competition.from_arg(args.data)
    train = comp.train()
    family = get_family(cfg.family)
    family.prepare(comp, train, cfg.frontend, cfg.cache, prepare_workers(cfg.train.prepare_workers))
    source = family.train_source(comp, cfg.frontend, cfg.cache)
    folds = make_folds(train, cfg.n_folds, cfg.seed)
    train = train.merge(folds[["eeg_id", "fold"]], on="eeg_id")
    rows = train[train["fold"] != 0]
    workers = loader_workers(cfg.train.num_workers)
    draw = epoch_rows(rows, cfg.seed, 0)
    ds = family.train_dataset(draw, source, cfg.frontend, cfg.augment, seed=cfg.seed, epoch=0, vote_weighted=True)
    loader = DataLoader(ds, batch_size=cfg.train.batch_size, num_workers=workers, pin_memory=device.type == "cuda")
    t0 = time.perf_counter()
    n_items = 0
    first = None
    for batch in loader:
        first = first or batch
        n_items += len(batch["target"])
    data_rate = n_items / (time.perf_counter() - t0)
    seed_everything(cfg.seed)
    model_rate = ceiling(family, cfg, first, device, args.steps)
    stats: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        exp = ExperimentDir(Path(tmp) / cfg.name)
        exp.root.mkdir(parents=True)
        train_fold(cfg, 0, rows, source, exp, stats=stats)
    loop_rate = stats["items"] / stats["seconds"]
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"{cfg.name} ({cfg.family}), batch {cfg.train.batch_size}, {workers} loader workers, device {name}")
    print(f"  ceiling (model alone, fwd+bwd+step): {model_rate:8.1f} items/s")
    print(f"  data path alone (one epoch):         {data_rate:8.1f} items/s")
    print(
        f"  training loop (one epoch):           {loop_rate:8.1f} items/s  "
        f"(waiting for batches {100 * stats['wait_seconds'] / stats['seconds']:.0f} % of the loop)"
    )
    print(f"loop/ceiling = {loop_rate / model_rate:.2f}")


if __name__ == "__main__":
    main()
