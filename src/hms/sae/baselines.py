"""Baselines that keep an SAE honest: PCA with as many components as the SAE has active latents per sample, fitted on
the same training part in the same standardised space. (ICA of that many components spans the same subspace, so
its reconstructions, explained variance and splice are PCA's; it differs only in its features.)"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA

from hms.sae.model import SparseAutoencoder

Reconstruct = Callable[[torch.Tensor], torch.Tensor]


def pca_reconstructor(sae: SparseAutoencoder, x_train: np.ndarray, n_components: int, seed: int) -> Reconstruct:
    """Raw embeddings -> their projection on the top ``n_components`` principal directions of the standardised
    training part, back in the raw space (the SAE's own standardisation)."""
    with torch.no_grad():
        xs = sae.standardize(torch.from_numpy(np.asarray(x_train, np.float32))).numpy()
    n = max(1, min(n_components, *xs.shape))
    pca = PCA(n_components=n, svd_solver="randomized", random_state=seed).fit(xs)
    comp = torch.from_numpy(pca.components_.astype(np.float32))
    centre = torch.from_numpy(pca.mean_.astype(np.float32))

    @torch.no_grad()
    def reconstruct(x: torch.Tensor) -> torch.Tensor:
        s = sae.standardize(x.float())
        return ((s - centre) @ comp.T @ comp + centre) * sae.x_scale + sae.x_mean

    return reconstruct


@torch.no_grad()
def explained_variance(sae: SparseAutoencoder, reconstruct: Reconstruct, x: np.ndarray) -> float:
    """1 - FVU of ``reconstruct`` on ``x``, in the SAE's standardised space about ``x``'s own mean (as
    ``hms.sae.fit.evaluate`` scores the SAE)."""
    t = torch.from_numpy(np.asarray(x, np.float32))
    xs, rs = sae.standardize(t), sae.standardize(reconstruct(t))
    total = float((xs - xs.mean(0)).pow(2).sum())
    return 1 - float((xs - rs).pow(2).sum()) / max(total, 1e-12)
