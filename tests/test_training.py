import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY_TRAIN
from safetensors.torch import load_file

from hms.constants import VOTE_COLS
from hms.data import Competition
from hms.experiment import from_dict, load_config
from hms.families import AugmentConfig
from hms.families.spectrogram_cnn import WindowDataset
from hms.signal.config import FrontEndConfig
from hms.signal.image import panels_to_image, swap_panels
from hms.signal.prepare import CachedRecordings, prepare
from hms.train.rows import draw_size, epoch_rows, stage_rows, with_draw_key

ROOT = Path(__file__).resolve().parents[1]
TINY = TINY_TRAIN


@pytest.fixture(scope="module")
def tiny_cache(sim_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    cfg = FrontEndConfig(panel_height=16, panel_width=32)
    prepare(sim_dir, cache, cfg, workers=1)
    return CachedRecordings(cache, cfg)


def test_two_stage_selection_and_one_window_per_eeg(sim_dir):
    train = Competition(sim_dir).train()
    stage2 = stage_rows(train, 2, 10)
    assert (stage2[list(VOTE_COLS)].sum(axis=1) >= 10).all()
    assert len(stage_rows(train, 1, 10)) == len(train) and 0 < len(stage2) < len(train)
    a, b, c = epoch_rows(train, 1, 0), epoch_rows(train, 1, 0), epoch_rows(train, 1, 1)
    assert a.equals(b) and a["eeg_id"].is_unique and set(a["eeg_id"]) == set(train["eeg_id"])
    multi = train.groupby("eeg_id").size()
    if (multi > 3).any():
        assert not a.equals(c), "another epoch draws other windows"


def test_one_window_per_label_group_draws_each_copied_label_once(sim_dir):
    """``train.row_draw: group``: an epoch draws one row per (eeg_id, vote vector) group, so an eeg_id whose label
    was copied to many windows counts once per distinct label; the default draw (per eeg_id) is unchanged."""
    train = Competition(sim_dir).train()
    votes = [*VOTE_COLS]
    groups = train.groupby(["eeg_id", *votes]).ngroups
    assert train["eeg_id"].nunique() < groups < len(train)  # some eeg_ids carry several labels, most rows repeat
    drawn = epoch_rows(with_draw_key(train, "group"), 1, 0)
    assert len(drawn) == groups == draw_size(with_draw_key(train, "group"))
    assert not drawn.duplicated(["eeg_id", *votes]).any()
    assert epoch_rows(with_draw_key(train, "eeg"), 1, 0).drop(columns="draw_key").equals(epoch_rows(train, 1, 0))
    with pytest.raises(ValueError, match="row_draw"):
        with_draw_key(train, "window")


def test_swap_augmentation_keeps_the_label(sim_dir, tiny_cache):
    rows = Competition(sim_dir).train().head(4)
    plain = WindowDataset(rows, tiny_cache, AugmentConfig(swap_p=0.0, shift_seconds=0, mask_p=0.0))
    swapped = WindowDataset(rows, tiny_cache, AugmentConfig(swap_p=1.0, shift_seconds=0, mask_p=0.0))
    for i in range(len(rows)):
        a, b = plain[i], swapped[i]
        assert torch.equal(a["target"], b["target"])
        expected = swap_panels(tiny_cache.panels(rows.iloc[i].to_dict()))
        torch.testing.assert_close(b["inputs"], panels_to_image(expected, "stack8"))
        assert not torch.equal(a["inputs"], b["inputs"])


def test_masking_spares_the_central_10_seconds(sim_dir, tiny_cache):
    rows = Competition(sim_dir).train().head(6)
    ds = WindowDataset(rows, tiny_cache, AugmentConfig(swap_p=0.0, shift_seconds=0, mask_p=1.0, mask_stripes=3))
    clean = WindowDataset(rows, tiny_cache, None)
    changed = 0
    for i in range(len(rows)):
        a, b = clean[i]["inputs"][0], ds[i]["inputs"][0]
        changed += int(not torch.equal(a, b))
        eeg_half_centre = slice(32 + 16 - 4, 32 + 16 + 4)  # the EEG column's central 10 s (of 50 s) at width 32
        torch.testing.assert_close(a[:, eeg_half_centre], b[:, eeg_half_centre])
    assert changed > 0


def test_config_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        from_dict({"train": {"epochs": 3}})
    (tmp_path / "x.yaml").write_text("model:\n  name: test_vit\n  pretrained: null\n")
    cfg = load_config(tmp_path / "x.yaml", ["train.batch_size=8"])
    assert cfg.name == "x" and cfg.model.name == "test_vit" and cfg.train.batch_size == 8


def _run(args: list[str], env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"OMP_NUM_THREADS": "1"} | (env_extra or {})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, check=False)


def _train_args(sim_dir, models, cache, name, extra=()) -> list[str]:
    sets = [f"--set={s}" for s in [*TINY, f"cache={cache}", f"name={name}", *extra]]
    return [
        "-m",
        "hms",
        "train",
        "--config",
        str(ROOT / "configs" / "quick.yaml"),
        "--data",
        str(sim_dir),
        "--models-root",
        str(models),
        *sets,
    ]


def assert_same_weights(a: dict, b: dict) -> None:
    """Equal up to float noise: per tensor, the difference's norm within 1e-3 of the tensor's (+1e-4 for tensors near
    zero, such as biases) and no element off by 1e-3. Summing in another order (threads, all-reduce) perturbs the last
    bits, and a few hundred optimiser steps grow that to ~1e-4 on a rare element; a real difference (a missed gradient
    average, another batch order) moves whole tensors by percents."""
    assert a.keys() == b.keys()
    for k in a:
        diff = (a[k].float() - b[k].float()).norm()
        assert diff <= 1e-3 * a[k].float().norm() + 1e-4, (k, float(diff), float(a[k].float().norm()))
        assert (a[k].float() - b[k].float()).abs().max() <= 1e-3, k


@pytest.mark.slow
def test_ddp_two_processes_match_one(sim_dir, tmp_path):
    """torchrun with 2 CPU processes (gloo) reproduces the single-process weights."""
    cache, files = tmp_path / "cache", tmp_path / "files"
    single = _run(_train_args(sim_dir, tmp_path / "m1", cache, "tiny"), {"HMS_FILES_DIR": str(files)})
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = _run(
        [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29531",
            *_train_args(sim_dir, tmp_path / "m2", cache, "tiny"),
        ],
        {"HMS_FILES_DIR": str(files)},
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a, b = (
        load_file(str(tmp_path / "m1/tiny/fold0.safetensors")),
        load_file(str(tmp_path / "m2/tiny/fold0.safetensors")),
    )
    assert a.keys() == b.keys()
    assert_same_weights(a, b)  # gloo's all-reduce sums in another order
    oof1, oof2 = pd.read_parquet(tmp_path / "m1/tiny/oof.parquet"), pd.read_parquet(tmp_path / "m2/tiny/oof.parquet")
    np.testing.assert_allclose(oof1[list(VOTE_COLS)], oof2[list(VOTE_COLS)], atol=1e-4)
    board = pd.read_csv(files / "leaderboard.csv")
    assert len(board) == 2 and (board["experiment"] == "tiny").all()
    assert (files / "LEADERBOARD.md").read_text().count("| tiny |") == 2


def test_resume_after_a_kill_gives_the_same_weights(sim_dir, tmp_path):
    from hms.train import loop
    from hms.train.run import run_experiment

    cfg = load_config(ROOT / "configs" / "quick.yaml", [*TINY, f"cache={tmp_path / 'cache'}", "name=r"])
    run_experiment(cfg, sim_dir, tmp_path / "full", files_dir=tmp_path / "files")
    original = loop.epoch_rows

    def killed(rows, seed, epoch):
        if epoch == 1:
            raise KeyboardInterrupt("killed during the second epoch")
        return original(rows, seed, epoch)

    loop.epoch_rows = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            run_experiment(cfg, sim_dir, tmp_path / "resumed", files_dir=tmp_path / "files")
    finally:
        loop.epoch_rows = original
    assert (tmp_path / "resumed/r/fold0.state.pt").is_file()
    killed_seconds = torch.load(tmp_path / "resumed/r/fold0.state.pt", weights_only=True)["fold_seconds"]
    assert killed_seconds > 0
    run_experiment(cfg, sim_dir, tmp_path / "resumed", resume=True, files_dir=tmp_path / "files")
    # the time the killed run spent counts: in the fold's sidecar and in the leaderboard's train_minutes
    sidecar = json.loads((tmp_path / "resumed/r/fold0.json").read_text())
    assert sidecar["train_seconds"] >= round(killed_seconds, 1)
    board = pd.read_csv(tmp_path / "files" / "leaderboard.csv")
    assert board["train_minutes"].iloc[-1] * 60 >= killed_seconds - 0.6  # rounded to 0.01 min
    a = load_file(str(tmp_path / "full/r/fold0.safetensors"))
    b = load_file(str(tmp_path / "resumed/r/fold0.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def test_leaderboard_appends_survive_concurrency(tmp_path):
    code = (
        "import sys; from hms import leaderboard; "
        "[leaderboard.append({'experiment': f'e{sys.argv[1]}_{i}', 'oof_kl_golden': 0.5}, sys.argv[2]) "
        "for i in range(10)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(p), str(tmp_path)]) for p in range(3)]
    assert all(p.wait() == 0 for p in procs)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert len(board) == 30 and board["experiment"].is_unique


@pytest.mark.slow
def test_submission_from_trained_folds(sim_dir, real_dir, tiny_models, tmp_path):
    assert sorted(p.name for p in tiny_models.glob("fold*.safetensors")) == ["fold0.safetensors", "fold1.safetensors"]
    for data, n in ((sim_dir, len(pd.read_csv(sim_dir / "test.csv"))), (real_dir, 1)):
        out = tmp_path / f"sub_{n}.csv"
        run = _run(
            ["submission.py", "--data", str(data), "--models", str(tiny_models), "--out", str(out), "--stack", "cnn"]
        )
        assert run.returncode == 0, run.stderr[-2000:]
        assert "seconds per test EEG" in run.stdout
        sub = pd.read_csv(out)
        assert len(sub) == n and (sub[list(VOTE_COLS)].sum(axis=1) - 1).abs().max() < 1e-6
        assert sub[list(VOTE_COLS)].std().sum() > 0 or n == 1


def test_loader_workers_give_the_same_weights(sim_dir, tiny_models, tmp_path):
    """One DataLoader per stage with persistent workers reproduces the in-process loader (tiny_models, 0 workers)."""
    from hms.train.run import run_experiment

    cfg = load_config(
        ROOT / "configs" / "quick.yaml",
        [*TINY, "folds=[0]", f"cache={tmp_path / 'cache'}", "name=s", "train.num_workers=2"],
    )
    run_experiment(cfg, sim_dir, tmp_path / "models", files_dir=tmp_path / "files")
    a = load_file(str(tiny_models / "fold0.safetensors"))
    b = load_file(str(tmp_path / "models/s/fold0.safetensors"))
    assert_same_weights(a, b)  # workers build images with one torch thread: float noise only, as in the DDP test


def test_mixup_blends_inputs_targets_and_vote_weights_alike():
    from hms.train.mixup import mixup_batch

    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.dirichlet(np.ones(6), size=8)).float()
    inputs, weight = torch.randn(8, 3, 4, 4), torch.arange(1.0, 9.0)
    x, t, w = mixup_batch(inputs, target, weight, 0.5, np.random.default_rng(7))
    torch.testing.assert_close(t.sum(dim=1), torch.ones(8))  # each row is still a distribution
    assert (t >= 0).all() and not torch.equal(t, target)
    # one lam and one pairing for the whole batch: recover them from the weights and check the inputs agree
    again = np.random.default_rng(7)
    lam, perm = again.beta(0.5, 0.5), torch.from_numpy(again.permutation(8))
    torch.testing.assert_close(w, lam * weight + (1 - lam) * weight[perm])
    torch.testing.assert_close(x, lam * inputs + (1 - lam) * inputs[perm])
    assert w.min() >= weight.min() and w.max() <= weight.max()  # a vote weight between the two rows'
    with pytest.raises(ValueError, match="mixup_alpha"):
        from_dict({"train": {"mixup_alpha": -1}})


def test_mixup_trains_deterministically_and_changes_the_model(sim_dir, tiny_models, tmp_path):
    """The same seed with mixup gives the same weights twice; they differ from the run without it (tiny_models)."""
    from hms.train.run import run_experiment

    runs = []
    for name in ("m1", "m2"):
        cfg = load_config(
            ROOT / "configs" / "quick.yaml",
            [*TINY, "folds=[0]", f"cache={tmp_path / 'cache'}", f"name={name}", "train.mixup_alpha=0.5"],
        )
        run_experiment(cfg, sim_dir, tmp_path / "models", files_dir=tmp_path / "files")
        runs.append(load_file(str(tmp_path / f"models/{name}/fold0.safetensors")))
    for k in runs[0]:
        torch.testing.assert_close(runs[0][k], runs[1][k], atol=0, rtol=0)
    plain = load_file(str(tiny_models / "fold0.safetensors"))
    assert any(not torch.allclose(plain[k], runs[0][k]) for k in plain if plain[k].is_floating_point())
    board = pd.read_csv(tmp_path / "files" / "leaderboard.csv")
    assert set(board["experiment"]) == {"m1", "m2"} and board["oof_kl_all"].notna().all()


def test_a_label_group_draw_trains_from_the_config(sim_dir, tmp_path):
    from hms.train.run import run_experiment

    cfg = load_config(
        ROOT / "configs" / "quick.yaml",
        [*TINY, "folds=[0]", f"cache={tmp_path / 'cache'}", "name=g", "train.row_draw=group"],
    )
    assert cfg.train.row_draw == "group"
    scores = run_experiment(cfg, sim_dir, tmp_path / "models", files_dir=tmp_path / "files")
    assert np.isfinite(scores.set_index("part").loc["oof", "kl_all"])
    assert (tmp_path / "models/g/fold0.safetensors").is_file()
    assert pd.read_csv(tmp_path / "files" / "leaderboard.csv")["experiment"].tolist() == ["g"]


def test_pseudo_labels_come_from_the_teachers_own_fold_and_a_leaky_teacher_is_refused(sim_dir, tiny_models, tmp_path):
    """Fold k's low-vote rows get 0.1 * votes + 0.9 * the teacher's fold-k prediction, vote counts kept, the other
    rows untouched; a teacher whose fold-k model trained on any of the student's fold-k validation eeg_ids is refused
    before anything is labelled; a student trains from the config with a teacher."""
    import shutil

    from hms.data.labels import total_votes, vote_probabilities
    from hms.errors import DataError
    from hms.experiment import ExperimentDir
    from hms.predict import load_fold, run_rows
    from hms.train.pseudo import check_teacher_folds, pseudo_labelled
    from hms.train.run import run_experiment

    comp, teacher = Competition(sim_dir), ExperimentDir.of(tiny_models)
    train = comp.train().merge(teacher.read_folds()[["eeg_id", "fold"]], on="eeg_id")
    rows, valid = train[train["fold"] != 0], train.loc[train["fold"] == 0, "eeg_id"].unique()
    check_teacher_folds(teacher, 0, valid)
    min_votes = int(total_votes(rows).max())  # rows under the largest count are low-vote rows here
    out = pseudo_labelled(rows, comp, teacher, 0, (min_votes, 0.9))
    low = (total_votes(rows) < min_votes).to_numpy()
    assert 0 < low.sum() < len(rows)
    np.testing.assert_allclose(total_votes(out), total_votes(rows))  # the stage-1 weights are unchanged
    np.testing.assert_array_equal(out[~low][list(VOTE_COLS)], rows[~low][list(VOTE_COLS)])
    (own,), _, _ = run_rows(comp, rows[low].reset_index(drop=True), "train", [load_fold(teacher, 0)])
    expected = 0.1 * vote_probabilities(rows[low]) + 0.9 * own.probs
    np.testing.assert_allclose(vote_probabilities(out[low]), expected, rtol=0, atol=1e-6)  # float32 round-off

    leaky = ExperimentDir.of(shutil.copytree(tiny_models, tmp_path / "leaky" / "s"))
    folds = leaky.read_folds()
    folds.loc[folds["eeg_id"] == valid[0], "fold"] = 1  # the teacher's fold-0 model trained on that eeg_id
    folds.to_csv(leaky.folds_csv, index=False)
    with pytest.raises(DataError, match="would leak"):
        check_teacher_folds(leaky, 0, valid)

    cfg = load_config(
        ROOT / "configs" / "quick.yaml",
        [*TINY, "folds=[0]", f"cache={tmp_path / 'cache'}", "name=student", "train.pseudo_teacher=s"]
        + [f"train.stage2_min_votes={min_votes}"],
    )
    scores = run_experiment(cfg, sim_dir, tiny_models.parent, files_dir=tmp_path / "files")
    assert np.isfinite(scores.set_index("part").loc["oof", "kl_all"])
    with pytest.raises(ValueError, match="pseudo_share"):
        from_dict({"train": {"pseudo_share": 0}})


@pytest.mark.parametrize(
    "switch",
    ["model.swap_head=mean", "model.output=entmax15", "model.quality_mask=true", "frontend.transform=multitaper"]
    + ["frontend.transform=cwt"],
)
def test_a_model_or_front_end_switch_trains_from_the_config_and_reaches_submission(switch, sim_dir, tmp_path):
    """A swap-invariant head, an entmax output, a multitaper or wavelet spectrogram trains (prepare caches the
    variant), lands on the leaderboard, and submission.py reads its folds back (the sidecar records the switch, so
    the network and the front-end are rebuilt as trained)."""
    sys.path.insert(0, str(ROOT))
    import submission
    from hms.models.invariant import SwapInvariant
    from hms.predict import load_fold
    from hms.train.run import run_experiment

    cfg = load_config(
        ROOT / "configs" / "quick.yaml",
        [*TINY, "folds=[0]", f"cache={tmp_path / 'cache'}", "name=inv", switch],
    )
    scores = run_experiment(cfg, sim_dir, tmp_path / "models", files_dir=tmp_path / "files")
    assert np.isfinite(scores.set_index("part").loc["oof", "kl_all"])
    loaded = load_fold(tmp_path / "models" / "inv", 0)
    model = loaded.model
    assert loaded.frontend.transform == cfg.frontend.transform
    assert isinstance(model, SwapInvariant) == (switch == "model.swap_head=mean")
    assert isinstance(model.head, torch.nn.Sequential) and (type(model.head[-1]).__name__ == "LogEntmax") == (
        switch == "model.output=entmax15"
    )
    out = tmp_path / "submission.csv"
    assert (
        submission.main(["--data", str(sim_dir), "--experiment-dir", str(tmp_path / "models/inv"), "--out", str(out)])
        == 0
    )
    sub = pd.read_csv(out)
    np.testing.assert_allclose(sub[list(VOTE_COLS)].sum(axis=1), 1.0, atol=1e-5)
    assert len(sub) == len(Competition(sim_dir).test())
    assert pd.read_csv(tmp_path / "files" / "leaderboard.csv")["experiment"].tolist() == ["inv"]
