"""benchmarks/gpu_suite.sh's CPU path: on a machine without a GPU the whole suite runs (tiny, ``--quick``) and prints
its tables: every family's training figures, submission.py's speed and the SAE fit speed."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_suite_runs_on_a_cpu_and_prints_every_family(tmp_path):
    env = os.environ | {"PYTHON": str(Path(os.sys.executable)), "WHEELS": str(tmp_path / "no_wheels")}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_suite.sh", "--quick", "--out", str(tmp_path / "suite")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    table = out.split("== training, per family")[1].split("== submission.py speed")[0]
    for family in ("spectrogram_cnn", "raw_eeg", "raw_image"):
        line = next(x for x in table.splitlines() if x.strip().startswith(family))
        assert "nan" not in line.lower(), line  # loop/ceiling, minutes and OOF were all measured
    assert "loop/ceiling" in table and "golden OOF KL" in table
    assert "(skipped)" not in out and "skipped for the budget" not in out
    assert "gpu_raw_image" in out.split("== submission.py speed ==")[1]  # every trained family was timed
    assert (tmp_path / "suite" / "files" / "leaderboard.csv").is_file() and not (ROOT / "gpu_suite_out").exists()
