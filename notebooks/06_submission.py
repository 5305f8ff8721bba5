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
# # 06 · Submission
# On Kaggle (internet off) attach the dataset made by `python -m hms kaggle-package` and point the paths at
# `/kaggle/input/...`; `submission.py` finds the competition data itself.

# %% tags=["parameters"]
PYTHON = "python"
SUBMISSION = "../submission.py"
DATA = "../data/sim"
MODELS = "../models/quick"
OUT = "submission.csv"

# %%
# !{PYTHON} {SUBMISSION} --data {DATA} --experiment-dir {MODELS} --out {OUT}
