"""EEG-CLIP on a trained experiment: zero-shot vs the class prior, the few-shot curve (a linear probe with k labelled
eeg_ids per class on three embeddings: CLIP-aligned, the supervised CNN of the same fold, ImageNet-only), and text
retrieval (the reports nearest a held-out EEG).

    python -m hms clip --data data/bench --set "folds=[0,1]"
    python benchmarks/bench_clip.py --data data/bench --clip models/bench/clip --supervised models/bench

Prints the tables and writes files/clip/<name>/ (few_shot.csv, few_shot.png, retrieval.csv)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from hms.clip.describe import phrase_similarity
from hms.clip.train import build_images, eeg_targets, read_reports
from hms.constants import CLASSES, N_CLASSES
from hms.data import Competition
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.metric import score_arrays
from hms.models.build import HMSModel, ModelConfig
from hms.paths import files_dir
from hms.plots import save_figure, subplots
from hms.signal.config import FrontEndConfig

PROBE_CS = (0.005, 0.05, 0.5)  # inverse L2 strength of the probe, chosen per support set (see probe)


def fit_probe(x: np.ndarray, targets: np.ndarray, rows: np.ndarray, c: float) -> Pipeline:
    """Logistic regression on soft labels: each eeg_id repeated once per class, weighted by its vote share."""
    xs = np.repeat(x[rows], N_CLASSES, axis=0)
    ys = np.tile(np.arange(N_CLASSES), len(rows))
    w = targets[rows].ravel()
    keep = w > 0
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    model.fit(xs[keep], ys[keep], logisticregression__sample_weight=w[keep])
    return model


def predict_probe(model: Pipeline, x: np.ndarray) -> np.ndarray:
    p = np.full((len(x), N_CLASSES), 1e-4)  # classes absent from the support get ~0
    p[:, model.classes_] += model.predict_proba(x)
    return p / p.sum(axis=1, keepdims=True)


def choose_c(x: np.ndarray, targets: np.ndarray, support: np.ndarray, seed: int) -> float:
    """C by 3-fold cross-validation inside the support set (KL on the left-out eeg_ids); with fewer than 3 eeg_ids
    per class there is nothing to cross-validate and the strongest shrinkage is used."""
    y = targets[support].argmax(axis=1)
    if np.bincount(y, minlength=N_CLASSES).max() < 3:
        return min(PROBE_CS)
    splits = list(KFold(3, shuffle=True, random_state=seed).split(support))
    losses = [
        np.mean(
            [
                score_arrays(targets[support[te]], predict_probe(fit_probe(x, targets, support[tr], c), x[support[te]]))
                for tr, te in splits
            ]
        )
        for c in PROBE_CS
    ]
    return PROBE_CS[int(np.argmin(losses))]


def probe(x: np.ndarray, targets: np.ndarray, support: np.ndarray, query: np.ndarray, seed: int) -> np.ndarray:
    """Few-shot linear probe: soft-label logistic regression on the support eeg_ids (their vote distributions, which
    is what a labelled eeg_id carries), C chosen inside the support set -> (len(query), 6) probabilities."""
    model = fit_probe(x, targets, support, choose_c(x, targets, support, seed))
    return predict_probe(model, x[query])


def sample_support(y: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    picks = [
        rng.choice(idx, size=min(k, len(idx)), replace=False)
        for c in range(N_CLASSES)
        if len(idx := pool[y[pool] == c])
    ]
    return np.concatenate(picks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/bench")
    ap.add_argument("--clip", default="models/bench/clip", help="models/<name>/clip of python -m hms clip")
    ap.add_argument("--supervised", default="models/bench", help="the supervised experiment (same folds)")
    ap.add_argument("--ks", default="1,5,10,50")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    comp = Competition.from_arg(args.data)
    train = comp.train()
    reports = read_reports(comp)
    clip_dir, sup_dir = Path(args.clip), Path(args.supervised)
    clip_exp, sup_exp = ExperimentDir(clip_dir.parent), ExperimentDir(sup_dir)
    folds_same = clip_exp.read_folds().equals(sup_exp.read_folds())
    print(f"CLIP and supervised folds identical: {folds_same}")
    cache = EmbeddingCache.build(sup_dir, args.data)  # the supervised embeddings (computed once, then cached)
    rows = cache.rows
    fold_files = ExperimentDir.clip_array_files(clip_dir)
    cfg = json.loads(fold_files[0].with_suffix(".json").read_text())["config"]
    # ImageNet-only: the same backbone, pretrained init, no training
    with np.load(fold_files[0]) as z:
        all_ids = z["eeg_ids"]
    first = rows.drop_duplicates("eeg_id").set_index("eeg_id", drop=False).loc[all_ids].reset_index(drop=True)
    images = build_images(comp, first, FrontEndConfig.from_dict(cfg["frontend"]))
    imagenet = HMSModel(ModelConfig(**cfg["model"]), pretrained=True).eval()
    with torch.no_grad():
        x_imagenet = torch.cat([imagenet.embed(images[i : i + 64]) for i in range(0, len(images), 64)]).numpy()
    ks = [int(k) for k in args.ks.split(",")]
    records, zero, retrieval, sides = [], [], [], []
    for path in tqdm(fold_files, desc="zero-shot, probes, retrieval", unit="fold"):
        fold = int(path.stem.removeprefix("fold"))
        with np.load(path) as z:
            ids, eeg_z, text_z, zs, is_train = z["eeg_ids"], z["eeg_z"], z["text_z"], z["zero_shot"], z["is_train"]
        assert (ids == all_ids).all()
        targets, golden = eeg_targets(train, ids)
        y = targets.argmax(axis=1)
        query = np.flatnonzero(~is_train & golden)
        pool = np.flatnonzero(is_train)
        sup = cache.eeg_embeddings(fold, ids)
        embeddings = {"clip-aligned": eeg_z, "supervised CNN": sup, "ImageNet-only": x_imagenet}
        prior = np.tile(targets[pool].mean(axis=0), (len(query), 1))
        zero.append(
            {
                "fold": fold,
                "golden_eegs": len(query),
                "zero_shot_kl": score_arrays(targets[query], zs[query]),
                "prior_kl": score_arrays(targets[query], prior),
                "zero_shot_acc": float((zs[query].argmax(1) == y[query]).mean()),
                "prior_acc": float((prior.argmax(1) == y[query]).mean()),
            }
        )
        for name, x in embeddings.items():
            for k in ks:
                for r in range(args.repeats):
                    rng = np.random.default_rng([fold, k, r])
                    p = probe(x, targets, sample_support(y, pool, k, rng), query, r)
                    records.append(
                        {
                            "fold": fold,
                            "embedding": name,
                            "k": k,
                            "repeat": r,
                            "kl_golden": score_arrays(targets[query], p),
                            "accuracy": float((p.argmax(1) == y[query]).mean()),
                        }
                    )
        main = reports.loc[ids, "main_class"].to_numpy()
        # a question never trained as a label: which side? ("left hemisphere" vs "right hemisphere" prompt) on
        # held-out EEGs whose planted pattern is one-sided (reports.csv side = the planted side, not the report's)
        side = reports.loc[ids, "side"].fillna("").to_numpy()
        lat = np.flatnonzero(~is_train & np.isin(side, ["left", "right"]))
        sim = phrase_similarity(
            clip_dir / f"fold{fold}.safetensors", eeg_z[lat], ("left hemisphere", "right hemisphere")
        )
        sides += [
            {
                "fold": fold,
                "eeg_id": int(ids[i]),
                "side": side[i],
                "pattern": main[i],
                "said": "left" if ab[0] > ab[1] else "right",
            }
            for i, ab in zip(lat, sim, strict=True)
        ]
        # retrieval: every held-out EEG against every report (its own included, never seen in training)
        held = np.flatnonzero(~is_train)
        sims = eeg_z[held] @ text_z.T
        own_rank = (sims > sims[np.arange(len(held)), held][:, None]).sum(axis=1)
        top = np.argsort(-sims, axis=1)[:, :3]
        for i, h in enumerate(held):
            retrieval.append(
                {
                    "fold": fold,
                    "eeg_id": int(ids[h]),
                    "consensus": CLASSES[y[h]],
                    "own_rank": int(own_rank[i]),
                    "top1_main_class": main[top[i, 0]],
                    "own_report": reports.loc[ids[h], "report"],
                    "top1_report": reports.loc[ids[top[i, 0]], "report"],
                    "top2_report": reports.loc[ids[top[i, 1]], "report"],
                }
            )
    out = files_dir() / "clip" / clip_dir.parent.name
    out.mkdir(parents=True, exist_ok=True)
    few = pd.DataFrame(records)
    few.to_csv(out / "few_shot.csv", index=False)
    ret = pd.DataFrame(retrieval)
    ret.to_csv(out / "retrieval.csv", index=False)
    zero = pd.DataFrame(zero)
    print("\nzero-shot on held-out golden eeg_ids (KL, lower is better; accuracy):")
    print(zero.round(4).to_string(index=False))
    wz = zero["golden_eegs"] / zero["golden_eegs"].sum()  # means over eeg_ids, not over folds
    print("weighted by eeg_ids: " + ", ".join(f"{c} {(zero[c] * wz).sum():.4f}" for c in zero.columns[2:]))
    curve = few.groupby(["embedding", "k"])[["kl_golden", "accuracy"]].agg(["mean", "std"]).round(4)
    print("\nfew-shot linear probe (mean, sd over folds x repeats):")
    print(curve.to_string())
    same = (ret["top1_main_class"] == ret["consensus"]).mean()
    print(
        f"\nretrieval: own report rank 1 for {(ret['own_rank'] == 0).mean():.1%}, in top 5 for "
        f"{(ret['own_rank'] < 5).mean():.1%} of {len(ret)} held-out EEGs (chance top-5: {5 / len(all_ids):.1%}); "
        f"top-1 report's pattern = consensus for {same:.1%}"
    )
    side = pd.DataFrame(sides)
    side.to_csv(out / "side.csv", index=False)
    hit = side["said"] == side["side"]
    print(
        f"\nside in words ('left hemisphere' vs 'right hemisphere'), held-out one-sided EEGs: {hit.mean():.1%} "
        f"of {len(side)} (chance 50%); by pattern: "
        + ", ".join(f"{k} {v:.0%}" for k, v in hit.groupby(side["pattern"]).mean().items())
    )
    for _, r in ret.sample(3, random_state=0).iterrows():
        print(
            f"\n  eeg {r['eeg_id']} (consensus {r['consensus']}, own report rank {r['own_rank']})\n"
            f"    own:   {r['own_report']}\n    top-1: {r['top1_report']}\n    top-2: {r['top2_report']}"
        )
    fig, axes = subplots(1, 2, figsize=(12, 4))
    for ax, metric, zcol, pcol, label in [
        (axes[0], "kl_golden", "zero_shot_kl", "prior_kl", "KL (lower is better)"),
        (axes[1], "accuracy", "zero_shot_acc", "prior_acc", "accuracy"),
    ]:
        means = few.groupby(["embedding", "k"])[metric].mean().unstack(0)
        for name in means.columns:
            ax.plot(means.index, means[name], marker="o", label=f"probe on {name}")
        ax.axhline((zero[zcol] * wz).sum(), color="tab:red", ls="--", label="CLIP zero-shot (k = 0)")
        ax.axhline((zero[pcol] * wz).sum(), color="grey", ls=":", label="class prior")
        ax.set(xscale="log", xlabel="labelled eeg_ids per class (k)", ylabel=f"{label}, held-out golden eeg_ids")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"Few-shot decoding ({clip_dir.parent.name}; mean of {few['fold'].nunique()} folds x {args.repeats} draws)"
    )
    save_figure(fig, out / "few_shot.png")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
