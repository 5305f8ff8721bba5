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
# # 02 · The votes
# Each label row carries how many experts voted for each of the six patterns. This notebook looks at the vote
# distributions, the two annotator populations (few votes vs ten or more, which behave differently), and the
# repeated rows (many label rows of one EEG carry the very same votes).
#
# It reads the real `train.csv` from `../shared/hms_sample/` when it is there, else the simulated one.

# %% tags=["parameters"]
TRAIN_CSV = None  # None: the real train.csv beside the checkout when present, else sample_data/train.csv

# %%
from pathlib import Path

import numpy as np
import pandas as pd

from hms.constants import CLASSES, GOLDEN_MIN_VOTES, VOTE_COLS
from hms.data import read_train_csv
from hms.data.labels import dedupe_rows, total_votes, vote_probabilities
from hms.data.stats import describe_train
from hms.paths import SAMPLE_DATA_DIR, SHARED_SAMPLE_DIR
from hms.plots import subplots

candidates = [Path(TRAIN_CSV)] if TRAIN_CSV else [SHARED_SAMPLE_DIR / "train.csv", SAMPLE_DATA_DIR / "train.csv"]
path = next(p for p in candidates if p.is_file())
train = read_train_csv(path)
totals = total_votes(train)
probs = vote_probabilities(train)
print(f"{path}: {len(train)} rows, {train['eeg_id'].nunique()} EEGs, {train['patient_id'].nunique()} patients")
pd.Series(describe_train(train), dtype=object)

# %% [markdown]
# ## Vote distributions

# %%
fig, axes = subplots(1, 3, figsize=(15, 3.8))
train["expert_consensus"].value_counts().reindex(["Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other"]).plot.bar(
    ax=axes[0], title="consensus (rows)"
)
axes[1].hist(totals, bins=np.arange(0.5, totals.max() + 1.5), log=True)
axes[1].set(title="votes per row", xlabel="total votes")
axes[2].boxplot([probs[:, k] for k in range(len(CLASSES))], tick_labels=list(CLASSES))
_ = axes[2].set(title="vote share per class")

# %% [markdown]
# ## Two annotator populations
# Rows with at least `GOLDEN_MIN_VOTES` votes were labelled by a large panel; the rest by few experts, who are
# far more often unanimous and lean to different classes. Many solutions train on all rows first and on the
# high-vote rows last.

# %%
high = (totals >= GOLDEN_MIN_VOTES).to_numpy()
groups = pd.DataFrame(
    {
        f"< {GOLDEN_MIN_VOTES} votes": probs[~high].mean(axis=0),
        f">= {GOLDEN_MIN_VOTES} votes": probs[high].mean(axis=0),
    },
    index=list(CLASSES),
)
unanimous = probs.max(axis=1) == 1
print(f"unanimous rows: {unanimous[~high].mean():.1%} of low-vote rows, {unanimous[high].mean():.1%} of high-vote rows")
fig, ax = subplots(figsize=(7, 3.5))
groups.plot.bar(ax=ax, title="mean vote share by population")
groups

# %% [markdown]
# ## Repeated rows
# Consecutive label windows of one EEG usually carry the same votes: they are one opinion, not many. Training and
# scoring weight them accordingly (`hms.data.labels.dedupe_rows`).

# %%
unique = dedupe_rows(train)
per_eeg = train.groupby("eeg_id").size()
print(
    f"{len(train)} rows -> {len(unique)} distinct (eeg_id, votes) rows; "
    f"{train.duplicated(['eeg_id', *VOTE_COLS]).mean():.1%} of rows repeat an earlier row's votes"
)
fig, ax = subplots(figsize=(6, 3.2))
ax.hist(per_eeg, bins=50, log=True)
_ = ax.set(title="label rows per EEG", xlabel="rows")
