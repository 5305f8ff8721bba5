"""Splice fidelity: is an SAE faithful to the classifier? The fold's own head is run on (a) the real embeddings,
(b) the SAE's reconstructions of them and (c) the mean-ablated embedding (the training part's mean), each view of
each row, probabilities averaged over the views as at inference; each is scored against the votes with the
competition's KL. As SAELens' ``kl_div_score`` / dictionary_learning's "loss recovered":

    KL recovered = (KL_mean - KL_sae) / (KL_mean - KL_clean)

1 when the reconstruction keeps every prediction's quality, 0 when it is no better than knowing nothing beyond the
mean; and the prediction divergence KL(p_clean || p_sae), 0 when the predictions are unchanged.

A per-position SAE is spliced the same way: every position of the last feature map replaced by its reconstruction,
pooled by the network's own pooling (:func:`pooled_embeddings`), then the head."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hms.metric import kl_rows


@torch.no_grad()
def _probabilities(head: nn.Module, views: torch.Tensor) -> np.ndarray:
    """(n, V, d) embeddings -> (n, 6): softmax of the head per view, averaged over the views (the TTA average)."""
    n, v, d = views.shape
    probs = head(views.reshape(n * v, d).float()).softmax(-1).reshape(n, v, -1).mean(1)
    return probs.double().numpy()


def splice_scores(
    head: nn.Module,
    views: np.ndarray,
    targets: np.ndarray,
    reconstruct: Callable[[torch.Tensor], torch.Tensor],
    mean: np.ndarray,
) -> dict[str, float]:
    """KL of the clean, spliced and mean-ablated predictions to ``targets`` (n, 6), KL recovered and the prediction
    divergence; ``views`` (n, V, d) raw embeddings, ``reconstruct`` raw embeddings -> raw reconstructions, ``mean``
    (d,) the ablation value."""
    x = torch.from_numpy(np.ascontiguousarray(views, dtype=np.float32))
    n, v, d = x.shape
    with torch.no_grad():
        spliced = reconstruct(x.reshape(n * v, d)).reshape(n, v, d)
    ablated = torch.from_numpy(np.asarray(mean, dtype=np.float32)).expand(n, 1, d)
    return splice_embeddings(head, x, spliced, ablated, targets)


def splice_embeddings(
    head: nn.Module, clean: torch.Tensor, spliced: torch.Tensor, ablated: torch.Tensor, targets: np.ndarray
) -> dict[str, float]:
    """The scores of :func:`splice_scores` from the three sets of embeddings (n, V, d) the head is run on (the
    ablated one may have a single view)."""
    head = head.eval()
    p_clean, p_sae, p_mean = (_probabilities(head, t) for t in (clean, spliced, ablated))
    kl_clean, kl_sae, kl_mean = (float(kl_rows(targets, p).mean()) for p in (p_clean, p_sae, p_mean))
    gap = kl_mean - kl_clean
    return {
        "kl_clean": kl_clean,
        "kl_sae": kl_sae,
        "kl_mean_ablation": kl_mean,
        "kl_recovered": (kl_mean - kl_sae) / gap if abs(gap) > 1e-12 else float("nan"),
        "prediction_kl": float(kl_rows(p_clean, p_sae).mean()),
    }


@torch.no_grad()
def pooled_embeddings(
    pool: Callable[[torch.Tensor], torch.Tensor],
    positions: np.ndarray,
    reconstruct: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch: int = 64,
) -> torch.Tensor:
    """Per-position activations (n, V, P, d) -> the network's pooled embeddings (n, V, d_embed), each position
    first replaced by its ``reconstruct`` (raw -> raw) when given: the per-position splice. In batches of windows,
    so a memory-mapped float16 store is read a part at a time."""
    n, v, p, d = positions.shape
    out = []
    for start in range(0, n, batch):
        x = torch.from_numpy(np.asarray(positions[start : start + batch], dtype=np.float32)).reshape(-1, p, d)
        if reconstruct is not None:
            x = reconstruct(x.reshape(-1, d)).reshape(-1, p, d)
        pooled = pool(x)
        out.append(pooled.reshape(-1, v, pooled.shape[-1]))
    return torch.cat(out) if out else torch.zeros(0, v, d)
