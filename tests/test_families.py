"""The model-family seam: a second family, defined here and nowhere in src/, trains a fold, writes its OOF, feeds the
embeddings cache and predicts through submission.py, with no code of the pipeline aware of it."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hms.constants import CHAIN_NAMES, VOTE_COLS
from hms.experiment import ExperimentDir, load_config
from hms.families import DEFAULT_FAMILY, get_family, list_families
from hms.signal.config import FrontEndConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from toy_family import _SWAP, TOY  # noqa: E402 - importing it registers the toy family

import submission  # noqa: E402


def test_registry_knows_the_builtin_and_refuses_unknown_names():
    assert DEFAULT_FAMILY in list_families() and get_family(None).name == DEFAULT_FAMILY
    with pytest.raises(ValueError, match="unknown model family 'nope'; registered"):
        get_family("nope")
    with pytest.raises(ValueError, match="unknown keys \\['name'\\]"):  # the toy family's model has no timm name
        load_config(None, [*TOY, "model.name=x"])


def test_toy_swap_is_the_swap_of_the_recording(sim_dir):
    from hms.data import Competition
    from hms.signal.hemisphere import swap_eeg, swap_organizer

    family = get_family("test_bandpower_linear")
    comp = Competition(sim_dir)
    row = comp.train().iloc[0].to_dict()
    eeg, spec, _ = comp.load_windows(row)
    x = family.inputs([eeg], [spec], FrontEndConfig())
    swapped = family.inputs([swap_eeg(eeg)], [swap_organizer(spec)], FrontEndConfig())
    torch.testing.assert_close(family.swap(x, None), swapped, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(family.swap(family.swap(x, None), None), x)


@pytest.fixture(scope="module")
def toy_experiment(sim_dir, tmp_path_factory) -> ExperimentDir:
    from hms.train.run import run_experiment

    root = tmp_path_factory.mktemp("toy")
    cfg = load_config(None, [*TOY, "name=toy", f"cache={root / 'cache'}"])
    run_experiment(cfg, sim_dir, root / "models", files_dir=root / "files")
    return ExperimentDir(root / "models" / "toy")


def test_toy_family_trains_a_fold_and_writes_its_oof(toy_experiment, sim_dir):
    exp = toy_experiment
    assert exp.folds_with_weights() == [0]
    assert json.loads(exp.sidecar(0).read_text())["family"] == "test_bandpower_linear"
    oof = pd.read_parquet(exp.oof_parquet)
    folds = exp.read_folds()
    assert set(oof["eeg_id"]) == set(folds.loc[folds["fold"] == 0, "eeg_id"])
    p = oof[list(VOTE_COLS)].to_numpy()
    assert np.isfinite(p).all() and np.abs(p.sum(axis=1) - 1).max() < 1e-5
    assert [c for c in oof.columns if c.startswith("emb_")] == [f"emb_{i}" for i in range(6)]
    scores = pd.read_csv(exp.scores_csv).set_index("part")
    assert np.isfinite(scores.loc["oof", "kl_all"])


def test_toy_family_feeds_the_embeddings_cache(toy_experiment, sim_dir):
    from hms.embed import EmbeddingCache

    cache = EmbeddingCache.build(toy_experiment, sim_dir)
    out = cache.fold(0)
    assert out.views.shape == (len(cache.rows), 2, 6)  # both TTA views of every label row, width 6
    assert np.isfinite(out.probs).all()


def test_toy_family_predicts_through_submission_py(toy_experiment, sim_dir, tmp_path, capsys):
    out = tmp_path / "sub.csv"
    rc = submission.main(["--data", str(sim_dir), "--experiment-dir", str(toy_experiment.root), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    sub = pd.read_csv(out)
    test = pd.read_csv(sim_dir / "test.csv")
    assert list(sub["eeg_id"]) == list(test["eeg_id"])
    p = sub[list(VOTE_COLS)].to_numpy()
    assert np.abs(p.sum(axis=1) - 1).max() < 1e-6
    prior = toy_experiment.read_prior()
    assert not np.allclose(p, prior, atol=1e-4), "the toy model's own predictions, not the prior fallback"


def test_old_sidecars_without_a_family_load_as_the_spectrogram_cnn(tiny_models, tmp_path):
    import shutil

    from hms.predict import load_fold

    exp = ExperimentDir(tmp_path / "old")
    shutil.copytree(tiny_models, exp.root)
    meta = json.loads(exp.sidecar(0).read_text())
    meta.pop("family")
    exp.sidecar(0).write_text(json.dumps(meta))
    assert load_fold(exp, 0).family.name == "spectrogram_cnn"
    assert set(CHAIN_NAMES) == set(_SWAP)
