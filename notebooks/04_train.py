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
# Patient-grouped folds, stacked spectrogram images, a pretrained timm CNN, soft labels from the votes and a KL
# loss; two stages (all rows, then the high-vote rows). Each run writes `models/<name>/` (fold weights as
# safetensors, OOF predictions, scores) and a row of the CV leaderboard. The same as
# `python -m hms train --config CONFIG --data DATA --set key=value ...`.

# %% tags=["parameters"]
CONFIG = "configs/quick.yaml"  # relative to the repo root
DATA = "data/sim"  # relative to the repo root (make run simulates it); an absolute path works too
MODELS = "models"
OVERRIDES = []  # e.g. ["train.epochs_stage1=8", "model.name=tf_efficientnet_b0"]

# %%
from hms.experiment import load_config
from hms.leaderboard import show
from hms.paths import REPO_ROOT
from hms.train.run import run_experiment

cfg = load_config(REPO_ROOT / CONFIG, OVERRIDES)
print(cfg)

# %%
scores = run_experiment(cfg, REPO_ROOT / DATA, REPO_ROOT / MODELS)
scores

# %% [markdown]
# ## The CV leaderboard
# Every run appends a row (`files/leaderboard.csv`); the golden score uses the high-vote eeg_ids only.

# %%
show().tail(10)
