"""Training on Kaggle, reproduced locally: the repo as a read-only attached dataset, the simulated data as the
competition input folder, a separate writable working folder; notebook 04_train executed headless end to end."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_TRAIN

ROOT = Path(__file__).resolve().parents[1]
jupytext = pytest.importorskip("jupytext", reason="pip install -r requirements-dev.txt")


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_train_notebook_runs_in_the_kaggle_layout(sim_dir, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    from hms.kaggle import package_training

    package = package_training(tmp_path / "pkg", user="me", config="configs/quick.yaml")
    code = tmp_path / "input" / "hms-code"
    shutil.copytree(package["dataset"], code)
    data = tmp_path / "input" / "competition"
    shutil.copytree(sim_dir, data)
    work = tmp_path / "working"
    work.mkdir()
    for folder in (code, data):  # read-only as on Kaggle (root may still write: the snapshot below checks it)
        for p in folder.rglob("*"):
            p.chmod(0o555 if p.is_dir() else 0o444)
    before = _snapshot(code), _snapshot(data)
    monkeypatch.setenv("HMS_WORK_DIR", str(work))
    monkeypatch.delenv("HMS_FILES_DIR", raising=False)
    kernel_nb = json.loads((package["kernel"] / "train.ipynb").read_text())
    injected = [c for c in kernel_nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "/kaggle/input/hms-code" in "".join(injected[0]["source"])
    meta = json.loads((package["kernel"] / "kernel-metadata.json").read_text())
    assert meta["enable_internet"] is False and meta["dataset_sources"] == ["me/hms-code"]
    # the same notebook, its parameters pointed at the local stand-ins of /kaggle/input and /kaggle/working
    nb = nbformat.read(code / "notebooks" / "04_train.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    params = {
        "REPO": str(code),
        "CONFIG": "configs/quick.yaml",
        "DATA": str(data),
        "MODELS": None,
        "OVERRIDES": [*TINY_TRAIN, "name=kg"],
    }
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items())))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"hms from {code / 'src' / 'hms'} · work dir (models, files, caches): {work}" in printed
    assert (work / "models/kg/fold0.safetensors").is_file() and (work / "models/kg/oof.parquet").is_file()
    assert (work / "files/leaderboard.csv").is_file() and (work / "cache").is_dir()
    assert (_snapshot(code), _snapshot(data)) == before, "nothing may be written into the attached datasets"
    for p in (code, data):  # let pytest clean up
        for q in [p, *p.rglob("*")]:
            q.chmod(0o755)
