"""EEG-CLIP: the InfoNCE loss, the offline text model, deterministic simulated reports, and the zero-shot path."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hms.constants import CLASSES

TINY_CLIP = {
    "name": "c",
    "folds": [0],
    "n_folds": 2,
    "epochs": 1,
    "batch_size": 4,
    "rows_per_eeg": 1,
    "dim": 8,
    "model": {"name": "test_vit", "pretrained": None, "drop_rate": 0.0, "head_dropout": 0.0},
    "frontend": {"panel_height": 16, "panel_width": 32},
}


def test_info_nce_is_lower_for_matched_pairs():
    from hms.clip.model import info_nce

    torch.manual_seed(0)
    eeg = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1)
    scale = torch.tensor(np.log(1 / 0.07))
    matched = info_nce(eeg, eeg, scale)
    shuffled = info_nce(eeg, eeg[torch.randperm(16)], scale)
    assert matched < shuffled
    assert matched < np.log(16) < shuffled  # better / worse than chance (uniform over the batch)


@pytest.mark.slow
def test_text_model_loads_offline_with_the_hub_disabled():
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n    raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
        "from hms.clip.text import embed_texts\n"
        "z = embed_texts(['left lateralized rhythmic delta activity', 'LRDA over the left hemisphere', "
        "'the patient ate breakfast'])\n"
        "import os; assert os.environ['HF_HUB_OFFLINE'] == '1'\n"
        "print(z.shape, float(z[0] @ z[1]), float(z[0] @ z[2]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    shape, related, unrelated = run.stdout.strip().rsplit(" ", 2)
    assert shape == "(3, 384)" and float(related) > float(unrelated) + 0.2


def test_reports_are_deterministic_and_follow_what_was_planted(sim_dir):
    from hms.synth import SynthConfig
    from hms.synth.reports import reports_table
    from hms.synth.signals import session_signal
    from hms.synth.structure import build_structure

    written = pd.read_csv(sim_dir / "reports.csv")
    ids = set(pd.read_csv(sim_dir / "train.csv")["eeg_id"]) | set(pd.read_csv(sim_dir / "test.csv")["eeg_id"])
    assert set(written["eeg_id"]) == ids and written["report"].str.len().gt(20).all()
    cfg = SynthConfig(n_patients=6, n_test_patients=2, seed=3, max_eegs_per_patient=3)  # the sim_dir fixture's
    structure = build_structure(cfg.n_patients, cfg.test_patients, cfg.seed, cfg.max_eegs_per_patient)
    notes = {}
    for plan in structure.sessions:
        notes[plan.spectrogram_id] = {}
        session_signal(plan, notes[plan.spectrogram_id])
    again = reports_table(structure, notes, cfg.seed)
    pd.testing.assert_frame_equal(again.fillna(""), written.fillna(""), check_dtype=False)
    accurate = again[(again["quality"] == "accurate") & again["side"].isin(["left", "right"])]
    for _, r in accurate.iterrows():
        assert r["side"] in r["report"].lower(), r["report"]
    # a region is named as a region; without one the side reads as a side ("over the left region" never)
    from hms.synth.reports import write_report

    facts = {
        "main_class": "lrda",
        "side": "left",
        "region": "diffuse",
        "freq_hz": 1.5,
        "alpha_hz": 10.0,
        "muscle_per_min": 0.0,
        "blinks_per_min": 0.0,
    }
    texts = pd.Series([write_report(facts, np.random.default_rng(s))[0] for s in range(60)])
    texts = pd.concat([texts, again["report"]])
    assert not texts.str.contains(r"(?:left|right|hemisphere|sided) region", regex=True).any()
    assert texts.str.contains("left").sum() >= 40  # accurate, unvague reports name the side without a region


def test_zero_shot_temperature_and_probabilities():
    from hms.clip.zeroshot import fit_temperature, read_prompts, zero_shot_probs
    from hms.paths import REPO_ROOT

    rng = np.random.default_rng(0)
    sims = rng.uniform(-1, 1, (300, 6))
    targets = zero_shot_probs(sims, 0.2)
    assert fit_temperature(sims, targets) == pytest.approx(0.2, rel=0.02)
    assert len(read_prompts(REPO_ROOT / "configs/clip_prompts.yaml")) == len(CLASSES)


def test_clip_trains_a_fold_and_writes_valid_zero_shot_probabilities(sim_dir, tmp_path):
    from hms.clip.model import ClipConfig
    from hms.clip.train import load_fold, run_clip

    table = run_clip(ClipConfig.from_dict(TINY_CLIP), sim_dir, tmp_path / "models", files_dir=tmp_path, progress=False)
    assert list(table["fold"]) == [0] and np.isfinite(table[["zero_shot_kl_all", "prior_kl_all"]].to_numpy()).all()
    out = tmp_path / "models/c/clip"
    with np.load(out / "fold0.npz") as z:
        p = z["zero_shot"]
        assert p.shape == (len(z["eeg_ids"]), 6) and (p >= 0).all() and np.abs(p.sum(axis=1) - 1).max() < 1e-9
        np.testing.assert_allclose(np.linalg.norm(z["eeg_z"], axis=1), 1, atol=1e-5)
    model, cfg = load_fold(out / "fold0.safetensors")
    assert cfg.dim == 8 and model.encode_text(torch.zeros(1, 384)).shape == (1, 8)
    assert "c_clip_zeroshot" in set(pd.read_csv(tmp_path / "leaderboard.csv")["experiment"])


def test_feature_words_follow_the_correlated_phrase():
    from hms.clip.describe import feature_words

    rng = np.random.default_rng(0)
    sims = rng.normal(size=(200, 3))
    codes = np.stack([np.clip(sims[:, 1], 0, None), np.zeros(200)], axis=1)  # feature 0 tracks phrase 1
    words = feature_words(codes, sims, ("alpha", "beta", "gamma"), top=1)
    assert words[0].startswith("beta (r 0.") and words[1] == ""


def test_explain_uses_a_clip_fold_for_words_and_retrieval(stacked, sim_dir, tmp_path):
    import shutil

    from hms.clip.model import ClipConfig
    from hms.clip.train import run_clip
    from hms.explain.run import run_explain

    models = tmp_path / "models"
    shutil.copytree(stacked[0], models / "s")
    run_clip(ClipConfig.from_dict(TINY_CLIP | {"name": "s"}), sim_dir, models, files_dir=tmp_path, progress=False)
    tables = run_explain("s", sim_dir, models, fold=0, top=2, out=tmp_path / "r", report=False, progress=False)
    live = tables["features"][tables["features"]["density"] > 0]
    assert live["words"].str.contains(r"\(r 0\.", regex=True).any()
    retrieval = pd.read_csv(tmp_path / "r/retrieval.csv")
    assert len(retrieval) and retrieval["own_rank"].ge(1).all() and retrieval["own_report"].str.len().gt(10).all()


def test_swapped_reports_exchange_the_sides_only():
    from hms.clip.train import swap_sides

    assert swap_sides("LPDs over the Left temporal region; right frontal; leftover") == (
        "LPDs over the Right temporal region; left frontal; leftover"
    )


def test_init_from_refuses_an_experiment_with_other_folds(tiny_models, sim_dir):
    from hms.clip.model import ClipConfig
    from hms.clip.train import init_model
    from hms.data import Competition
    from hms.data.errors import DataError
    from hms.data.folds import make_folds

    cfg = ClipConfig.from_dict(TINY_CLIP | {"init_from": str(tiny_models)})
    train = Competition(sim_dir).train()
    same = make_folds(train, 2, 42)
    model = init_model(cfg, 0, same)  # the tiny experiment's folds: its fold-0 CNN initialises the EEG side
    from safetensors.torch import load_file

    cnn = load_file(str(tiny_models / "fold0.safetensors"))
    key = next(iter(cnn))
    assert torch.equal(model.eeg.state_dict()[key], cnn[key])
    other = same.assign(fold=1 - same["fold"])
    with pytest.raises(DataError, match="differs from the CLIP folds"):
        init_model(cfg, 0, other)
    wider = ClipConfig.from_dict(
        TINY_CLIP | {"init_from": str(tiny_models), "frontend": {"panel_height": 16, "panel_width": 64}}
    )
    with pytest.raises(ValueError, match="front-end"):
        init_model(wider, 0, same)
