"""The model-family seam: a second family, defined here and nowhere in src/, trains a fold, writes its OOF, feeds the
embeddings cache and predicts through submission.py, with no code of the pipeline aware of it."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hms.constants import CHAIN_NAMES, EEG_CHANNELS, EEG_WINDOW_SAMPLES, SPEC_COLUMNS, SPEC_WINDOW_ROWS, VOTE_COLS
from hms.experiment import ExperimentDir, load_config
from hms.families import DEFAULT_FAMILY, ModelFamily, get_family, list_families, register_family
from hms.signal.bands import window_band_powers
from hms.signal.config import FrontEndConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import submission  # noqa: E402

_SWAP = {"LL": "RL", "RL": "LL", "LP": "RP", "RP": "LP"}


def _names() -> list[str]:
    eeg = np.zeros((EEG_WINDOW_SAMPLES, len(EEG_CHANNELS)), np.float32)
    spec = np.ones((SPEC_WINDOW_ROWS, len(SPEC_COLUMNS)), np.float32)
    return list(window_band_powers(eeg, spec, FrontEndConfig()))


@dataclass(frozen=True)
class LinearConfig:
    hidden: int = 8


class BandPowerLinear(nn.Module):
    def __init__(self, n_features: int, cfg: LinearConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(n_features)
        self.body = nn.Linear(n_features, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, len(VOTE_COLS))
        self.embed_dim = cfg.hidden

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = torch.tanh(self.body(self.norm(x)))
        return {"logits": self.head(embedding), "embedding": embedding}


@register_family
class BandPowerFamily(ModelFamily):
    """Toy family: a label row becomes its band-power vector (missing modality: zeros); left/right swap permutes it."""

    name = "test_bandpower_linear"
    model_config = LinearConfig

    def __init__(self) -> None:
        self.names = _names()
        index = {n: i for i, n in enumerate(self.names)}
        perm, sign = [], []
        for n in self.names:
            parts = n.split("_")
            swapped = "_".join(_SWAP.get(p, p) for p in parts)
            perm.append(index[swapped])
            sign.append(-1.0 if "asym" in parts else 1.0)
        self.perm, self.sign = torch.tensor(perm), torch.tensor(sign)

    def build(self, cfg: LinearConfig, pretrained: bool = True) -> nn.Module:
        return BandPowerLinear(len(self.names), cfg)

    def inputs(self, eegs, specs, frontend):
        rows = [window_band_powers(e, s, frontend) for e, s in zip(eegs, specs, strict=True)]
        return torch.tensor([[r.get(n, 0.0) for n in self.names] for r in rows], dtype=torch.float32)

    def swap(self, x, frontend):
        return x[..., self.perm] * self.sign


TOY = [
    "family=test_bandpower_linear",
    "model.hidden=6",
    "n_folds=2",
    "folds=[0]",
    "train.batch_size=4",
    "train.epochs_stage1=2",
    "train.epochs_stage2=1",
    "train.stage2_min_votes=3",
    "train.lr=0.01",
]


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
