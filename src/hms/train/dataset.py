"""Label windows -> (image, soft label, weight), with one window per eeg_id per epoch and the augmentations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from hms.constants import EEG_WINDOW_SECONDS, LABEL_CENTRE_SECONDS, SPEC_WINDOW_SECONDS, VOTE_COLS
from hms.data.labels import total_votes
from hms.signal.image import n_views, panels_to_image, swap_panels
from hms.signal.prepare import CachedRecordings
from hms.train.config import AugmentConfig


def epoch_rows(rows: pd.DataFrame, seed: int, epoch: int) -> pd.DataFrame:
    """One label row per eeg_id, drawn afresh each epoch (deterministic in seed and epoch)."""
    rng = np.random.default_rng([seed, epoch])
    keys = rng.random(len(rows))
    pick = pd.Series(keys, index=rows.index).groupby(rows["eeg_id"].to_numpy()).idxmax()
    return rows.loc[np.sort(pick.to_numpy())].reset_index(drop=True)


def stage_rows(rows: pd.DataFrame, stage: int, min_votes: int) -> pd.DataFrame:
    """Stage 1 trains on every row; stage 2 on the high-vote rows (total votes >= min_votes)."""
    if stage == 1:
        return rows
    return rows.loc[total_votes(rows) >= min_votes].reset_index(drop=True)


def central_columns(cfg_panel_width: int, view: int) -> slice:
    """Columns of a panel that show the central 10 s (organizer view: 10 of 600 s; EEG: 10 of 50 s; zoom: all)."""
    span = {0: SPEC_WINDOW_SECONDS, 1: EEG_WINDOW_SECONDS, 2: LABEL_CENTRE_SECONDS}[view]
    half = int(np.ceil(cfg_panel_width * LABEL_CENTRE_SECONDS / span / 2))
    mid = cfg_panel_width // 2
    return slice(mid - half, mid + half)


class WindowDataset(Dataset):
    """Rows of train.csv (or of an epoch draw) -> dict(image, target, weight, eeg_id)."""

    def __init__(
        self,
        rows: pd.DataFrame,
        cache: CachedRecordings,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        epoch: int = 0,
        vote_weighted: bool = False,
        split: str = "train",
    ) -> None:
        self.rows = rows.reset_index(drop=True)
        self.cache = cache
        self.augment = augment
        self.seed, self.epoch, self.split = seed, epoch, split
        votes = self.rows[list(VOTE_COLS)].to_numpy(dtype=np.float32)
        self.targets = votes / votes.sum(axis=1, keepdims=True)
        totals = votes.sum(axis=1)
        self.weights = (totals / totals.mean()) if vote_weighted else np.ones(len(votes), np.float32)
        self._mask = None
        if augment is not None and augment.mask_p > 0:
            import albumentations as A

            h, w = cache.cfg.panel_height, cache.cfg.panel_width
            self._mask = A.XYMasking(
                num_masks_x=(1, augment.mask_stripes), num_masks_y=(1, augment.mask_stripes),
                mask_x_length=(4, max(5, w // 16)), mask_y_length=(4, max(5, h // 8)), fill=0.0, p=augment.mask_p,
            )  # fmt: skip

    def __len__(self) -> int:
        return len(self.rows)

    def _shift(self, row: dict, rng: np.random.Generator) -> dict:
        """Move both windows by the same even number of seconds, inside the cached recordings."""
        k = self.augment.shift_seconds // 2 if self.augment else 0
        if k <= 0:
            return row
        eeg_frames = self.cache.eeg_frames(int(row["eeg_id"]), self.split)
        spec_rows = self.cache.spec_rows(int(row["spectrogram_id"]), self.split)
        e0, s0 = row["eeg_label_offset_seconds"], row["spectrogram_label_offset_seconds"]
        max_e = (eeg_frames - 1) * self.cache.cfg.hop_seconds - EEG_WINDOW_SECONDS
        max_s = spec_rows * 2 - SPEC_WINDOW_SECONDS
        choices = [2 * d for d in range(-k, k + 1) if 0 <= e0 + 2 * d <= max_e and 0 <= s0 + 2 * d <= max_s]
        d = int(rng.choice(choices)) if choices else 0
        return row | {"eeg_label_offset_seconds": e0 + d, "spectrogram_label_offset_seconds": s0 + d}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = self.rows.iloc[i].to_dict()
        rng = np.random.default_rng([self.seed, self.epoch, int(row["eeg_id"]) % (2**32), i])
        if self.augment is not None:
            row = self._shift(row, rng)
        panels = self.cache.panels(row, self.split)  # (views, 4, H, W)
        if self.augment is not None and rng.random() < self.augment.swap_p:
            panels = swap_panels(panels)
        if self._mask is not None:
            panels = self._apply_mask(panels, rng)
        image = panels_to_image(panels, self.cache.cfg.layout)
        return {
            "image": image.float(),
            "target": torch.from_numpy(self.targets[i]),
            "weight": torch.tensor(float(self.weights[i])),
            "eeg_id": torch.tensor(int(row["eeg_id"])),
        }

    def _apply_mask(self, panels: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        import random

        out = panels.clone()
        random.seed(int(rng.integers(2**31)))  # albumentations draws from python's random
        np.random.seed(int(rng.integers(2**31)))  # noqa: NPY002 - seeds third-party code that uses the global RNG
        if hasattr(self._mask, "set_random_seed"):
            self._mask.set_random_seed(int(rng.integers(2**31)))
        for v in range(min(panels.shape[0], n_views(self.cache.cfg))):
            keep = central_columns(self.cache.cfg.panel_width, v)
            for c in range(panels.shape[1]):
                img = panels[v, c].numpy()
                masked = self._mask(image=img)["image"]
                masked[:, keep] = img[:, keep]  # spare the central 10 s the label describes
                out[v, c] = torch.from_numpy(np.ascontiguousarray(masked))
        return out
