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
# # 05 · Sparse autoencoder, stacker and explanations
# For a trained experiment: a TopK sparse autoencoder per fold on the CNN's penultimate embeddings, LightGBM
# stackers on logits / embeddings / SAE codes (an honest ablation), then what the SAE features say about each of the
# six classes: rankings, saliency maps, clusters and the report page `files/reports/<experiment>/index.html`.

# %% tags=["parameters"]
EXPERIMENT = "quick"  # a trained experiment (notebook 04 or make run)
DATA = "data/sim"  # relative to the repo root
MODELS = "models"
SAE = {}  # SAE settings over configs/sae.yaml, e.g. {"k": 16, "steps": 800}
STACK_ROUNDS = 300
EXPLAIN = {"fold": 0, "top": 10, "cards_per_class": 3}
OUT = None  # None: files/reports/<experiment>

# %%
import pandas as pd
import yaml
from IPython.display import HTML, display

from hms.explain.run import run_explain
from hms.paths import REPO_ROOT, files_dir
from hms.sae.run import run_sae
from hms.stack.run import run_stack

data, models = REPO_ROOT / DATA, REPO_ROOT / MODELS
settings = yaml.safe_load((REPO_ROOT / "configs/sae.yaml").read_text()) | SAE
sae_table = run_sae(EXPERIMENT, data, models, settings)
sae_table

# %% [markdown]
# ## Stacker ablation
# Out-of-fold KL on all rows and on the golden (high-vote) eeg_ids, against the CNN alone.

# %%
ablation = run_stack(EXPERIMENT, data, models, rounds=STACK_ROUNDS)
ablation

# %% [markdown]
# ## What drives each class

# %%
out = REPO_ROOT / OUT if OUT else files_dir() / "reports" / EXPERIMENT
tables = run_explain(EXPERIMENT, data, models, out=out, **EXPLAIN)
ranked = tables["rankings"]
display(ranked[ranked["rank"] <= 3][["class", "rank", "feature", "auroc", "selectivity", "description"]])
tables.get("ground_truth", pd.DataFrame())

# %% [markdown]
# ## The report
# One self-contained page: open it from disk in any browser.

# %%
display(HTML(f'<a href="{(out / "index.html").as_uri()}" target="_blank">{out / "index.html"}</a>'))
