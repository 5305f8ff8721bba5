"""The spectrogram-image CNN family (the first registered family): a label row becomes the stacked image of its
organizer and EEG-derived spectrograms (``hms.signal.image``), a timm backbone + head reads it (``hms.models``).

Training reads the ``prepare`` cache (one window per eeg_id per epoch, time shift, hemisphere swap and XY masking
that spares the central 10 s); inference builds the same image from the raw files."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from hms.constants import EEG_WINDOW_SECONDS, LABEL_CENTRE_SECONDS, SPEC_SECONDS_PER_ROW, SPEC_WINDOW_SECONDS
from hms.data import Competition
from hms.data.windows import random_shift
from hms.families.base import AugmentConfig, ModelFamily, TrainSource, Window, soft_targets
from hms.families.registry import register_family
from hms.families.views import ImageView
from hms.models.build import HMSModel, ModelConfig
from hms.models.quality import BLANK_MARGIN
from hms.signal.config import FrontEndConfig
from hms.signal.image import build_images, image_to_panels, n_views, panels_to_image, swap_image, swap_panels
from hms.signal.prepare import CachedRecordings, prepare


@register_family
class SpectrogramCNN(ModelFamily):
    name = "spectrogram_cnn"
    model_config = ModelConfig
    channels_last = True
    blank_value = -1.0
    view = ImageView()

    def build(self, cfg: ModelConfig, pretrained: bool = True) -> nn.Module:
        return HMSModel(cfg, pretrained=pretrained)

    def inputs(self, eegs: list[Window], specs: list[Window], frontend: FrontEndConfig) -> torch.Tensor:
        return build_images(eegs, specs, frontend)

    def swap(self, x: torch.Tensor, frontend: FrontEndConfig) -> torch.Tensor:
        return swap_image(x, frontend.layout, n_views(frontend))

    def quality(self, x: torch.Tensor, frontend: FrontEndConfig) -> torch.Tensor:
        """One flag per panel (view x chain): blank, as a missing modality or a chain of flat signals is drawn."""
        panels = image_to_panels(x, frontend.layout, n_views(frontend))  # (batch, views, chains, H, W)
        return (panels.flatten(3).amax(-1) <= self.blank_value + BLANK_MARGIN).flatten(1).float()

    def prepare(
        self, comp: Competition, train: pd.DataFrame, frontend: FrontEndConfig, cache: str, workers: int
    ) -> None:
        prepare(comp.root, cache, frontend, workers=workers, train=train)

    def train_source(self, comp: Competition, frontend: FrontEndConfig, cache: str) -> TrainSource:
        return TrainSource(comp, CachedRecordings(cache, frontend))

    def train_dataset(
        self,
        rows: pd.DataFrame,
        source: TrainSource,
        frontend: FrontEndConfig,
        augment: AugmentConfig | None,
        seed: int = 0,
        epoch: int = 0,
        vote_weighted: bool = False,
        split: str = "train",
    ) -> Dataset:
        return WindowDataset(rows, source.cache, augment, seed, epoch, vote_weighted, split)


def central_columns(cfg_panel_width: int, view: int) -> slice:
    """Columns of a panel that show the central 10 s (organizer view: 10 of 600 s; EEG: 10 of 50 s; zoom: all)."""
    span = {0: SPEC_WINDOW_SECONDS, 1: EEG_WINDOW_SECONDS, 2: LABEL_CENTRE_SECONDS}[view]
    half = int(np.ceil(cfg_panel_width * LABEL_CENTRE_SECONDS / span / 2))
    mid = cfg_panel_width // 2
    return slice(mid - half, mid + half)


class WindowDataset(Dataset):
    """Rows of train.csv (or of an epoch draw) -> dict(inputs = the image, target, weight, eeg_id) from the cache."""

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
        self.targets, self.weights = soft_targets(self.rows, vote_weighted)
        self._mask = None
        if augment is not None and augment.mask_p > 0:
            import albumentations as A  # deferred: heavy, and only training with masking needs it

            h, w = cache.cfg.panel_height, cache.cfg.panel_width
            self._mask = A.XYMasking(
                num_masks_x=(1, augment.mask_stripes),
                num_masks_y=(1, augment.mask_stripes),
                mask_x_length=(4, max(5, w // 16)),
                mask_y_length=(4, max(5, h // 8)),
                fill=0.0,
                p=augment.mask_p,
            )

    def __len__(self) -> int:
        return len(self.rows)

    def _shift(self, row: dict, rng: np.random.Generator) -> dict:
        """Move both windows by the same even number of seconds, inside the cached recordings."""
        k = self.augment.shift_seconds // SPEC_SECONDS_PER_ROW if self.augment else 0
        if k <= 0:
            return row
        eeg_frames = self.cache.eeg_frames(int(row["eeg_id"]), self.split)
        spec_rows = self.cache.spec_rows(int(row["spectrogram_id"]), self.split)
        max_e = (eeg_frames - 1) * self.cache.cfg.hop_seconds - EEG_WINDOW_SECONDS
        max_s = spec_rows * SPEC_SECONDS_PER_ROW - SPEC_WINDOW_SECONDS
        step = SPEC_SECONDS_PER_ROW  # whole spectrogram rows
        return random_shift(row, rng, step * k, step, max_e, max_s)

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
            "inputs": image.float(),
            "target": torch.from_numpy(self.targets[i]),
            "weight": torch.tensor(float(self.weights[i])),
            "eeg_id": torch.tensor(int(row["eeg_id"])),
        }

    def _apply_mask(self, panels: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
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
