"""``python -m hms explain --experiment NAME``: SAE feature statistics, per-class rankings, clusters and (on simulated
data) the ground-truth check, as CSV tables in ``files/reports/<experiment>/``. Uses one fold's CNN, SAE and
(when present) its ``logits_sae`` stacker, on every label row."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.cluster import AgglomerativeClustering
from tqdm.auto import tqdm

from hms.clip.describe import feature_words, phrase_similarity, retrieval_examples
from hms.clip.train import read_reports
from hms.constants import CLASSES, N_CLASSES, VOTE_COLS
from hms.data import Competition
from hms.data.labels import eeg_level, vote_probabilities
from hms.embed import EmbeddingCache
from hms.experiment import ExperimentDir
from hms.explain.checks import CheckInputs, Checks, feature_columns, run_checks
from hms.explain.dashboard import WindowSource, card_records, dashboard_section
from hms.explain.dashboard_data import PositionFold, pooled_cards, position_cards
from hms.explain.positions import fold_position_features
from hms.families import ModelFamily
from hms.inputs import row_inputs
from hms.io import write_csv, write_json
from hms.paths import MODELS_DIR, files_dir
from hms.predict import FoldOutputs, LoadedFold, load_fold
from hms.sae.causal import PositionNetwork
from hms.sae.latents import describe, feature_table, ground_truth
from hms.sae.model import SparseAutoencoder
from hms.signal.bands import BANDS
from hms.signal.config import FrontEndConfig
from hms.signal.spectrogram import preprocess
from hms.stack.model import FoldStack, StackInputs, feature_matrix
from hms.synth.signals import PLANTED
from hms.synth.truth import read_events, window_factors

POSITION_CARDS_PER_CLASS = 3  # dashboard cards of per-position features per class


def class_gain(booster, n_features: int) -> np.ndarray:
    """(6, n_features) summed split gain of the trees of each class (LightGBM multiclass: tree i is class i % 6)."""
    gain = np.zeros((N_CLASSES, n_features))

    def walk(node: dict, c: int) -> None:
        if "split_feature" in node:
            gain[c, node["split_feature"]] += node["split_gain"]
            walk(node["left_child"], c)
            walk(node["right_child"], c)

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"], tree["tree_index"] % N_CLASSES)
    return gain


def class_rankings(
    stats: pd.DataFrame, targets: np.ndarray, x: np.ndarray | None, booster, top: int, offset: int = N_CLASSES
) -> pd.DataFrame:
    """Top features per class: by the stacker's mean contribution to that class on rows whose consensus it is
    (``pred_contrib``) when a stacker is given, else by one-vs-rest AUROC."""
    d = len(stats)
    contrib = gain = None
    if booster is not None:
        n_feat = x.shape[1]
        c = booster.predict(x, pred_contrib=True).reshape(len(x), N_CLASSES, n_feat + 1)
        consensus = targets.argmax(axis=1)
        contrib = np.stack(
            [
                c[consensus == k, k, offset : offset + d].mean(axis=0) if (consensus == k).any() else np.zeros(d)
                for k in range(N_CLASSES)
            ]
        )
        gain = class_gain(booster, n_feat)[:, offset : offset + d]
    rows = []
    for k, name in enumerate(CLASSES):
        score = contrib[k] if contrib is not None else stats[f"auroc_{name}"].fillna(0.5).to_numpy()
        alive = stats["density"].to_numpy() > 0
        order = [j for j in np.argsort(-score) if alive[j]][:top]
        for rank, j in enumerate(order, 1):
            j_stats = stats.loc[j]
            rows.append(
                {
                    "class": name,
                    "rank": rank,
                    "feature": int(j),
                    "contribution": None if contrib is None else float(contrib[k, j]),
                    "gain": None if gain is None else float(gain[k, j]),
                    "auroc": float(j_stats[f"auroc_{name}"]),
                    "selectivity": float(j_stats["selectivity"]),
                    "top_class": j_stats["top_class"],
                    "description": j_stats["description"],
                }
            )
    return pd.DataFrame(rows)


def feature_clusters(sae, alive: np.ndarray, n_clusters: int = 12) -> np.ndarray:
    """Agglomerative clusters (cosine, average linkage) of the decoder directions of the live features; -1 = dead."""
    labels = np.full(len(alive), -1)
    idx = np.flatnonzero(alive)
    if len(idx) >= 2:
        directions = sae.W_dec.detach().numpy().T[idx]
        model = AgglomerativeClustering(n_clusters=min(n_clusters, len(idx)), metric="cosine", linkage="average")
        labels[idx] = model.fit_predict(directions)
    return labels


def row_model_inputs(
    comp: Competition, rows: pd.DataFrame, family: ModelFamily, frontend: FrontEndConfig, batch_size: int = 32
) -> torch.Tensor:
    """The model inputs of label rows (for an image family, the CNN images), through the inference path; a missing
    modality is blank."""
    records = rows.to_dict("records")
    out = [
        row_inputs(comp, records[i : i + batch_size], "train", family, frontend, all_rows=True).inputs
        for i in range(0, len(records), batch_size)
    ]
    return torch.cat(out) if out else torch.zeros(0)


def card_features(rankings: pd.DataFrame, per_class: int) -> list[int]:
    """The features that get a card: the top ``per_class`` of every class, in class order, without repeats."""
    top = rankings[rankings["rank"] <= per_class]
    return list(dict.fromkeys(int(f) for f in top["feature"]))


def feature_cards(
    model,
    sae,
    comp,
    rows: pd.DataFrame,
    codes: np.ndarray,
    features: list[int],
    family: ModelFamily,
    cfg: FrontEndConfig,
    n_examples: int = 3,
    progress: bool = True,
) -> list[dict]:
    """Per feature: its top activating rows (ids, activation, image), its saliency map averaged over them (captum
    Saliency through the SAE encoder) and the plain-words summary of where that saliency lies."""
    from hms.explain.saliency import explained_view, feature_attribution, summarize  # deferred: captum

    view = explained_view(family)
    cards = []
    for j in tqdm(features, desc="feature cards", unit="feature", disable=not progress, leave=False):
        top = np.argsort(-codes[:, j], kind="stable")[:n_examples]
        top = top[codes[top, j] > 0]
        if not len(top):
            continue
        images = row_model_inputs(comp, rows.iloc[top], family, cfg)
        attr = feature_attribution(model, sae, images, j)
        p = view.profile(attr, cfg)
        cards.append(
            {
                "feature": j,
                "rows": rows.iloc[top][["eeg_id", "eeg_sub_id"]].to_dict("records"),
                "activations": codes[top, j].tolist(),
                "images": images,
                "saliency": view.mean_map(attr, cfg),
                "profile": p,
                "saliency_summary": summarize(p),
            }
        )
    return cards


def embedding_projection(embedding: np.ndarray, seed: int, n_components: int) -> np.ndarray:
    """UMAP of the embeddings (cosine), seeded."""
    import umap  # deferred: heavy (numba compilation), only the report needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by setting random_state": seeded means one thread
        reducer = umap.UMAP(
            n_components=n_components, n_neighbors=min(15, len(embedding) - 1), metric="cosine", random_state=seed
        )
        return reducer.fit_transform(embedding).astype(np.float32)


def saliency_ground_truth(
    truth: pd.DataFrame, rankings: pd.DataFrame, cards: list[dict], per_class: int
) -> pd.DataFrame:
    """Add the saliency view of the ground-truth check: over each class's carded top features, the mean left-right
    imbalance of the saliency mass (|left - right| / total, 0 = both sides) and the share whose saliency peaks in a
    band overlapping the planted one."""
    profiles = {c["feature"]: c["profile"] for c in cards}
    imbalance, overlap = [], []
    for name in truth["class"]:
        lo, hi = PLANTED[name][1]
        top = [int(f) for f in rankings[(rankings["class"] == name) & (rankings["rank"] <= per_class)]["feature"]]
        ps = [profiles[f] for f in top if f in profiles]
        left = [p["chains"]["LL"] + p["chains"]["LP"] for p in ps]
        peaks = [max(p["bands"], key=p["bands"].get) for p in ps]
        imbalance.append(float(np.mean([abs(2 * v - 1) for v in left])) if ps else np.nan)
        overlap.append(float(np.mean([BANDS[b][0] < hi and BANDS[b][1] > lo for b in peaks])) if ps else np.nan)
    return truth.assign(saliency_side_imbalance_top=imbalance, saliency_band_overlaps_planted=overlap)


def clip_words(
    exp: ExperimentDir, clip_dir: Path, fold: int, comp, rows: pd.DataFrame, codes: np.ndarray, stats: pd.DataFrame
) -> pd.DataFrame | None:
    """With an EEG-CLIP fold (in ``clip_dir``, default models/<experiment>/clip): add ``words`` to ``stats``
    (the phrases each feature correlates with, on each eeg_id's first label row) and return retrieval examples."""
    clip_fold = exp.clip_weights(fold, clip_dir)
    if not clip_fold.is_file() or not (comp.root / "reports.csv").is_file():
        return None
    with np.load(exp.clip_arrays(fold, clip_dir)) as z:
        ids, eeg_z = z["eeg_ids"], z["eeg_z"]
    first = pd.Series(np.arange(len(rows)), index=rows["eeg_id"].to_numpy())
    first = first[~first.index.duplicated()]
    keep = np.isin(ids, first.index)
    sims = phrase_similarity(clip_fold, eeg_z[keep])
    stats["words"] = feature_words(codes[first.loc[ids[keep]].to_numpy()], sims)
    eegs = eeg_level(comp.train())
    consensus = pd.Series(eegs[list(VOTE_COLS)].to_numpy().argmax(axis=1), index=eegs["eeg_id"]).map(
        dict(enumerate(CLASSES))
    )
    return retrieval_examples(exp.clip_arrays(fold, clip_dir), read_reports(comp), consensus)


@dataclass(frozen=True)
class ExplainSettings:
    """What ``hms explain`` computes: whose fold, how many features per class, cards and saliency samples."""

    fold: int = 0  # whose model, SAE and stacker to explain
    top: int = 10  # features ranked per class
    cards_per_class: int = 3  # feature cards (thumbnails + saliency) per class
    n_saliency: int = 8  # confident samples per class for the integrated-gradient maps
    ig_steps: int = 8
    seed: int = 42  # UMAP and saliency seed
    report: bool = True  # False: the CSV tables only
    progress: bool = True
    clip: str | Path | None = None  # EEG-CLIP folder for feature words (default models/<experiment>/clip)
    out: str | None = None  # where the tables go (set by run_explain)


@dataclass
class FoldLatents:
    """One fold's SAE features on the label rows it has outputs for (``ok``), with their statistics table."""

    exp: ExperimentDir
    comp: Competition
    sae: SparseAutoencoder
    outputs: FoldOutputs
    ok: np.ndarray
    rows: pd.DataFrame
    targets: np.ndarray
    emb: torch.Tensor
    codes: np.ndarray
    stats: pd.DataFrame
    hand: pd.DataFrame  # band powers of the rows (for the descriptions)


def fold_latents(exp: ExperimentDir, comp: Competition, fold: int) -> FoldLatents:
    """The fold's SAE codes of every label row with outputs, and per feature: density, class statistics,
    lateralization, band and side (``feature_table``), a plain-words description and its cluster."""
    cache = EmbeddingCache.build(exp, comp.root)
    sae_path = exp.sae_weights(fold)
    if not sae_path.is_file():
        raise FileNotFoundError(f"{sae_path}: missing; run python -m hms sae --experiment {exp.name} first")
    sae = SparseAutoencoder.load(sae_path)
    outputs = cache.fold(fold)
    ok = np.isfinite(outputs.probs).all(axis=1)
    rows = cache.rows[ok].reset_index(drop=True)
    targets = vote_probabilities(rows)
    emb = torch.from_numpy(outputs.embedding[ok])
    codes = sae.codes(emb).numpy()
    views = outputs.views[ok]
    hand = cache.hand()[ok].reset_index(drop=True)
    stats = feature_table(
        codes,
        sae.codes(torch.from_numpy(views[:, 0])).numpy(),
        sae.codes(torch.from_numpy(views[:, -1])).numpy(),
        targets,
        hand,
    )
    stats["description"] = [describe(r) if r["density"] > 0 else "dead" for _, r in stats.iterrows()]
    stats["cluster"] = feature_clusters(sae, stats["density"].to_numpy() > 0)
    return FoldLatents(exp, comp, sae, outputs, ok, rows, targets, emb, codes, stats, hand)


def _dashboard(lat: FoldLatents, loaded: LoadedFold, checks: Checks, tables: dict, s: ExplainSettings) -> str:
    """The feature dashboard section: cards of each class's causal top features (pooled SAE) and of its top
    per-position features (when fitted)."""
    cfg, family, comp = loaded.frontend, loaded.family, lat.comp
    valid = lat.rows["fold"].to_numpy() == s.fold
    events = read_events(comp.root) if comp.simulated else None

    def factors_of(rows: pd.DataFrame) -> pd.DataFrame | None:
        return window_factors(rows, events).reset_index(drop=True) if events is not None else None

    source = WindowSource(
        load=lambda rows: row_model_inputs(comp, rows, family, cfg),
        pairs=lambda row: preprocess(comp.clean_eeg_window(row, "train")[0], cfg),
        sample_rate=cfg.sample_rate,
        box=family.view.cell_box,
    )
    valid_rows = lat.rows[valid].reset_index(drop=True)
    cards = pooled_cards(checks, lat.stats, lat.codes[valid], valid_rows, factors_of(valid_rows), source)
    located = tables.get("position_features")
    if located is not None and len(located):
        top = located[located["rank"] <= POSITION_CARDS_PER_CLASS]
        views = lat.outputs.views[lat.ok][~valid]
        at = torch.from_numpy(np.ascontiguousarray(views.reshape(-1, views.shape[-1]), dtype=np.float32)).mean(0)
        net = PositionNetwork(loaded.model.pool, loaded.model.head, at)
        pos = PositionFold(lat.exp, s.fold, EmbeddingCache.rows_of(lat.exp, comp), net)
        cards += position_cards(pos, top, factors_of, source)
    if s.out:
        write_json(card_records(cards), Path(s.out) / "dashboard.json")
    return dashboard_section(cards)


def _saliency_report(
    lat: FoldLatents, tables: dict, booster, retrieval, s: ExplainSettings, out: Path, fold: tuple[LoadedFold, Checks]
) -> None:
    """Class maps, feature cards, the dashboard and the self-contained page ``index.html``; adds the saliency
    summaries to the tables."""
    from hms.explain.report import ReportData, write_report  # deferred: plotly
    from hms.explain.saliency import class_maps, confident  # deferred: captum

    stats, rankings, targets = tables["features"], tables["rankings"], lat.targets
    torch.manual_seed(s.seed)
    loaded, checks = fold
    model, cfg, family = loaded.model, loaded.frontend, loaded.family
    keep = np.unique(
        np.concatenate(
            [confident(targets, c, s.n_saliency) for c in range(N_CLASSES)]
            + [np.flatnonzero(targets[:, 0] < 0.1)[: s.n_saliency]]
        )
    )
    inputs = row_model_inputs(lat.comp, lat.rows.iloc[keep], family, cfg)
    maps = class_maps(model, inputs, targets[keep], family, cfg, s.n_saliency, s.ig_steps, s.progress)
    carded = card_features(rankings, s.cards_per_class)
    cards = feature_cards(model, lat.sae, lat.comp, lat.rows, lat.codes, carded, family, cfg, progress=s.progress)
    summaries = {c["feature"]: c["saliency_summary"] for c in cards}
    if "ground_truth" in tables:
        tables["ground_truth"] = saliency_ground_truth(tables["ground_truth"], rankings, cards, s.cards_per_class)
    stats["saliency"] = [summaries.get(j, "") for j in range(len(stats))]
    rankings["saliency"] = [summaries.get(int(j), "") for j in rankings["feature"]]
    show = sorted({*carded})
    data = ReportData(
        experiment=lat.exp.name,
        fold=s.fold,
        stats=stats,
        rankings=rankings,
        ground_truth=tables.get("ground_truth"),
        position_features=tables.get("position_features"),
        exp=lat.exp,
        targets=targets,
        probs=lat.outputs.probs[lat.ok],
        codes=lat.codes[:, show],
        code_features=show,
        umap2=embedding_projection(lat.emb.numpy(), s.seed, 2),
        umap3=embedding_projection(lat.emb.numpy(), s.seed, 3),
        class_maps=maps,
        cards=cards,
        cfg=cfg,
        view=family.view,
        ranked_by="stacker pred_contrib" if booster is not None else "one-vs-rest AUROC",
        retrieval=retrieval,
        causal=tables.get("causal"),
        shortcuts=tables.get("shortcuts"),
        dashboard=_dashboard(lat, loaded, checks, tables, s),
    )
    write_report(data, out / "index.html", s.cards_per_class)


def run_explain(
    experiment: str,
    data: str | Path | None = None,
    models_root: str | Path = MODELS_DIR,
    out: str | Path | None = None,
    settings: ExplainSettings | None = None,
    **changes: object,
) -> dict[str, pd.DataFrame]:
    """Tables (features.csv, class_rankings.csv, ground_truth.csv on simulated data) and, with ``report``, the
    self-contained page ``index.html`` in ``out`` (default files/reports/<experiment>/). ``changes`` override fields of
    ``settings`` (e.g. ``fold=1, top=3``)."""
    s = replace(settings or ExplainSettings(), **changes)
    exp = ExperimentDir.named(experiment, models_root)
    comp = Competition.from_arg(data)
    lat = fold_latents(exp, comp, s.fold)
    loaded = load_fold(exp, s.fold)
    inputs = CheckInputs(comp, loaded, lat.sae, lat.rows, lat.outputs.views[lat.ok], lat.targets, lat.hand, s.fold)
    checks = run_checks(inputs, s.top, s.seed)
    lat.stats = stats = pd.concat([lat.stats, feature_columns(checks, len(lat.stats))], axis=1)
    booster, x = None, None
    if exp.stack_model("logits_sae", s.fold).is_file():
        booster = FoldStack(exp, "logits_sae", s.fold).booster
        x, _ = feature_matrix("logits_sae", StackInputs(lat.outputs.subset(lat.ok), lat.sae))
    clip_dir = Path(s.clip) if s.clip else exp.clip_dir
    retrieval = clip_words(exp, clip_dir, s.fold, comp, lat.rows, lat.codes, stats)
    rankings = class_rankings(stats, lat.targets, x, booster, s.top)
    if "words" in stats:
        rankings["words"] = stats.loc[rankings["feature"], "words"].to_numpy()
    out = Path(out) if out else files_dir() / "reports" / experiment
    tables = {"features": stats, "rankings": rankings, "causal": checks.causal, "shortcuts": checks.shortcuts}
    if comp.simulated:
        tables["ground_truth"] = ground_truth(rankings, stats)
    located = fold_position_features(exp, comp, s.fold, s.top)
    if located is not None:
        tables["position_features"] = located
        write_csv(located, out / "position_features.csv")
    if s.report:
        _saliency_report(lat, tables, booster, retrieval, replace(s, out=str(out)), out, (loaded, checks))
    write_csv(stats, out / "features.csv")
    write_csv(checks.causal, out / "causal.csv")
    write_csv(checks.shortcuts, out / "shortcuts.csv")
    write_csv(rankings, out / "class_rankings.csv")
    if retrieval is not None:
        write_csv(retrieval, out / "retrieval.csv")
        tables["retrieval"] = retrieval
    if "ground_truth" in tables:
        write_csv(tables["ground_truth"], out / "ground_truth.csv")
    ranked_by = "stacker pred_contrib" if booster is not None else "one-vs-rest AUROC"
    summary = {"experiment": experiment, "fold": s.fold, "rows": int(lat.ok.sum()), "ranked_by": ranked_by}
    write_json(summary | {"top": s.top, "report": str(out / "index.html") if s.report else None}, out / "explain.json")
    return tables
