# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # 04 · Train
# Patient-grouped folds, the experiment's model family (stacked spectrogram images into a pretrained timm CNN, or the
# raw-EEG 1D network), soft labels from the votes and a KL loss; two stages (all rows, then the high-vote rows).
# Each run writes `models/<name>/` (fold weights as safetensors, OOF predictions, scores) and a row of the CV
# leaderboard. The same as `python -m hms train --config CONFIG --data DATA --set key=value ...`.
#
# **On Kaggle** attach the repo as a dataset (`python -m hms kaggle-package --train` builds it) and the competition
# data; set `REPO` to the dataset's folder. The repo stays read-only: models, the leaderboard and caches go to the
# work dir, `/kaggle/working` (elsewhere the repo itself, or `$HMS_WORK_DIR`).

# %% tags=["parameters"]
REPO = ".."  # the repo (or its Kaggle dataset copy, e.g. /kaggle/input/hms-code); the hms package is in REPO/src
CONFIG = "configs/quick.yaml"  # relative to REPO
DATA = None  # competition data root; None: the Kaggle input folder if present, else REPO/sample_data
MODELS = None  # where models/<name>/ goes; None: models/ under the work dir
OVERRIDES = []  # e.g. ["train.epochs_stage1=8", "model.name=tf_efficientnet_b0"]

# %%
import sys
from pathlib import Path

repo = Path(REPO).resolve()
if (repo / "src" / "hms").is_dir():
    sys.path.insert(0, str(repo / "src"))  # the hms next to this notebook (a read-only Kaggle dataset is fine)

import hms  # noqa: E402
from hms.experiment import load_config  # noqa: E402
from hms.leaderboard import show  # noqa: E402
from hms.paths import MODELS_DIR, work_dir  # noqa: E402
from hms.train.run import run_experiment  # noqa: E402

cfg = load_config(repo / CONFIG, OVERRIDES)
print(cfg)
print("hms from", Path(hms.__file__).parent, "· work dir (models, files, caches):", work_dir())

# %%
scores = run_experiment(cfg, DATA, MODELS or MODELS_DIR)
scores

# %% [markdown]
# ## The CV leaderboard
# Every run appends a row (`files/leaderboard.csv` under the work dir); the golden score uses the high-vote eeg_ids.

# %%
show().tail(10)
