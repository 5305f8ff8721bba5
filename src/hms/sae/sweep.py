"""``python -m hms sae --experiment NAME --sweep``: the SAE's dictionary sized by evidence, on one fold.

Every point of a grid — TopK+AuxK and BatchTopK+AuxK at each expansion factor x k, and the classic penalties (L1 at
each coefficient, KL at each target density) at each expansion factor — is fitted on the fold's TRAINING part (label
rows, or the time-shifted activations of ``hms.sae.activations``) and scored on its VALIDATION part (unseen patients):

- splice fidelity (``hms.sae.splice``): KL recovered through the fold's head, and the prediction divergence;
- explained variance, L0, dead latents (never fire on the training part / on validation), dense latents (fire on
  more than ``dense_above`` of the training vectors), fitting time;
- what matters for explaining: per class, the top ``top`` features are picked by one-vs-rest AUROC on the training
  rows and scored on the validation rows (mean AUROC, mean selectivity), so a memorised feature does not count;
- on simulated data, the ground-truth check of ``hms explain`` on the validation rows: lateralization of the top
  features of LRDA/LPD minus that of GRDA/GPD (> 0: one-sided classes get one-sided features), and the share of the
  top features of LRDA, GRDA and seizure whose best-correlated band overlaps the planted one.

Writes ``sweep.csv`` (one row per point, appended as points finish: a rerun skips finished points and resumes the
one in progress), ``pareto.png`` (EV vs L0, marker size = dead fraction), ``chosen.json`` (the best trade-off and
why) and, for the chosen point, ``activations_curve.csv/.png``: validation EV against the number of training
activations (a growing share of the training recordings), with a log-linear extrapolation to the EV target."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from tqdm.auto import tqdm

from hms.config import build
from hms.constants import CLASSES
from hms.data import Competition
from hms.data.labels import vote_probabilities
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.io import write_csv, write_json
from hms.paths import MODELS_DIR
from hms.plots import save_figure, subplots
from hms.predict import load_fold
from hms.sae.activations import build_activations
from hms.sae.arch import get_architecture
from hms.sae.fit import evaluate, fit_sae
from hms.sae.latents import class_statistics, feature_table, ground_truth
from hms.sae.model import SAEConfig, SparseAutoencoder
from hms.sae.run import fold_matrices
from hms.sae.splice import splice_scores
from hms.sae.store import ActivationStore

log = logging.getLogger(__name__)

ONE_SIDED, BILATERAL, BANDED = ("lrda", "lpd"), ("grda", "gpd"), ("lrda", "grda", "seizure")


@dataclass(frozen=True)
class SweepSettings:
    """The grid and the targets (``configs/sae_sweep.yaml``); every other SAE setting comes from the SAE config."""

    fold: int = 0
    architectures: tuple[str, ...] = ("topk",)  # the k-architectures at every expansion x k (configs: topk, batchtopk)
    expansion: tuple[float, ...] = (0.5, 1, 2, 4)
    k: tuple[int, ...] = (8, 16, 32, 64)
    l1_coeff: tuple[float, ...] = (0.001, 0.003)
    kl_rho: tuple[float, ...] = (0.03,)
    top: int = 10  # top features per class scored for selectivity/AUROC and the ground-truth check
    dense_above: float = 0.1  # a latent firing on more than this share of training vectors counts as dense
    target_ev: float = 0.90
    target_l0: float = 32
    target_dead: float = 0.05
    fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)  # activations curve: shares of the training recordings

    @classmethod
    def from_dict(cls, d: dict | None) -> SweepSettings:
        return build(cls, d, "SAE sweep settings")

    def points(self) -> list[tuple[str, dict]]:
        """(name, SAE settings) of every grid point: each of ``architectures`` (TopK, BatchTopK) at every expansion x
        k, then L1 and KL-rho at every expansion."""
        out = [
            (f"{arch}-e{e:g}-k{k}", {"sparsity": arch, "expansion": e, "k": k})
            for arch in self.architectures
            for e in self.expansion
            for k in self.k
        ]
        out += [
            (f"l1-e{e:g}-c{c:g}", {"sparsity": "l1", "expansion": e, "l1_coeff": c})
            for e in self.expansion
            for c in self.l1_coeff
        ]
        out += [
            (f"kl-e{e:g}-r{r:g}", {"sparsity": "kl", "expansion": e, "rho": r})
            for e in self.expansion
            for r in self.kl_rho
        ]
        return out


@dataclass
class SweepData:
    """One fold's sweep inputs: the training activations (a store) and the validation label rows."""

    train: ActivationStore
    train_rows: pd.DataFrame  # training label rows (picking the top features per class)
    train_emb: np.ndarray  # their inference embeddings (mean over views)
    valid_rows: pd.DataFrame
    valid_views: np.ndarray  # (n, views, d)
    valid_hand: pd.DataFrame  # band-power features of the validation rows (the ground-truth check on simulated data)
    simulated: bool
    head: torch.nn.Module  # the fold's classifier head (the splice)
    train_mean: np.ndarray  # the training part's mean embedding (the splice's mean ablation)

    @property
    def valid_flat(self) -> np.ndarray:
        return self.valid_views.reshape(-1, self.valid_views.shape[-1])


def sweep_data(exp: ExperimentDir, data: str | Path | None, fold: int, shifts: tuple[float, ...]) -> SweepData:
    cache = EmbeddingCache.build(exp, data)
    rows, outputs = cache.rows, cache.fold(fold)
    x_train, _, train_ids = fold_matrices(rows, outputs.views, fold)
    ok = np.isfinite(outputs.views).all(axis=(1, 2))
    train, valid = ok & (rows["fold"] != fold).to_numpy(), ok & (rows["fold"] == fold).to_numpy()
    if not valid.any() or not train.any():
        raise ValueError(f"{exp.root}: fold {fold} has no usable training or validation rows")
    store = (
        build_activations(exp, data, fold, shifts)
        if tuple(shifts) != (0.0,)
        else ActivationStore.from_array(x_train, np.repeat(train_ids, outputs.views.shape[1]))
    )
    comp = Competition.from_arg(data)
    hand = cache.hand()
    return SweepData(
        train=store,
        train_rows=rows[train].reset_index(drop=True),
        train_emb=outputs.embedding[train],
        valid_rows=rows[valid].reset_index(drop=True),
        valid_views=outputs.views[valid],
        valid_hand=hand[valid].reset_index(drop=True),
        simulated=comp.simulated,
        head=load_fold(exp, fold).model.head,
        train_mean=x_train.mean(0),
    )


@torch.no_grad()
def score_point(sae: SparseAutoencoder, d: SweepData, s: SweepSettings) -> dict:
    """Validation metrics of one fitted SAE (see the module docstring)."""
    on_train, on_valid = evaluate(sae, d.train), evaluate(sae, d.valid_flat)
    out = {
        "explained_variance": on_valid["explained_variance"],
        "l0": on_valid["l0"],
        "explained_variance_train": on_train["explained_variance"],
        "dead_fraction": on_train["dead_fraction"],
        "dead_fraction_valid": on_valid["dead_fraction"],
        "dense_fraction": float((on_train["density"] > s.dense_above).mean()),
    }
    targets = vote_probabilities(d.valid_rows)
    out |= splice_scores(d.head, d.valid_views, targets, sae.reconstruct, d.train_mean)
    train_codes = sae.codes(torch.from_numpy(d.train_emb)).numpy()
    valid_codes = sae.codes(torch.from_numpy(d.valid_views.mean(axis=1))).numpy()
    picked = class_statistics(train_codes, vote_probabilities(d.train_rows))
    scored = feature_table(
        valid_codes,
        sae.codes(torch.from_numpy(d.valid_views[:, 0])).numpy(),
        sae.codes(torch.from_numpy(d.valid_views[:, -1])).numpy(),
        vote_probabilities(d.valid_rows),
        d.valid_hand,
    )
    alive = picked["density"].to_numpy() > 0
    rank_rows = []
    aurocs, selectivity = [], []
    for name in CLASSES:
        score = picked[f"auroc_{name}"].fillna(0.5).to_numpy()
        top = [j for j in np.argsort(-score, kind="stable") if alive[j]][: s.top]
        rank_rows += [{"class": name, "rank": r, "feature": int(j)} for r, j in enumerate(top, 1)]
        aurocs.append(float(scored.loc[top, f"auroc_{name}"].mean()) if top else np.nan)
        selectivity.append(float(scored.loc[top, "selectivity"].mean()) if top else np.nan)
    for name, a in zip(CLASSES, aurocs, strict=True):
        out[f"auroc_top_{name}"] = a
    out["auroc_top_mean"] = float(np.nanmean(aurocs))
    out["selectivity_top_mean"] = float(np.nanmean(selectivity))
    out["lateralization_gap"] = out["band_hits"] = np.nan
    if d.simulated and rank_rows:
        truth = ground_truth(pd.DataFrame(rank_rows), scored).set_index("class")
        lat = truth["mean_lateralization_top"]
        out["lateralization_gap"] = float(lat.reindex(ONE_SIDED).mean() - lat.reindex(BILATERAL).mean())
        out["band_hits"] = float(truth["share_band_overlaps_planted"].reindex(BANDED).mean())
    return out


def pca_reference(d: SweepData, ks: tuple[int, ...], seed: int, limit: int = 50_000) -> dict[int, float]:
    """Validation EV of the best k-dimensional linear subspace of the training part (PCA, same standardisation
    as the SAE's 'global' mode): what a dense code of the same L0 reaches, for reading the sweep."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(d.train), min(limit, len(d.train)), replace=False))
    x = d.train.take(idx)
    mean = x.mean(axis=0)
    scale = np.sqrt(((x - mean) ** 2).sum(axis=1).mean() / x.shape[1])
    xs, vs = (x - mean) / scale, (d.valid_flat - mean) / scale
    total = ((vs - vs.mean(axis=0)) ** 2).sum()
    n_comp = min(max(ks), *xs.shape)
    pca = PCA(n_components=n_comp, svd_solver="randomized", random_state=seed).fit(xs)
    out = {}
    for k in ks:
        comp = pca.components_[: min(k, n_comp)]
        rec = (vs - pca.mean_) @ comp.T @ comp + pca.mean_
        out[k] = float(1 - ((vs - rec) ** 2).sum() / total)
    return out


def choose(table: pd.DataFrame, s: SweepSettings) -> tuple[pd.Series, str]:
    """The best trade-off on validation: among points with L0 <= target and dead (training part) < target, the
    highest validation EV, requiring the ground-truth check (when present) to be at least as good as the median
    point's; relaxed step by step (stated in the reason) when no point passes."""
    t = table.copy()
    rules = [("L0", t["l0"] <= s.target_l0), ("dead", t["dead_fraction"] < s.target_dead)]
    if "kl_recovered" in t and t["kl_recovered"].notna().any():
        rules.append(("KL recovered", t["kl_recovered"] >= t["kl_recovered"].median()))
    if "lateralization_gap" in t and t["lateralization_gap"].notna().any():
        good = (t["lateralization_gap"] >= t["lateralization_gap"].median()) & (
            t["band_hits"] >= t["band_hits"].median()
        )
        rules.append(("ground truth", good))
    dropped = []
    while True:
        mask = np.logical_and.reduce([m.to_numpy() for _, m in rules]) if rules else np.ones(len(t), bool)
        if mask.any() or not rules:
            break
        dropped.append(rules.pop()[0])
    best = t[mask].sort_values(["explained_variance", "auroc_top_mean"], ascending=False).iloc[0]
    kept = [name for name, _ in rules]
    reason = (
        f"highest validation explained variance ({best['explained_variance']:.3f}) among the points meeting "
        f"{', '.join(kept) or 'no rule'} (L0 <= {s.target_l0:g}, dead < {s.target_dead:.0%}"
        f"{', KL recovered at least the median point' if 'KL recovered' in kept else ''}"
        f"{', ground truth at least the median point' if 'ground truth' in kept else ''})"
    )
    if dropped:
        reason += f"; no point met {' and '.join(dropped)} as well, so those rules were dropped"
    return best, reason


def run_sweep(
    experiment: str,
    data: str | Path | None = None,
    models_root: str | Path = MODELS_DIR,
    base: dict | None = None,
    sweep: dict | None = None,
    shifts: tuple[float, ...] = (0.0,),
    progress: bool = True,
    curve: bool = True,
) -> pd.DataFrame:
    """Fit and score every grid point (resumable); write the table, the Pareto plot, the choice and the curve."""
    exp = ExperimentDir.named(experiment, models_root)
    s = SweepSettings.from_dict(sweep)
    d = sweep_data(exp, data, s.fold, shifts)
    exp.sae_sweep_dir.mkdir(parents=True, exist_ok=True)
    done = pd.read_csv(exp.sae_sweep_csv) if exp.sae_sweep_csv.is_file() else pd.DataFrame()
    records = done.to_dict("records")
    finished = {r["point"]: r["settings"] for r in records}
    shifts_key = ",".join(f"{v:g}" for v in shifts)
    for name, point in tqdm(s.points(), desc="sae sweep", unit="point", disable=not progress):
        cfg = SAEConfig.from_dict({"d_in": d.train.dim} | (base or {}) | point)
        key = json.dumps(asdict(cfg) | {"shifts": shifts_key, "fold": s.fold}, sort_keys=True)
        if finished.get(name) == key:
            continue
        records = [r for r in records if r["point"] != name]
        started = time.perf_counter()
        sae, _ = fit_sae(d.train, cfg, progress=progress, desc=name, checkpoint=exp.sae_sweep_checkpoint(name))
        seconds = time.perf_counter() - started
        row = (
            {
                "point": name,
                "sparsity": cfg.sparsity,
                "expansion": cfg.expansion,
                "d_sae": cfg.d_sae,
                "k": cfg.k if get_architecture(cfg.sparsity).uses_k else np.nan,
                "coeff": _coeff(cfg),
                "fold": s.fold,
                "n_train_vectors": len(d.train),
                "n_valid_vectors": len(d.valid_flat),
                "fit_seconds": seconds,
                "steps_per_second": cfg.steps / seconds,
            }
            | score_point(sae, d, s)
            | {"settings": key}
        )
        records.append(row)
        write_csv(pd.DataFrame(records), exp.sae_sweep_csv)  # after every point: an interrupted sweep resumes
    table = pd.DataFrame(records)
    table = table[table["point"].isin([n for n, _ in s.points()])].reset_index(drop=True)
    pca = pca_reference(
        d,
        tuple(sorted({int(round(v)) for v in table["l0"].clip(lower=1)} | set(s.k))),
        int((base or {}).get("seed", 42)),
    )
    table["pca_ev_same_l0"] = [pca.get(int(round(max(v, 1))), np.nan) for v in table["l0"]]
    table["pareto"] = pareto_front(table)
    write_csv(table, exp.sae_sweep_csv)
    best, reason = choose(table, s)
    write_json(
        {
            "point": best["point"],
            "settings": json.loads(best["settings"]),
            "reason": reason,
            "metrics": {c: _plain(best[c]) for c in table.columns if c not in ("settings", "point")},
        },
        exp.sae_sweep_chosen,
    )
    plot_pareto(table, best["point"], s, exp.sae_sweep_png)
    if curve:
        settings = json.loads(best["settings"])
        cfg = SAEConfig.from_dict({k: v for k, v in settings.items() if k not in ("shifts", "fold")})
        activations_curve(exp, d, cfg, s, progress)
    log.info("SAE sweep %s: chosen %s: %s", experiment, best["point"], reason)
    return table


def _coeff(cfg: SAEConfig) -> float:
    return {"l1": cfg.l1_coeff, "kl": cfg.rho}.get(cfg.sparsity, np.nan)


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def pareto_front(table: pd.DataFrame) -> np.ndarray:
    """True for points no other point beats on both validation EV (higher) and L0 (lower)."""
    ev, l0 = table["explained_variance"].to_numpy(), table["l0"].to_numpy()
    return np.array(
        [not ((ev >= ev[i]) & (l0 <= l0[i]) & ((ev > ev[i]) | (l0 < l0[i]))).any() for i in range(len(table))]
    )


def plot_pareto(table: pd.DataFrame, chosen: str, s: SweepSettings, path: Path) -> None:
    fig, ax = subplots(figsize=(8, 5.5))
    colors = {"topk": "#4c72b0", "l1": "#dd8452", "kl": "#55a868"}
    for mode, part in table.groupby("sparsity"):
        ax.scatter(
            part["l0"].clip(lower=0.5),
            part["explained_variance"],
            s=20 + 600 * part["dead_fraction"],
            color=colors.get(mode, "grey"),
            alpha=0.6,
            edgecolor="black",
            lw=0.5,
            label=mode,
        )
        for _, r in part.iterrows():
            ax.annotate(
                f"e{r['expansion']:g}" + (f" k{int(r['k'])}" if mode == "topk" else f" {r['coeff']:g}"),
                (max(r["l0"], 0.5), r["explained_variance"]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    front = table[table["pareto"]].sort_values("l0")
    ax.plot(front["l0"].clip(lower=0.5), front["explained_variance"], color="black", lw=1, ls="--", label="Pareto")
    best = table[table["point"] == chosen].iloc[0]
    ax.scatter(
        [max(best["l0"], 0.5)],
        [best["explained_variance"]],
        marker="*",
        s=300,
        color="gold",
        edgecolor="black",
        zorder=5,
        label=f"chosen: {chosen}",
    )
    pca = table[["l0", "pca_ev_same_l0"]].dropna().sort_values("l0")
    ax.plot(pca["l0"].clip(lower=0.5), pca["pca_ev_same_l0"], color="grey", lw=1, label="PCA, same L0 (dense)")
    ax.axhline(s.target_ev, color="red", ls=":", lw=1, label=f"target EV {s.target_ev:g}")
    ax.axvline(s.target_l0, color="red", ls="-.", lw=1, label=f"target L0 <= {s.target_l0:g}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("L0 on validation (active latents per vector)")
    ax.set_ylabel("explained variance on validation (unseen patients)")
    ax.set_title(f"SAE sweep, fold {int(table['fold'].iloc[0])}: marker size = dead fraction (training part)")
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)


def activations_curve(
    exp: ExperimentDir, d: SweepData, cfg: SAEConfig, s: SweepSettings, progress: bool = True
) -> pd.DataFrame:
    """Validation EV and dead fraction of ``cfg`` fitted on a growing share of the training RECORDINGS (all their
    vectors; nested subsets, seeded), and the number of vectors a log-linear fit puts at the EV target."""
    ids = d.train.eeg_ids
    recordings = np.random.default_rng(cfg.seed).permutation(np.unique(ids))
    rows = []
    for frac in tqdm(s.fractions, desc="activations curve", unit="fit", disable=not progress):
        chosen = recordings[: max(1, int(round(frac * len(recordings))))]
        subset = np.flatnonzero(np.isin(ids, chosen))
        store = d.train if len(subset) == len(d.train) else ActivationStore.from_array(d.train.take(subset))
        sae, _ = fit_sae(store, cfg, progress=progress, desc=f"curve {frac:g}")
        on_valid, on_train = evaluate(sae, d.valid_flat), evaluate(sae, store)
        rows.append(
            {
                "share_of_recordings": frac,
                "recordings": len(chosen),
                "n_train_vectors": len(subset),
                "explained_variance": on_valid["explained_variance"],
                "l0": on_valid["l0"],
                "explained_variance_train": on_train["explained_variance"],
                "dead_fraction": on_train["dead_fraction"],
            }
        )
    curve = pd.DataFrame(rows)
    fit = np.polyfit(np.log10(curve["n_train_vectors"]), curve["explained_variance"], 1) if len(curve) > 1 else None
    need = 10 ** ((s.target_ev - fit[1]) / fit[0]) if fit is not None and fit[0] > 0 else np.inf
    curve["slope_per_decade"] = np.nan if fit is None else fit[0]
    curve["vectors_for_target_extrapolated"] = need
    write_csv(curve, exp.sae_activations_curve_csv)
    _plot_curve(curve, fit, need, s, exp.sae_activations_curve_png, cfg)
    return curve


def _plot_curve(curve: pd.DataFrame, fit, need: float, s: SweepSettings, path: Path, cfg: SAEConfig) -> None:
    fig, ax = subplots(figsize=(7, 4.5))
    ax.plot(curve["n_train_vectors"], curve["explained_variance"], "o-", label="validation EV (measured)")
    ax.plot(curve["n_train_vectors"], curve["explained_variance_train"], "s--", label="training EV")
    if fit is not None and fit[0] > 0 and np.isfinite(need):
        xs = np.logspace(np.log10(curve["n_train_vectors"].min()), np.log10(max(need, curve["n_train_vectors"].max())))
        ax.plot(
            xs,
            np.polyval(fit, np.log10(xs)),
            ":",
            color="grey",
            label=f"log-linear fit: target at ~{need:,.0f} vectors (extrapolated)",
        )
    ax.axhline(s.target_ev, color="red", ls=":", lw=1, label=f"target {s.target_ev:g}")
    ax.set_xscale("log")
    ax.set_xlabel("training activations (vectors) of the fold")
    ax.set_ylabel("explained variance")
    ax.set_title(f"{cfg.sparsity}, d_sae={cfg.d_sae}, k={cfg.k}: EV against the number of activations", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)
