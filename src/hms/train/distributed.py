"""Process-group helpers: rank and world size under ``torchrun``, the device of a rank, seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
import torch.distributed as dist


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def loader_workers(configured: int | None, world: int = 1) -> int:
    """DataLoader workers per process: the configured number, else 0 without a GPU (the model and the data share the
    same cores there) and the machine's cores split over the processes, at most 8, with one."""
    if configured is not None:
        return configured
    if not torch.cuda.is_available():
        return 0
    return max(1, min(8, (os.cpu_count() or 1) // max(1, world) - 1))


def prepare_workers(configured: int | None) -> int:
    """Processes that build a training cache: the configured number, else every core."""
    return configured if configured is not None else max(1, os.cpu_count() or 1)


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
