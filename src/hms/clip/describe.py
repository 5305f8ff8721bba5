"""Words for the explanation report from a trained EEG-CLIP fold: the phrases each SAE feature's activation
correlates with (through the aligned space), and the reports nearest to held-out EEGs (text retrieval)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hms.clip.text import embed_texts
from hms.clip.train import encode_texts, load_fold

#: the vocabulary the feature descriptions are drawn from: patterns, sides, regions, rhythms, artifacts
PHRASES = (
    "electrographic seizure",
    "evolving rhythmic discharge",
    "lateralized periodic discharges",
    "LPDs",
    "generalized periodic discharges",
    "GPDs",
    "lateralized rhythmic delta activity",
    "LRDA",
    "generalized rhythmic delta activity",
    "GRDA",
    "frontally predominant rhythmic delta",
    "no epileptiform discharges",
    "left hemisphere",
    "right hemisphere",
    "bilateral",
    "frontal region",
    "temporal region",
    "central region",
    "parieto-occipital region",
    "at 1 Hz",
    "at 2 Hz",
    "at 4 Hz",
    "at 6 Hz",
    "spread to the other hemisphere",
    "low amplitude, intermittent",
    "background diffusely slow",
    "posterior dominant rhythm",
    "muscle artifact",
    "eye blink artifact",
)


def phrase_similarity(clip_fold: str | Path, eeg_z: np.ndarray, phrases: tuple[str, ...] = PHRASES) -> np.ndarray:
    """(n_eegs, n_phrases) cosine similarity of aligned EEG embeddings to the projected phrases."""
    model, _ = load_fold(clip_fold)
    return eeg_z @ encode_texts(model, embed_texts(list(phrases))).T


def feature_words(
    codes: np.ndarray, similarity: np.ndarray, phrases: tuple[str, ...] = PHRASES, top: int = 3
) -> list[str]:
    """Per SAE feature (codes (n, d) on the same EEGs as ``similarity``): its ``top`` phrases by Pearson correlation
    of activation with phrase similarity, e.g. 'LRDA (r 0.41), left hemisphere (r 0.22)'; '' for a silent feature."""
    c = codes - codes.mean(axis=0)
    s = similarity - similarity.mean(axis=0)
    denom = np.sqrt((c**2).sum(axis=0))[:, None] * np.sqrt((s**2).sum(axis=0))[None, :]
    r = np.where(denom > 0, c.T @ s / np.where(denom > 0, denom, 1), 0.0)  # (d, phrases)
    out = []
    for j in range(codes.shape[1]):
        order = [p for p in np.argsort(-r[j]) if r[j, p] > 0][:top]
        out.append(", ".join(f"{phrases[p]} (r {r[j, p]:.2f})" for p in order))
    return out


def retrieval_examples(
    npz: str | Path, reports: pd.DataFrame, consensus: pd.Series, per_class: int = 2, top: int = 2
) -> pd.DataFrame:
    """Held-out EEGs (the first ``per_class`` eeg_ids of each consensus class): own report, its rank, and the
    ``top`` nearest reports among all eeg_ids' reports. ``reports`` indexed by eeg_id; ``consensus`` maps eeg_id ->
    class name."""
    with np.load(npz) as z:
        ids, eeg_z, text_z, is_train = z["eeg_ids"], z["eeg_z"], z["text_z"], z["is_train"]
    held = np.flatnonzero(~is_train)
    sims = eeg_z[held] @ text_z.T
    rows = []
    for i, h in enumerate(held):
        order = np.argsort(-sims[i])
        rows.append(
            {
                "eeg_id": int(ids[h]),
                "consensus": consensus.get(int(ids[h]), ""),
                "own_rank": int(np.flatnonzero(order == h)[0]) + 1,
                "own_report": reports.loc[ids[h], "report"],
                **{f"nearest_{n + 1}": reports.loc[ids[order[n]], "report"] for n in range(top)},
                **{f"similarity_{n + 1}": float(sims[i, order[n]]) for n in range(top)},
            }
        )
    table = pd.DataFrame(rows)
    # the first held-out eeg_ids of each class (not the best-retrieved ones: no cherry-picking)
    return table.sort_values(["consensus", "eeg_id"]).groupby("consensus").head(per_class).reset_index(drop=True)
