from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hms.paths import SHARED_SAMPLE_DIR


@pytest.fixture(scope="session", autouse=True)
def _isolated_files_dir(tmp_path_factory: pytest.TempPathFactory):
    """Runs started by tests write their leaderboard rows to a temporary folder, never to the repo's files/."""
    import os

    os.environ["HMS_FILES_DIR"] = str(tmp_path_factory.mktemp("files"))
    yield


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real competition sample beside the checkout (../shared/hms_sample)."""
    if not (SHARED_SAMPLE_DIR / "train.csv").is_file():
        pytest.skip(f"real competition sample not found at {SHARED_SAMPLE_DIR} (it lives beside the checkout)")
    return SHARED_SAMPLE_DIR


@pytest.fixture(scope="session")
def real_train(real_dir: Path):
    from hms.data import read_train_csv

    return read_train_csv(real_dir / "train.csv")


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated competition, built once per test session."""
    from hms.synth import SynthConfig, simulate

    out = tmp_path_factory.mktemp("sim")
    simulate(out, SynthConfig(n_patients=6, n_test_patients=2, seed=3, max_eegs_per_patient=3), workers=1)
    return out


@pytest.fixture(scope="session")
def planted_sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sim_dir``'s simulation with a shortcut planted: every training seizure episode carries dense blinks."""
    from hms.synth import SynthConfig, simulate

    out = tmp_path_factory.mktemp("planted_sim")
    cfg = SynthConfig(6, 2, 3, 3, shortcuts=("seizure=blink",), shortcut_strength=1.0)
    simulate(out, cfg, workers=1)
    return out


TINY_TRAIN = [
    "model.name=test_vit",
    "model.pretrained=null",
    "model.drop_rate=0.0",
    "model.head_dropout=0.0",
    "frontend.panel_height=16",
    "frontend.panel_width=32",
    "n_folds=2",
    "folds=[0]",
    "train.batch_size=2",
    "train.epochs_stage1=2",
    "train.epochs_stage2=1",
    "train.stage2_min_votes=3",
    "augment.mask_p=0.0",
]


@pytest.fixture(scope="session")
def tiny_models(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny two-fold experiment trained once per session on the simulated data: models/<name>/ folder."""
    from hms.experiment import load_config
    from hms.train.run import run_experiment

    root = tmp_path_factory.mktemp("tiny_models")
    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(repo / "configs" / "quick.yaml", [*TINY_TRAIN, "folds=null", f"cache={root / 'cache'}", "name=s"])
    run_experiment(cfg, sim_dir, root / "models", files_dir=root / "files")
    return root / "models" / "s"


SAE_TINY = {"expansion": 4, "k": 4, "aux_k": 8, "dead_after": 64, "steps": 40, "batch_size": 32}


@pytest.fixture(scope="session")
def stacked(tiny_models: Path, sim_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny experiment with its SAE (all folds) and stackers: (models dir, SAE table, ablation, files dir)."""
    from hms.sae.run import run_sae
    from hms.stack.run import run_stack

    files = tmp_path_factory.mktemp("files")
    sae_table = run_sae("s", sim_dir, tiny_models.parent, SAE_TINY, k_curve=(2, 4), files_dir=files, progress=False)
    ablation = run_stack("s", sim_dir, tiny_models.parent, rounds=20, files_dir=files)
    return tiny_models, sae_table, ablation, files


@pytest.fixture(scope="session")
def stacked_positions(tiny_raw: Path, sim_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the tiny raw-EEG experiment (its network has per-position activations: time steps) with its
    per-position SAE (every position of the training windows kept) and stackers on the logits and on the logits +
    max-pooled per-position codes: (models dir, ablation)."""
    from hms.sae.position_run import run_position_sae
    from hms.sae.positions import PositionSettings
    from hms.stack.run import run_stack

    root = tmp_path_factory.mktemp("stacked_positions")
    shutil.copytree(tiny_raw, root / "raw")
    run_position_sae("raw", sim_dir, root, SAE_TINY, PositionSettings(per_window=0), progress=False)
    sets = ("logits", "logits_position_sae")
    ablation = run_stack("raw", sim_dir, root, sets, rounds=20, files_dir=root / "files")
    return root / "raw", ablation


TINY_RAW = [
    "family=raw_eeg",
    "model.filters=4",
    "model.blocks=2",
    "model.width=8",
    "model.dropout=0.0",
    "n_folds=2",
    "train.batch_size=4",
    "train.epochs_stage1=2",
    "train.epochs_stage2=1",
    "train.stage2_min_votes=3",
    "augment.channel_drop_p=0.5",
    "augment.reverse_p=0.5",
]

#: the raw-EEG-as-image family, tiny: timm's test network on the rendered image
TINY_RAW_IMAGE = [
    "family=raw_image",
    "model.name=test_efficientnet",
    "model.pretrained=null",
    "model.drop_rate=0.0",
    "model.head_dropout=0.0",
    "n_folds=2",
    "train.batch_size=4",
    "train.epochs_stage1=2",
    "train.epochs_stage2=1",
    "train.stage2_min_votes=3",
]


@pytest.fixture(scope="session")
def tiny_raw(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny two-fold raw-EEG experiment (configs/raw_quick.yaml, shrunk), trained once per session."""
    from hms.experiment import load_config
    from hms.train.run import run_experiment

    root = tmp_path_factory.mktemp("tiny_raw")
    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(repo / "configs" / "raw_quick.yaml", [*TINY_RAW, f"cache={root / 'cache'}", "name=raw"])
    run_experiment(cfg, sim_dir, root / "models", files_dir=root / "files")
    return root / "models" / "raw"


@pytest.fixture(scope="session")
def tiny_raw_image(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny raw-EEG-as-image experiment (configs/raw_image_quick.yaml, shrunk; fold 0 of two), trained once."""
    from hms.experiment import load_config
    from hms.train.run import run_experiment

    root = tmp_path_factory.mktemp("tiny_raw_image")
    repo = Path(__file__).resolve().parents[1]
    overrides = [*TINY_RAW_IMAGE, "folds=[0]", f"cache={root / 'cache'}", "name=img"]
    cfg = load_config(repo / "configs" / "raw_image_quick.yaml", overrides)
    run_experiment(cfg, sim_dir, root / "models", files_dir=root / "files")
    return root / "models" / "img"


def copy_test_split(sim_dir: Path, out: Path) -> Path:
    """The simulated competition's test split (test.csv, sample_submission.csv, test_eegs/, test_spectrograms/) copied
    into ``out``, so tests can break files without touching the session's data."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("test.csv", "sample_submission.csv"):
        shutil.copy(sim_dir / name, out / name)
    for name in ("test_eegs", "test_spectrograms"):
        shutil.copytree(sim_dir / name, out / name)
    return out


def fallback_reasons(warning: str) -> dict[int, str]:
    """eeg_id -> "reason -> outcome" from the summary warning of hms.infer (one line per distinct fallback)."""
    out = {}
    for line in warning.splitlines()[1:]:
        reason, ids = line.strip().rsplit(": eeg_id ", 1)
        out |= {int(i): reason for i in ids.split(", ")}
    return out
