"""``python -m hms kaggle-package``: a Kaggle dataset folder (hms source, submission.py, the experiment's weights) and
a kernel folder (kernel-metadata.json with internet off + a one-cell notebook running submission.py).

Upload with the Kaggle CLI: ``kaggle datasets create -p OUT/dataset`` then ``kaggle kernels push -p OUT/kernel``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hms.io import write_json
from hms.paths import REPO_ROOT

COMPETITION = "hms-harmful-brain-activity-classification"
SOURCE_DIR = REPO_ROOT / "src" / "hms"


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def experiment_files(exp_dir: Path, feature_set: str) -> list[Path]:
    """What inference of ``exp_dir`` with ``feature_set`` reads: fold weights + sidecars, the prior, the config,
    and for a stack its best.json, LightGBM folds and (for SAE feature sets) the fold SAEs."""
    from hms.stack import CNN_ONLY, needs, stack_dir

    files = sorted(exp_dir.glob("fold*.safetensors")) + sorted(exp_dir.glob("fold*.json"))
    files += [p for p in (exp_dir / "prior.json", exp_dir / "config.yaml") if p.is_file()]
    if feature_set != CNN_ONLY:
        chosen = stack_dir(exp_dir) / feature_set
        files += sorted(chosen.glob("fold*.txt")) + sorted(chosen.glob("fold*.json"))
        files += [p for p in [stack_dir(exp_dir) / "ablation.csv"] if p.is_file()]
        if needs(feature_set, "sae"):
            files += sorted((exp_dir / "sae").glob("fold*.safetensors")) + sorted((exp_dir / "sae").glob("fold*.json"))
    return files


def notebook(command: str) -> dict:
    """A minimal nbformat-4 notebook with one markdown and one code cell."""
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["HMS submission: offline inference with the `hms` "
                                                                   "package shipped in the attached dataset."]},
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": [command]},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip


def package(experiment: str, out: str | Path, models_root: str | Path = "models", user: str = "USERNAME",
            feature_set: str | None = None, gpu: bool = False) -> dict[str, Path]:  # fmt: skip
    """Lay out OUT/dataset and OUT/kernel; returns their paths. Refuses an experiment without fold weights."""
    from hms.stack import CNN_ONLY, default_feature_set

    exp_dir = Path(models_root) / experiment
    if not list(exp_dir.glob("fold*.safetensors")):
        raise FileNotFoundError(f"{exp_dir}: no fold*.safetensors; train it first (python -m hms train ...)")
    if not (exp_dir / "prior.json").is_file():
        raise FileNotFoundError(f"{exp_dir / 'prior.json'}: missing; the training run writes it")
    feature_set = feature_set or default_feature_set(exp_dir)
    out = Path(out)
    slug = f"hms-{experiment}".lower().replace("_", "-")
    dataset, kernel = out / "dataset", out / "kernel"
    if dataset.exists():
        shutil.rmtree(dataset)
    for src in sorted(SOURCE_DIR.rglob("*.py")):
        _copy(src, dataset / "src" / "hms" / src.relative_to(SOURCE_DIR))
    _copy(REPO_ROOT / "submission.py", dataset / "submission.py")
    for src in experiment_files(exp_dir, feature_set):
        _copy(src, dataset / "models" / experiment / src.relative_to(exp_dir))
    if feature_set != CNN_ONLY:  # the shipped stack is the package's default
        write_json({"feature_set": feature_set, "chosen_by": "hms kaggle-package"},
                   dataset / "models" / experiment / "stack" / "best.json")  # fmt: skip
    write_json({"title": f"HMS {experiment} weights and code", "id": f"{user}/{slug}",
                "licenses": [{"name": "CC0-1.0"}]}, dataset / "dataset-metadata.json")  # fmt: skip
    base = f"/kaggle/input/{slug}"
    command = (f"!python {base}/submission.py --models {base}/models/{experiment} --stack {feature_set} "
               "--out /kaggle/working/submission.csv")  # fmt: skip
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "submission.ipynb").write_text(json.dumps(notebook(command), indent=1) + "\n")
    meta = {"id": f"{user}/{slug}-submission", "title": f"HMS {experiment} submission",
            "code_file": "submission.ipynb", "language": "python", "kernel_type": "notebook", "is_private": True,
            "enable_gpu": gpu, "enable_internet": False, "dataset_sources": [f"{user}/{slug}"],
            "competition_sources": [COMPETITION], "kernel_sources": []}  # fmt: skip
    write_json(meta, kernel / "kernel-metadata.json")
    return {"dataset": dataset, "kernel": kernel}
