from __future__ import annotations

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
