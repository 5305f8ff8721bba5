"""Commands of EEG-CLIP.

Each declares its name, its arguments and what it runs; ``hms.__main__`` only collects them. Each run imports its
stage when it runs (``python -m hms score`` must not pay for torch)."""

from __future__ import annotations

import argparse

from hms import config
from hms.commands.common import Command, models_root_arg


def _args_clip(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="configs/clip.yaml", help="settings (YAML; see hms.clip.model.ClipConfig)")
    p.add_argument("--data", default=None)
    models_root_arg(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting, e.g. folds=[0] epochs=4")


def _run_clip(args: argparse.Namespace) -> int:
    from hms.clip.model import ClipConfig  # deferred: the stage's heavy imports
    from hms.clip.train import run_clip
    from hms.experiment import ExperimentDir

    cfg = config.load(ClipConfig, args.config, args.set)
    table = run_clip(cfg, args.data, args.models_root)
    print(table.round(4).to_string(index=False))
    print(f"written: {ExperimentDir.named(cfg.name, args.models_root).clip_dir}")
    return 0


COMMANDS = [
    Command(
        "clip", "EEG-CLIP: align EEG embeddings with report text; zero-shot scores per fold", _args_clip, _run_clip
    ),
]
