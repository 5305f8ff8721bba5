"""``python -m hms kaggle-package``: a Kaggle dataset folder (hms source, submission.py, the experiment's weights) and
a kernel folder (kernel-metadata.json with internet off + a one-cell notebook running submission.py).

Upload with the Kaggle CLI: ``kaggle datasets create -p OUT/dataset`` then ``kaggle kernels push -p OUT/kernel``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hms.blend.model import Blend
from hms.errors import OutputError
from hms.experiment import ExperimentDir
from hms.infer import check_experiment
from hms.io import write_json, write_text
from hms.paths import REPO_ROOT
from hms.stack.model import CNN_ONLY, default_feature_set, needs

COMPETITION = "hms-harmful-brain-activity-classification"
SOURCE_DIR = REPO_ROOT / "src" / "hms"


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


#: written into every OUT folder of kaggle-package; only such a folder (or an empty or new one) is written into
MARKER = ".hms-kaggle-package"


def claim_output(out: str | Path) -> tuple[Path, Path]:
    """OUT/dataset and OUT/kernel, emptied for a fresh package. ``OUT`` must be new, empty, or written by
    kaggle-package before (it holds ``MARKER``): a folder holding anything else is refused (``OutputError``), so the
    tool never deletes what it did not create."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out must be a folder (kaggle-package writes OUT/dataset and OUT/kernel)")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputError(
            f"{out}: the folder holds files kaggle-package did not write; it would replace OUT/dataset and "
            "OUT/kernel: pass a new or empty folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    write_text(
        "written by python -m hms kaggle-package: OUT/dataset and OUT/kernel are rebuilt on each run\n", out / MARKER
    )
    for folder in (out / "dataset", out / "kernel"):
        if folder.exists():
            shutil.rmtree(folder)
    return out / "dataset", out / "kernel"


def _code_dataset(dataset: Path) -> None:
    """The ``hms`` source and ``submission.py`` into a fresh dataset folder (both kernels ship them)."""
    for src in sorted(SOURCE_DIR.rglob("*.py")):
        _copy(src, dataset / "src" / "hms" / src.relative_to(SOURCE_DIR))
    _copy(REPO_ROOT / "submission.py", dataset / "submission.py")


def kernel_metadata(kernel_id: str, title: str, code_file: str, gpu: bool, slug: str, user: str) -> dict:
    """kernel-metadata.json of an offline notebook kernel with the code dataset and the competition attached."""
    return {
        "id": kernel_id,
        "title": title[:50],
        "code_file": code_file,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": gpu,
        "enable_internet": False,
        "dataset_sources": [f"{user}/{slug}"],
        "competition_sources": [COMPETITION],
        "kernel_sources": [],
    }


def notebook(command: str) -> dict:
    """A minimal nbformat-4 notebook with one markdown and one code cell."""
    return {
        "cells": [
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": ["HMS submission: offline inference with the `hms` package shipped in the attached dataset."],
            },
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": [command]},
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def package(
    experiments: str | list[str],
    out: str | Path,
    models_root: str | Path = "models",
    user: str = "USERNAME",
    feature_set: str | None = None,
    gpu: bool = False,
    blend: str | Path | None = None,
) -> dict[str, Path]:
    """Lay out OUT/dataset (code, every experiment's inference files, the blend file) and OUT/kernel; returns their
    paths. Refuses an experiment without fold weights or prior, and a blend of other experiments, before copying."""
    names = [experiments] if isinstance(experiments, str) else list(experiments)
    exps = [ExperimentDir.named(n, models_root) for n in names]
    for exp in exps:  # the folder whole, as submission.py will read it: weights, sidecars, prior, the stack's files
        check_experiment(exp, feature_set)
        if not exp.folds_with_weights():
            raise FileNotFoundError(f"{exp.root}: no fold weights; train it first (python -m hms train ...)")
    blend_model = Blend.load(blend) if blend is not None else None
    if blend_model is not None:
        blend_model.ordered([e.name for e in exps], str(blend))
    slug = ("hms-" + "-".join(e.name for e in exps)).lower().replace("_", "-")[:50]
    dataset, kernel = claim_output(out)
    _code_dataset(dataset)
    base = f"/kaggle/input/{slug}"
    args = []
    for exp in exps:
        chosen = feature_set or default_feature_set(exp)
        shipped = ExperimentDir(dataset / "models" / exp.name)
        sae_dirs = tuple(
            d for d, block in ((exp.sae_dir, "sae"), (exp.sae_positions_dir, "position_sae")) if needs(chosen, block)
        )
        for src in exp.inference_files(chosen, CNN_ONLY, sae_dirs):
            _copy(src, shipped.root / src.relative_to(exp.root))
        if chosen != CNN_ONLY:  # the shipped stack is the packaged experiment's default
            shipped.write_best(chosen, chosen_by="hms kaggle-package")
        args.append(f"--experiment-dir {base}/models/{exp.name}")
    if feature_set is not None:
        args.append(f"--stack {feature_set}")
    if blend_model is not None:
        blend_model.save(dataset / "blend.json")
        args.append(f"--blend {base}/blend.json")
    title = ", ".join(e.name for e in exps)
    write_json(
        {"title": f"HMS {title} weights and code"[:50], "id": f"{user}/{slug}", "licenses": [{"name": "CC0-1.0"}]},
        dataset / "dataset-metadata.json",
    )
    command = f"!python {base}/submission.py {' '.join(args)} --out /kaggle/working/submission.csv"
    kernel.mkdir(parents=True, exist_ok=True)
    write_json(notebook(command), kernel / "submission.ipynb", indent=1)
    meta = kernel_metadata(f"{user}/{slug}-submission", f"HMS {title} submission", "submission.ipynb", gpu, slug, user)
    write_json(meta, kernel / "kernel-metadata.json")
    return {"dataset": dataset, "kernel": kernel}


def package_training(
    out: str | Path,
    user: str = "USERNAME",
    config: str = "configs/kaggle_b0.yaml",
    gpu: bool = True,
    overrides: list[str] | None = None,
) -> dict[str, Path]:
    """A training kernel: OUT/dataset (the hms source, configs, notebooks) to attach read-only, and OUT/kernel with
    notebook 04_train set up for Kaggle (REPO = the attached dataset, the competition data as input, outputs in
    /kaggle/working). Upload as for the submission kernel; the trained models/ then sit in the kernel's output."""
    if not (REPO_ROOT / config).is_file():
        raise FileNotFoundError(f"{REPO_ROOT / config}: config not found; pass one of configs/*.yaml")
    slug = "hms-code"
    dataset, kernel = claim_output(out)
    _code_dataset(dataset)
    for folder, pattern in (("configs", "*.yaml"), ("notebooks", "*.ipynb")):
        for src in sorted((REPO_ROOT / folder).glob(pattern)):
            _copy(src, dataset / folder / src.name)
    write_json(
        {
            "title": "HMS code (hms package, configs, notebooks)",
            "id": f"{user}/{slug}",
            "licenses": [{"name": "CC0-1.0"}],
        },
        dataset / "dataset-metadata.json",
    )
    nb = json.loads((REPO_ROOT / "notebooks" / "04_train.ipynb").read_text())
    at = next(i for i, c in enumerate(nb["cells"]) if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {
        "REPO": f"/kaggle/input/{slug}",
        "CONFIG": config,
        "DATA": None,
        "MODELS": None,
        "OVERRIDES": list(overrides or []),
    }
    source = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    nb["cells"].insert(
        at + 1,
        {
            "cell_type": "code",
            "execution_count": None,
            "outputs": [],
            "metadata": {"tags": ["injected-parameters"]},
            "source": [source],
        },
    )
    kernel.mkdir(parents=True, exist_ok=True)
    write_json(nb, kernel / "train.ipynb", indent=1)
    meta = kernel_metadata(f"{user}/hms-train", "HMS train", "train.ipynb", gpu, slug, user)
    write_json(meta, kernel / "kernel-metadata.json")
    return {"dataset": dataset, "kernel": kernel}
