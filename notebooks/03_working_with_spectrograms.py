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
# # 03 · Working with spectrograms
# Two spectrograms describe each label row: the organizers' (10 minutes, 2 s rows, 0.59-19.92 Hz, four chains) and
# ours, computed from the 50 s of raw EEG by the same front-end code that `submission.py` runs. This notebook
# rebuilds the organizers' spectrogram from the raw EEG (`hms.signal.organizer`), compares the two, and shows how
# the front-end settings (frequency scale, zoomed central view) change the image.

# %% tags=["parameters"]
DATA = None  # competition folder; None: the Kaggle input when present, else the repo's sample_data/
ROW = 0  # which label row of train.csv

# %%
import numpy as np

from hms.constants import CHAIN_NAMES, SPEC_FREQS
from hms.data import Competition, read_eeg, read_spectrogram
from hms.plots import plot_panels, subplots
from hms.signal.config import FrontEndConfig
from hms.signal.image import eeg_panels, organizer_panels, stack_panels
from hms.signal.organizer import organizer_spectrogram

comp = Competition.from_arg(DATA)
train = comp.train()
row = train.iloc[ROW].to_dict()
times, organizer = read_spectrogram(comp.spectrogram_path(row["spectrogram_id"]))
raw = read_eeg(comp.eeg_path(row["eeg_id"]))
print(
    f"eeg {row['eeg_id']}: {raw.shape[0] / 200:.0f} s of EEG; spectrogram {row['spectrogram_id']}: "
    f"{len(times)} rows of 2 s x {organizer.shape[1]} columns (4 chains x {len(SPEC_FREQS)} frequencies)"
)

# %% [markdown]
# ## The organizers' spectrogram, rebuilt from the raw EEG
# Computed from this EEG alone, so it covers only the EEG's span; the organizer file spans the whole recording.

# %%
ours_t, ours = organizer_spectrogram(np.nan_to_num(raw))
n_freq = len(SPEC_FREQS)
fig, axes = subplots(2, 1, figsize=(12, 5), sharex=True)
sources = [(times, organizer, "organizer file"), (ours_t, ours, "rebuilt from EEG")]
for ax, (t, power, name) in zip(axes, sources, strict=True):
    extent = (t[0], t[-1], SPEC_FREQS[0], SPEC_FREQS[-1])
    ax.imshow(np.log1p(np.nan_to_num(power[:, :n_freq].T)), aspect="auto", origin="lower", cmap="magma", extent=extent)
    ax.set(title=f"{CHAIN_NAMES[0]} · {name}", ylabel="Hz")
_ = axes[-1].set_xlabel("s")

# %% [markdown]
# ## Front-end settings
# The default image (linear frequency axis) next to a mel-spaced axis with the zoomed central 10 s added.

# %%
eeg, _ = comp.clean_eeg_window(row, "train")
window = comp.clean_spectrogram_window(row, "train")
for settings in (
    {"panel_height": 64, "panel_width": 128},
    {"panel_height": 64, "panel_width": 128, "freq_scale": "mel", "zoom": True, "layout": "stack12"},
):
    cfg = FrontEndConfig.from_dict(settings)
    _ = plot_panels(stack_panels(organizer_panels(window, cfg), eeg_panels(eeg, cfg)), cfg, str(settings))
