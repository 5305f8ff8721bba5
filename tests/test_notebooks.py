"""The six notebooks: paired with their percent scripts, each with a parameters cell, and each executed headless
(nbclient) on the tiny simulated data with its parameters injected after the parameters cell (as papermill does)."""

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import SAE_TINY, TINY_TRAIN

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = [
    "01_first_look",
    "02_EDA_votes",
    "03_working_with_spectrograms",
    "04_train",
    "05_sae_and_explain",
    "06_submission",
]
jupytext = pytest.importorskip("jupytext", reason="pip install -r requirements-dev.txt")


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_paired_and_has_a_parameters_cell(name):
    script, notebook = jupytext.read(NOTEBOOKS / f"{name}.py"), jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    assert _cells(script) == _cells(notebook), f"{name}: run  jupytext --sync notebooks/{name}.py"
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), "commit them without outputs"


def execute(name: str, parameters: dict):
    """Run a notebook with ``parameters`` injected after its parameters cell; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES[:3])
def test_data_notebooks_run(name, sim_dir):
    key = {"02_EDA_votes": ("TRAIN_CSV", str(sim_dir / "train.csv"))}.get(name, ("DATA", str(sim_dir)))
    nb = execute(name, dict([key]))
    assert _images(nb) >= 2, f"{name}: its figures did not render"


@pytest.mark.slow
def test_train_notebook_trains_a_fold(sim_dir, tmp_path):
    overrides = [*TINY_TRAIN, f"cache={tmp_path / 'cache'}", "name=nb"]
    execute("04_train", {"DATA": str(sim_dir), "MODELS": str(tmp_path / "models"), "OVERRIDES": overrides})
    assert (tmp_path / "models/nb/fold0.safetensors").is_file() and (tmp_path / "models/nb/scores.csv").is_file()


@pytest.mark.slow
def test_sae_and_explain_notebook_writes_the_report(stacked, sim_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(stacked[0], models / "s")
    explain = {"fold": 0, "top": 3, "cards_per_class": 1, "n_saliency": 2, "ig_steps": 2}
    parameters = {
        "EXPERIMENT": "s",
        "DATA": str(sim_dir),
        "MODELS": str(models),
        "SAE": SAE_TINY,
        "STACK_ROUNDS": 10,
        "EXPLAIN": explain,
        "OUT": str(tmp_path / "report"),
    }
    nb = execute("05_sae_and_explain", parameters)
    assert (tmp_path / "report/index.html").stat().st_size > 100_000
    assert (models / "s/stack/ablation.csv").is_file()
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "text/html" in o.get("data", {})]
    assert len(shown) >= 3  # SAE table, ablation, rankings (and the link)


@pytest.mark.slow
def test_submission_notebook_writes_a_submission(tiny_models, sim_dir, tmp_path):
    out = tmp_path / "submission.csv"
    execute(
        "06_submission",
        {
            "PYTHON": sys.executable,
            "SUBMISSION": str(ROOT / "submission.py"),
            "DATA": str(sim_dir),
            "MODELS": str(tiny_models),
            "OUT": str(out),
        },
    )
    assert len(pd.read_csv(out)) == len(pd.read_csv(sim_dir / "test.csv"))
