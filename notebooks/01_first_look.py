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
# # 01 · First look at one label row
# A label row of `train.csv` points to 50 s of 19-channel scalp EEG (200 Hz) and to 10 minutes of the organizers'
# spectrogram, both centred on the same moment. This notebook shows both, the double-banana montage the experts read,
# and the stacked image the CNN sees.

# %% tags=["parameters"]
DATA = None  # competition folder; None: the Kaggle input when present, else the repo's sample_data/
EEG_ID = None  # None: the first label row
FRONTEND = {}  # front-end settings (hms.signal.config.FrontEndConfig), e.g. {"panel_height": 128}

# %%
import pandas as pd

from hms.data import Competition
from hms.plots import plot_montage, plot_panels
from hms.signal.config import FrontEndConfig
from hms.signal.image import eeg_panels, organizer_panels, stack_panels

comp = Competition.from_arg(DATA)
train = comp.train()
row = (train[train["eeg_id"] == EEG_ID] if EEG_ID else train).iloc[0].to_dict()
cfg = FrontEndConfig.from_dict(FRONTEND)
print(
    f"{comp.root}: {len(train)} label rows, {train['eeg_id'].nunique()} EEGs, {train['patient_id'].nunique()} patients"
)
pd.Series(row)

# %% [markdown]
# ## The EEG as the experts read it
# Bipolar double-banana chains (left/right lateral and parasagittal), band-passed; the central 10 s that the
# experts labelled are shaded.

# %%
eeg, nan_share = comp.clean_eeg_window(row, "train")
print("share of missing samples per channel:", nan_share.round(3).tolist())
_ = plot_montage(eeg, cfg)

# %% [markdown]
# ## The image the CNN sees
# Columns: the organizers' 10-minute spectrogram, the spectrogram we compute from the 50 s EEG; rows: the four
# chains (LL, RL, LP, RP). Time 0 is the label centre.

# %%
organizer = comp.clean_spectrogram_window(row, "train")
panels = stack_panels(organizer_panels(organizer, cfg), eeg_panels(eeg, cfg))
_ = plot_panels(panels, cfg, f"eeg {row['eeg_id']} · consensus {row['expert_consensus']}")
