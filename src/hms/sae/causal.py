"""Causal checks of a dictionary of directions in a classifier's embedding: does removing (ablating) or adding
(steering) a class's directions move *that* class, and the others not?

A :class:`Dictionary` maps raw embeddings to scores and back: the SAE (scores = codes, spliced: the head reads the
reconstruction) or PCA (scores = components of the centred embedding, all kept, so its reconstruction is exact). For
both, ablating direction j of a row subtracts ``score_j * direction_j`` from the embedding the head reads; steering
adds ``alpha * typical_j * direction_j`` (typical: mean activation where it fires, or the component's standard
deviation). Every view of a row is edited and the head's probabilities averaged over the views, as at inference.

- **Direct logit attribution** (DLA): the head's Jacobian at the mean embedding times each raw-space direction, per
  class (exact for a linear head).
- **A class's top directions**: the ``n`` directions whose ablation lowers the class's mean probability most on the
  *training* part, to first order (``-z_j * DLA_j`` through the softmax): selected where they are not evaluated.
- **Selectivity** on the validation part: the class's own drop ÷ the largest drop of another class, that drop
  floored at :data:`FLOOR` (ablating a class's evidence usually *raises* the others: dividing by a rise, or by
  nothing, says nothing). Steering selectivity: own rise ÷ largest other rise, floored the same way.
- The baselines: PCA directions selected the same way, and ``n`` random live SAE features (mean of
  :data:`RANDOM_DRAWS` seeded draws).
- A per-position feature (:func:`position_feature_checks`) acts through the network's pooling: its DLA is its
  direction at one cell pooled and through the head, its effect the change when it is removed at every cell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from torch import nn

from hms.constants import CLASSES, N_CLASSES
from hms.sae.model import SparseAutoencoder

FLOOR = 0.005  # probability: the smallest "largest other-class change" a selectivity divides by
RANDOM_DRAWS = 5
TOP = 10


class Dictionary(Protocol):
    def scores(self, x: torch.Tensor) -> torch.Tensor: ...  # raw (n, d) -> (n, m)

    def base(self, x: torch.Tensor) -> torch.Tensor: ...  # raw (n, d) -> what the head reads unablated

    @property
    def directions(self) -> torch.Tensor: ...  # (m, d) raw space

    @property
    def typical(self) -> torch.Tensor: ...  # (m,) a typical score when the direction is present


def decoder_directions(sae: SparseAutoencoder) -> torch.Tensor:
    """(d_sae, d): each feature's decoder direction in the raw (unscaled) activation space."""
    return (sae.W_dec * sae.x_scale[:, None]).T.detach()


@dataclass
class SAEDictionary:
    sae: SparseAutoencoder
    typical: torch.Tensor  # (d_sae,) mean activation where each feature fires (training part)

    @classmethod
    def fit(cls, sae: SparseAutoencoder, train: torch.Tensor) -> SAEDictionary:
        z = sae.codes(train)
        fired = (z > 0).sum(0).clamp_min(1)
        return cls(sae, z.sum(0) / fired)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.sae.codes(x)

    def base(self, x: torch.Tensor) -> torch.Tensor:
        return self.sae.reconstruct(x)

    @property
    def directions(self) -> torch.Tensor:
        return decoder_directions(self.sae)


@dataclass
class PCADictionary:
    mean: torch.Tensor  # (d,)
    components: torch.Tensor  # (m, d), unit rows
    typical: torch.Tensor  # (m,) standard deviation of each component's scores

    @classmethod
    def fit(cls, train: torch.Tensor, n_components: int, seed: int) -> PCADictionary:
        x = train.double().numpy()
        pca = PCA(n_components=min(n_components, *x.shape), svd_solver="randomized", random_state=seed).fit(x)
        as_t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))  # noqa: E731
        return cls(as_t(pca.mean_), as_t(pca.components_), as_t(np.sqrt(pca.explained_variance_)))

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) @ self.components.T

    def base(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()

    @property
    def directions(self) -> torch.Tensor:
        return self.components


def head_jacobian(head: nn.Module, at: torch.Tensor) -> torch.Tensor:
    """(6, d): d logits / d embedding of the head (eval mode) at the embedding ``at`` (d,)."""
    head = head.eval()
    return torch.autograd.functional.jacobian(lambda e: head(e[None])[0], at.float()).detach()


def logit_attribution(head: nn.Module, dictionary: Dictionary, at: torch.Tensor) -> np.ndarray:
    """(m, 6): each direction's direct effect on each class's logit (the Jacobian at ``at`` times the direction)."""
    return (dictionary.directions @ head_jacobian(head, at).T).numpy()


@dataclass(frozen=True)
class Edit:
    """Directions to remove from every row (``ablate``) and to add (``steer``: ``alpha * sign * typical`` of each,
    ``signs`` +1 by default)."""

    ablate: tuple[int, ...] = ()
    steer: tuple[int, ...] = ()
    signs: tuple[float, ...] | None = None
    alpha: float = 1.0


NO_EDIT = Edit()


@torch.no_grad()
def edited_probabilities(
    head: nn.Module, dictionary: Dictionary, views: np.ndarray, edit: Edit = NO_EDIT
) -> np.ndarray:
    """(n, 6) probabilities, averaged over the views of ``views`` (n, V, d), of the head reading each view's base
    embedding edited by ``edit``."""
    n, v, d = views.shape
    x = torch.from_numpy(np.ascontiguousarray(views, dtype=np.float32)).reshape(n * v, d)
    e = dictionary.base(x)
    directions = dictionary.directions
    if edit.ablate:
        ablate = list(edit.ablate)
        e = e - dictionary.scores(x)[:, ablate] @ directions[ablate]
    if edit.steer:
        steer = list(edit.steer)
        signs = torch.tensor(edit.signs if edit.signs is not None else [1.0] * len(steer), dtype=torch.float32)
        e = e + edit.alpha * ((signs * dictionary.typical[steer]) @ directions[steer])[None]
    return head.eval()(e).softmax(-1).reshape(n, v, -1).mean(1).double().numpy()


def first_order_drops(probs: np.ndarray, scores: np.ndarray, dla: np.ndarray) -> np.ndarray:
    """(6, m): the first-order drop of each class's mean probability when direction j is ablated, from the rows'
    probabilities (n, 6), scores (n, m) and the DLA (m, 6): dp_c = p_c (dl_c - sum_k p_k dl_k), dl = -z_j DLA_j."""
    # mean_i p_ic * z_ij * (DLA_jc - sum_k p_ik DLA_jk), per class c and direction j
    mixed = probs @ dla.T  # (n, m): sum_k p_ik DLA_jk
    return np.stack([(probs[:, [c]] * scores * (dla[:, c][None] - mixed)).mean(0) for c in range(N_CLASSES)])


@dataclass(frozen=True)
class Chosen:
    """A class's chosen directions and the sign each is steered with (+1: along it)."""

    directions: tuple[int, ...]
    signs: tuple[float, ...]

    def ablation(self) -> Edit:
        return Edit(ablate=self.directions)

    def steering(self) -> Edit:
        return Edit(steer=self.directions, signs=self.signs)


def top_directions(drops: np.ndarray, dla: np.ndarray, n: int, alive: np.ndarray | None = None) -> dict[str, Chosen]:
    """Per class, the ``n`` directions with the largest first-order drops (live ones only, when ``alive`` given),
    each steered with the sign of its DLA to the class against the mean over classes (SAE features: a code adds its
    direction, so a chosen feature raises its class)."""
    out = {}
    for c, name in enumerate(CLASSES):
        order = [int(j) for j in np.argsort(-drops[c], kind="stable") if alive is None or alive[j]][:n]
        contrast = dla[order, c] - dla[order].mean(1)
        out[name] = Chosen(tuple(order), tuple(float(np.sign(v) or 1.0) for v in contrast))
    return out


def selectivity(change: np.ndarray, c: int, sign: float) -> tuple[float, float, float]:
    """From the change of every class's mean probability (6,): the own class's move in the ``sign`` direction
    (-1: a drop), the largest such move of another class, and their ratio (the other floored at FLOOR)."""
    moves = sign * change
    own, other = float(moves[c]), float(np.delete(moves, c).max())
    return own, other, own / max(other, FLOOR)


@dataclass(frozen=True)
class CausalSplit:
    """What a causal check reads: the head, the rows' views (n, V, d) and which rows are the training part."""

    head: nn.Module
    views: np.ndarray
    train: np.ndarray  # bool (n,)
    valid: np.ndarray  # bool (n,)


def class_checks(split: CausalSplit, dictionary: Dictionary, chosen: dict[str, Chosen], method: str) -> list[dict]:
    """Ablation and steering of each class's ``chosen`` directions on the validation rows: one record per class."""
    views = split.views[split.valid]
    base = edited_probabilities(split.head, dictionary, views).mean(0)
    out = []
    for c, name in enumerate(CLASSES):
        feats = chosen[name].directions
        ablated = edited_probabilities(split.head, dictionary, views, chosen[name].ablation()).mean(0) - base
        steered = edited_probabilities(split.head, dictionary, views, chosen[name].steering()).mean(0) - base
        own, other, sel = selectivity(ablated, c, -1.0)
        s_own, s_other, s_sel = selectivity(steered, c, 1.0)
        out.append(
            {
                "class": name,
                "method": method,
                "n_directions": len(feats),
                "ablate_own_drop": own,
                "ablate_max_other_drop": other,
                "ablate_selectivity": sel,
                "steer_own_rise": s_own,
                "steer_max_other_rise": s_other,
                "steer_selectivity": s_sel,
                **{f"ablate_delta_{k}": float(ablated[i]) for i, k in enumerate(CLASSES)},
                "directions": " ".join(map(str, feats)),
            }
        )
    return out


def _selection(
    split: CausalSplit, dictionary: Dictionary, dla: np.ndarray, n: int, alive: np.ndarray | None = None
) -> dict[str, Chosen]:
    """Each class's top directions, chosen on the training part's unswapped view."""
    train_views = torch.from_numpy(np.ascontiguousarray(split.views[split.train][:, 0], dtype=np.float32))
    probs = edited_probabilities(split.head, dictionary, split.views[split.train][:, :1])
    drops = first_order_drops(probs, dictionary.scores(train_views).double().numpy(), dla)
    return top_directions(drops, dla, n, alive)


def _random_choice(rng: np.random.Generator, live: np.ndarray, n: int) -> dict[str, Chosen]:
    picks = {c: rng.choice(live, min(n, len(live)), replace=False) for c in CLASSES}
    return {c: Chosen(tuple(int(j) for j in v), (1.0,) * len(v)) for c, v in picks.items()}


def causal_table(split: CausalSplit, sae: SparseAutoencoder, n: int = TOP, seed: int = 42) -> tuple[pd.DataFrame, dict]:
    """The class checks for the SAE, PCA and random SAE features; and what the report and the shortcut audit need
    besides (``dla``: the SAE's DLA (d_sae, 6); ``chosen``: each class's SAE features; ``dictionary``)."""
    train = torch.from_numpy(np.ascontiguousarray(split.views[split.train].reshape(-1, split.views.shape[-1])))
    at = train.float().mean(0)
    sae_dict = SAEDictionary.fit(sae, train)
    dla = logit_attribution(split.head, sae_dict, at)
    alive = (sae.codes(train) > 0).any(0).numpy()
    chosen = _selection(split, sae_dict, dla, n, alive)
    records = class_checks(split, sae_dict, chosen, "sae")
    pca = PCADictionary.fit(train, min(sae.cfg.d_sae, 256), seed)
    records += class_checks(split, pca, _selection(split, pca, logit_attribution(split.head, pca, at), n), "pca")
    rng = np.random.default_rng(seed)
    live = np.flatnonzero(alive)
    draws = [class_checks(split, sae_dict, _random_choice(rng, live, n), "") for _ in range(RANDOM_DRAWS)]
    for c, name in enumerate(CLASSES):
        mean = pd.DataFrame([d[c] for d in draws]).mean(numeric_only=True).to_dict()
        records.append(mean | {"class": name, "method": "random", "directions": f"{RANDOM_DRAWS} draws of {n}"})
    return pd.DataFrame(records), {"dla": dla, "chosen": chosen, "dictionary": sae_dict}


def feature_effects(split: CausalSplit, dictionary: Dictionary, features: list[int]) -> pd.DataFrame:
    """Per feature: the change of every class's mean probability when it alone is ablated, over the validation rows
    where it fires."""
    views = split.views[split.valid]
    x = torch.from_numpy(np.ascontiguousarray(views[:, 0], dtype=np.float32))
    fires = (dictionary.scores(x) > 0).numpy()
    out = []
    for j in features:
        rows = views[fires[:, j]]
        if not len(rows):
            continue
        ablated = edited_probabilities(split.head, dictionary, rows, Edit(ablate=(j,)))
        change = (ablated - edited_probabilities(split.head, dictionary, rows)).mean(0)
        out.append(
            {
                "feature": int(j),
                "n_fires": len(rows),
                **{f"effect_{k}": float(change[i]) for i, k in enumerate(CLASSES)},
            }
        )
    return pd.DataFrame(out)


@dataclass(frozen=True)
class PositionNetwork:
    """What a per-position feature acts through: the network's pooling of its last feature map and its head, and
    the embedding the head's Jacobian is taken at (the training part's mean)."""

    pool: Callable[[torch.Tensor], torch.Tensor]
    head: nn.Module
    at: torch.Tensor


@torch.no_grad()
def position_feature_checks(
    net: PositionNetwork, sae: SparseAutoencoder, windows: np.ndarray, features: list[int], batch: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Per-position features' (DLA, ablation effect), each (len(features), 6). DLA: the decoder direction at one
    position of the map, through the pooling and the head (the logit change per unit of activation at one cell);
    effect: the change of each class's mean probability over the ``windows`` (n, V, P, d) where the feature fires
    anywhere, when it is ablated at every position of the per-position splice (every position replaced by its
    reconstruction, that feature's part removed)."""
    dirs = decoder_directions(sae)[features]
    n, v, p, d = windows.shape
    one = torch.zeros(len(features), p, d)
    one[:, 0] = dirs
    with torch.enable_grad():
        dla = (net.pool(one) @ head_jacobian(net.head, net.at).T).numpy()
    head = net.head.eval()
    sums, counts = np.zeros((len(features), N_CLASSES)), np.zeros(len(features))
    for start in range(0, n, batch):
        x = torch.from_numpy(np.asarray(windows[start : start + batch], dtype=np.float32)).reshape(-1, d)
        z = sae.codes(x)[:, features].reshape(-1, p, len(features))
        recon = sae.reconstruct(x).reshape(-1, p, d)
        base = head(net.pool(recon)).softmax(-1)
        m = len(x) // (p * v)
        for k in range(len(features)):
            fires = (z[:, :, k] > 0).any(1).reshape(m, v).any(1)
            if not fires.any():
                continue
            ablated = head(net.pool(recon - z[:, :, k, None] * dirs[k])).softmax(-1)
            change = (ablated - base).reshape(m, v, -1).mean(1)[fires]
            sums[k] += change.sum(0).double().numpy()
            counts[k] += int(fires.sum())
    effects = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], np.nan)
    return dla, effects
