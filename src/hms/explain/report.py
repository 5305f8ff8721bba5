"""The explanation report: one self-contained HTML page (plotly.js and every image inlined, so it opens from disk with
no network) with the SAE metrics, a class overview, UMAP views of the embeddings, a feature x class heatmap, one
section per class (saliency map, ranked features, feature cards), the feature clusters and, on simulated data, the
ground-truth check."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from hms.constants import CLASSES
from hms.experiment import ExperimentDir
from hms.explain.dashboard import CLASS_COLORS, img_tag
from hms.explain.shortcuts import audit_words
from hms.families import InputView
from hms.families.views import VIEW_SECONDS
from hms.io import atomic_write
from hms.plots import figure_png
from hms.sae.run import SUMMARY_METRICS
from hms.signal.config import FrontEndConfig

CLASS_TITLES = {
    "seizure": "Seizure",
    "lpd": "LPD - lateralized periodic discharges",
    "gpd": "GPD - generalized periodic discharges",
    "lrda": "LRDA - lateralized rhythmic delta activity",
    "grda": "GRDA - generalized rhythmic delta activity",
    "other": "Other",
}
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
nav{position:sticky;top:0;background:#263238;padding:.5em 1em;z-index:10}
nav a{color:#eceff1;margin-right:1em;text-decoration:none;font-size:.9em}
main{max-width:1300px;margin:auto;padding:1em}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}
h2{margin-top:0;border-left:6px solid var(--c,#263238);padding-left:.4em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eceff1}
img{max-width:100%}
.cards{display:flex;flex-wrap:wrap;gap:1em}
.card{border:1px solid #ccc;border-radius:6px;padding:.6em;width:400px;background:#fcfcfc}
.card h3{margin:.1em 0 .4em 0;font-size:1em}
.thumbs{display:flex;gap:.3em}
.thumbs figure{margin:0;flex:1}
.thumbs figcaption{font-size:.7em;color:#555}
.note{color:#555;font-size:.9em}
.dash-card{border:1px solid #ccc;border-radius:6px;padding:.6em;width:620px;background:#fcfcfc}
.dash-card h3{margin:.1em 0 .3em 0;font-size:1em}
.dash-row{display:flex;gap:1em;flex-wrap:wrap}
.flag{color:#b71c1c;font-weight:bold}
.words{color:#1a5e20;font-size:.9em}
"""


@dataclass
class ReportData:
    experiment: str
    fold: int
    stats: pd.DataFrame  # one row per SAE feature (features.csv)
    rankings: pd.DataFrame  # class_rankings.csv
    ground_truth: pd.DataFrame | None
    exp: ExperimentDir
    targets: np.ndarray  # (n, 6) vote shares
    probs: np.ndarray  # (n, 6) the fold's CNN
    codes: np.ndarray  # (n, len(code_features)) activations of the features offered in the UMAP colour menu
    code_features: list[int]
    umap2: np.ndarray
    umap3: np.ndarray
    class_maps: dict[str, np.ndarray]  # name -> mean integrated gradients, laid out by ``view``
    cards: list[dict]
    cfg: FrontEndConfig
    view: InputView  # the family's view: draws its inputs and maps
    ranked_by: str
    retrieval: pd.DataFrame | None = None  # EEG-CLIP: held-out EEGs and their nearest reports
    position_features: pd.DataFrame | None = None  # per class, the per-position SAE's top features and where they fire
    causal: pd.DataFrame | None = None  # causal.csv: ablation / steering per class and method
    shortcuts: pd.DataFrame | None = None  # shortcuts.csv: the planted-shortcut audit
    dashboard: str = ""  # the feature dashboard section (hms.explain.dashboard)


def _file_img(path: Path, alt: str) -> str:
    return img_tag(path.read_bytes(), alt) if path.is_file() else ""


def _table(df: pd.DataFrame, digits: int = 3) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.{digits}f}", border=0, escape=True)


def _plotly(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False})


def _thumbnail(d: ReportData, image, title: str) -> bytes:
    """One input as the family's view draws it."""
    return figure_png(d.view.input_figure(image, d.cfg, title), dpi=55)


def _map_png(d: ReportData, values: np.ndarray, title: str, signed: bool) -> bytes:
    """An attribution map as the family's view draws it (smoothed: per-pixel gradients are speckled)."""
    return figure_png(d.view.map_figure(values, d.cfg, title, signed), dpi=d.view.map_dpi)


def sae_section(d: ReportData) -> str:
    pooled, per_position = (
        json.loads(p.read_text()) if p.is_file() else {} for p in (d.exp.sae_metrics_json, d.exp.position_metrics_json)
    )
    keys = ("d_in", "d_sae", "k", "sparsity", *SUMMARY_METRICS)
    table = pd.DataFrame(
        [
            {"metric": k, "pooled SAE": pooled.get(k, ""), "per-position SAE": per_position.get(k, "")}
            for k in keys
            if k in pooled or k in per_position
        ]
    )
    if not per_position:
        table = table.drop(columns="per-position SAE", errors="ignore")
    recovery = pd.read_csv(d.exp.sae_recovery_csv) if d.exp.sae_recovery_csv.is_file() else None
    recovery_html = (
        '<h3>Planted factors recovered (simulated data)</h3><p class="note">Per planted factor, the validation '
        "AUROC of the best single feature, selected on the other half of the validation patients, for each method "
        "(SAE, per-position SAE, PCA and ICA with as many components as the SAE's L0, the same SAE on a network "
        "with random weights); location_hit: how often the per-position feature peaks on a planted chain at "
        "planted seconds, beside chance (python -m hms recovery).</p>" + _table(recovery)
        if recovery is not None
        else ""
    )
    figures = "".join(
        _file_img(p, p.name)
        for p in (
            d.exp.sae_density_png,
            d.exp.sae_k_curve_png,
            d.exp.sae_reconstructions_png,
            d.exp.sae_sweep_png,
            d.exp.sae_activations_curve_png,
        )
    )  # the sweep's plots when `hms sae --sweep` was run
    return (
        f'<section id="sae"><h2>Sparse autoencoder</h2><p class="note">Metrics over all folds (validation rows '
        "unless marked train); explained variance = 1 - FVU. Splice fidelity: the fold's head on the real "
        "embeddings (kl_clean), on the SAE's reconstructions (kl_sae) and on the training mean (kl_mean_ablation), "
        "KL to the votes; kl_recovered = (kl_mean_ablation - kl_sae) / (kl_mean_ablation - kl_clean), 1 = the "
        "predictions keep their quality; prediction_kl = KL(clean predictions || spliced ones). The per-position SAE "
        "(python -m hms sae --positions) encodes every cell of the last feature map and is spliced by replacing "
        "each cell with its reconstruction before the network's own pooling.</p>"
        f"{_table(table) if len(table) else ''}{recovery_html}"
        f"{figures}</section>"
    )


def overview_section(d: ReportData) -> str:
    consensus = d.targets.argmax(axis=1)
    table = pd.DataFrame(
        {
            "class": CLASSES,
            "rows (consensus)": np.bincount(consensus, minlength=len(CLASSES)),
            "mean vote share": d.targets.mean(axis=0),
            "mean CNN probability": d.probs.mean(axis=0),
            "live features whose top class it is": [
                int(((d.stats["top_class"] == c) & (d.stats["density"] > 0)).sum()) for c in CLASSES
            ],
        }
    )
    fig = go.Figure(
        [
            go.Bar(name="vote share", x=list(CLASSES), y=table["mean vote share"]),
            go.Bar(name="CNN probability", x=list(CLASSES), y=table["mean CNN probability"]),
        ]
    )
    fig.update_layout(barmode="group", height=320, margin=dict(t=30, b=30), title="Mean vote share vs prediction")
    diff = ""
    if "seizure_vs_rest" in d.class_maps:
        diff = (
            "<h3>Seizure vs non-seizure</h3><p class='note'>Integrated gradients of log p(seizure) on seizure "
            "samples minus on samples with under 10 % seizure votes (red: more evidence for seizure).</p>"
            + img_tag(_map_png(d, d.class_maps["seizure_vs_rest"], "seizure - rest", True), "seizure - rest")
        )
    return (
        f'<section id="overview"><h2>Class overview</h2><p class="note">Experiment <b>{html.escape(d.experiment)}'
        f"</b>, fold {d.fold}, {len(d.targets)} label rows; features ranked by {html.escape(d.ranked_by)}.</p>"
        f"{_table(table)}{_plotly(fig, 'overview-bars')}{diff}</section>"
    )


def _projection_figure(d: ReportData, xyz: np.ndarray, three_d: bool) -> go.Figure:
    consensus = d.targets.argmax(axis=1)
    scatter = go.Scatter3d if three_d else go.Scatter
    coords = lambda m: dict(x=xyz[m, 0], y=xyz[m, 1], **({"z": xyz[m, 2]} if three_d else {}))  # noqa: E731
    size = 3 if three_d else 5
    traces = [
        scatter(
            mode="markers",
            name=c,
            marker=dict(color=CLASS_COLORS[c], size=size),
            **coords(consensus == k),
            hovertext=[f"{c} {v:.2f}" for v in d.targets[consensus == k, k]],
            hoverinfo="text",
        )
        for k, c in enumerate(CLASSES)
    ]
    everything = np.ones(len(xyz), bool)
    first = d.codes[:, 0] if d.codes.shape[1] else np.zeros(len(xyz))
    traces.append(
        scatter(
            mode="markers",
            name="feature",
            visible=False,
            **coords(everything),
            marker=dict(color=first, colorscale="Viridis", size=size, showscale=True),
            hoverinfo="skip",
        )
    )
    n = len(CLASSES)
    buttons = [dict(label="colour: consensus class", method="restyle", args=[{"visible": [True] * n + [False]}])]
    for i, j in enumerate(d.code_features):
        top_class = d.stats.loc[j, "top_class"]
        buttons.append(
            dict(
                label=f"colour: feature {j} ({top_class})",
                method="restyle",
                args=[{"visible": [False] * n + [True], "marker.color": [d.codes[:, i].tolist()]}, [n]],
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        height=520,
        margin=dict(t=40, l=10, r=10, b=10),
        legend=dict(itemsizing="constant"),
        title=f"UMAP of the CNN embeddings ({'3D' if three_d else '2D'})",
        updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.12)],
    )
    return fig


def projection_section(d: ReportData) -> str:
    return (
        '<section id="umap"><h2>Embeddings (UMAP)</h2><p class="note">Each point is a label row (the fold\'s CNN '
        "embedding); colour by consensus class, or pick a feature in the menu to colour by its activation.</p>"
        f"{_plotly(_projection_figure(d, d.umap2, False), 'umap2d')}"
        f"{_plotly(_projection_figure(d, d.umap3, True), 'umap3d')}</section>"
    )


def heatmap_section(d: ReportData) -> str:
    feats = d.code_features
    means = d.stats.loc[feats, [f"class_mean_{c}" for c in CLASSES]].to_numpy(dtype=float)
    share = means / np.clip(means.sum(axis=1, keepdims=True), 1e-12, None)
    text = [[html.escape(str(d.stats.loc[j, "description"]))] * len(CLASSES) for j in feats]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=list(CLASSES),
            y=[f"f{j}" for j in feats],
            colorscale="Blues",
            zmin=0,
            zmax=1,
            customdata=text,
            colorbar=dict(title="share"),
            hovertemplate="%{y} · %{x}: %{z:.2f}<br>%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(300, 22 * len(feats) + 120),
        margin=dict(t=40, b=30),
        title="Share of each feature's mean activation per class (soft labels)",
    )
    return f'<section id="heatmap"><h2>Feature x class</h2>{_plotly(fig, "feature-class-heatmap")}</section>'


def _card(card: dict, d: ReportData) -> str:
    j = card["feature"]
    s = d.stats.loc[j]
    thumbs = "".join(
        f"<figure>{img_tag(_thumbnail(d, img, ''), f'feature {j} example {i}')}<figcaption>eeg {r['eeg_id']}/"
        f"{r['eeg_sub_id']} · z {a:.2f}</figcaption></figure>"
        for i, (img, r, a) in enumerate(zip(card["images"], card["rows"], card["activations"], strict=True))
    )
    words = ""
    if "words" in s.index and isinstance(s["words"], str) and s["words"]:
        words = f"<p class='words'>In words (EEG-CLIP): {html.escape(s['words'])}</p>"
    aurocs = ", ".join(f"{c} {s[f'auroc_{c}']:.2f}" for c in CLASSES if pd.notna(s[f"auroc_{c}"]))
    return (
        f'<div class="card" id="feature-{j}"><h3>Feature {j} · {html.escape(str(s["top_class"]))} '
        f"(selectivity {s['selectivity']:.2f}, density {s['density']:.3f})</h3>"
        f"<p>{html.escape(str(s['description']))}</p>{words}<p class='note'>Saliency: "
        f"{html.escape(card['saliency_summary'])}<br>AUROC: {aurocs}</p>"
        f"<div class='thumbs'>{thumbs}</div>"
        f"{img_tag(_map_png(d, card['saliency'], f'feature {j}: |d z / d image|', False), f'saliency {j}')}"
        "</div>"
    )


def class_section(d: ReportData, k: int, name: str, cards: dict[int, dict], cards_per_class: int) -> str:
    ranked = d.rankings[d.rankings["class"] == name]
    cols = [
        c
        for c in (
            "rank",
            "feature",
            "contribution",
            "gain",
            "auroc",
            "selectivity",
            "top_class",
            "description",
            "words",
        )
        if c in ranked.columns and ranked[c].notna().any()
    ]
    smap = ""
    if name in d.class_maps:
        png = _map_png(d, d.class_maps[name], f"{name}: integrated gradients", True)
        how = d.view.baseline_note
        smap = (
            f"<p class='note'>Integrated gradients of log p({name}), averaged over its most confident samples "
            f"({how}).</p>{img_tag(png, f'{name} saliency')}"
        )
    else:
        smap = f"<p class='note'>No sample with at least half of the votes for {name}: no saliency map.</p>"
    shown = [cards[f] for f in ranked["feature"].head(cards_per_class) if f in cards]
    audit = ""
    if d.shortcuts is not None:
        words = audit_words(d.shortcuts, name)
        audit = f"<p class='{'flag' if 'FLAGGED' in words else 'note'}'>{html.escape(words)}</p>"
    return (
        f'<section class="class-section" id="class-{name}" data-class="{name}" style="--c:{CLASS_COLORS[name]}">'
        f"<h2>{html.escape(CLASS_TITLES[name])}</h2>{audit}{smap}<h3>What drives {name}</h3>"
        f"{_table(ranked[cols]) if len(ranked) else '<p>No ranked features.</p>'}"
        f"<div class='cards'>{''.join(_card(c, d) for c in shown)}</div></section>"
    )


def retrieval_section(d: ReportData) -> str:
    if d.retrieval is None or not len(d.retrieval):
        return ""
    cols = [c for c in d.retrieval.columns if c != "eeg_id" and not c.startswith("similarity")]
    return (
        '<section id="retrieval"><h2>Reports nearest to held-out EEGs (EEG-CLIP)</h2><p class="note">For EEGs of '
        "the fold's held-out patients: their own report (never seen in training), its rank among all reports, "
        f"and the nearest reports in the aligned space.</p>{_table(d.retrieval[cols])}</section>"
    )


def clusters_section(d: ReportData) -> str:
    live = d.stats[d.stats["cluster"] >= 0]
    rows = []
    for cl, part in live.groupby("cluster"):
        top = part.sort_values("density", ascending=False)
        rows.append(
            {
                "cluster": int(cl),
                "features": len(part),
                "main top class": part["top_class"].mode().iloc[0],
                "mean selectivity": part["selectivity"].mean(),
                "mean lateralization": part["lateralization"].mean(),
                "densest members": ", ".join(f"f{j}" for j in top["feature"].head(8)),
            }
        )
    table = _table(pd.DataFrame(rows)) if rows else "<p>No live features.</p>"
    return (
        '<section id="clusters"><h2>Feature clusters</h2><p class="note">Agglomerative clustering (cosine) of the '
        f"decoder directions of the live features.</p>{table}</section>"
    )


def position_section(d: ReportData) -> str:
    """Per class, the per-position SAE's top features and the cells of the last feature map where they peak."""
    if d.position_features is None or not len(d.position_features):
        return ""
    lo, hi = VIEW_SECONDS["organizer"]
    tables = "".join(
        f"<h3>{html.escape(name)}</h3>" + _table(part.drop(columns="class"))
        for name, part in d.position_features.groupby("class", sort=False)
    )
    return (
        '<section id="positions"><h2>Where the per-position features fire</h2><p class="note">The per-position SAE '
        "(python -m hms sae --positions) encodes every cell of the network's last feature map. Per class, its top "
        f"features by one-vs-rest AUROC on fold {d.fold}'s validation windows (each feature's code max-pooled over "
        "the cells, unswapped view), and over the windows where a feature fires, the cells holding most of its "
        "maxima (view, chain, seconds from the start of the EEG window — the organizer's 10 minutes run from "
        f"{lo:+.0f} to {hi:+.0f} s — and frequencies) and the share of maxima on left and on right "
        "chains. No gradients: the map is the feature's own activations. The pooled SAE's features above are "
        "another dictionary; the two are not matched.</p>"
        f"{tables}</section>"
    )


def ground_truth_section(d: ReportData) -> str:
    if d.ground_truth is None or not len(d.ground_truth):
        return ""
    return (
        '<section id="ground-truth"><h2>Simulated ground truth</h2><p class="note">Where the simulator planted '
        "each pattern (one hemisphere or both, frequency band) against the top-ranked features of that class: "
        "their mean lateralization (0 bilateral, 1 one-sided) and the share whose best-correlated band overlaps "
        "the planted one; for the features with cards, the left-right imbalance of their saliency (0 both sides, "
        "1 one side) and the share whose saliency peaks (per Hz) in the planted band.</p>"
        f"{_table(d.ground_truth)}</section>"
    )


CAUSAL_COLUMNS = (
    "class",
    "method",
    "ablate_own_drop",
    "ablate_max_other_drop",
    "ablate_selectivity",
    "steer_own_rise",
    "steer_max_other_rise",
    "steer_selectivity",
)


def causal_section(d: ReportData) -> str:
    """The causal checks per class (SAE, PCA, random features) and the shortcut audit's flagged pairs."""
    if d.causal is None or not len(d.causal):
        return ""
    table = d.causal[list(CAUSAL_COLUMNS)].sort_values(["class", "method"], key=_order, kind="stable")
    audit = ""
    if d.shortcuts is not None and d.shortcuts["flagged"].notna().any():
        shown = d.shortcuts[d.shortcuts["flagged"].astype(bool) | d.shortcuts["planted"].astype(bool)]
        audit = (
            "<h3>Planted-shortcut audit (shortcuts.csv)</h3><p class='note'>Per (class, artifact kind): the training "
            "rows' tie of the artifact to the class (within each patient), the class's drop when the validation "
            "windows showing it are drawn again without the artifact (reliance), the class's top features the "
            "artifact raises and the drop when they are ablated, the lift of the class on artifact rows without it, "
            "and the test-split KL change when they are ablated. Flagged and planted "
            f"pairs shown ({int(d.shortcuts['flagged'].astype(bool).sum())} flagged of {len(d.shortcuts)}).</p>"
            + (_table(shown) if len(shown) else "<p>No pair flagged, none planted.</p>")
        )
    return (
        '<section id="causal"><h2>Causal checks</h2><p class="note">For each class, its 10 SAE features whose '
        "removal lowers it most on the fold's training part (first-order estimate through the head), then on the "
        "validation rows: ablated (their contribution removed from the spliced embedding) and steered (each added "
        "at its typical activation). Selectivity: the class's own drop (rise) over the largest drop (rise) of "
        "another class, floored at 0.005. Beside them: 10 PCA directions chosen the same way and 10 random live "
        f"features (mean of 5 draws).</p>{_table(table)}{audit}</section>"
    )


def _order(values: pd.Series) -> pd.Series:
    order = {c: i for i, c in enumerate((*CLASSES, "sae", "pca", "random"))}
    return values.map(lambda v: order.get(v, 99))


def render(d: ReportData, cards_per_class: int = 3) -> str:
    cards = {c["feature"]: c for c in d.cards}
    links = [("overview", "Overview"), ("sae", "SAE"), ("umap", "UMAP"), ("heatmap", "Feature x class")]
    links += [(f"class-{c}", c) for c in CLASSES] + [("clusters", "Clusters")]
    if d.causal is not None and len(d.causal):
        links.append(("causal", "Causal"))
    if d.dashboard:
        links.append(("dashboard", "Dashboard"))
    if d.position_features is not None and len(d.position_features):
        links.append(("positions", "Per position"))
    if d.retrieval is not None and len(d.retrieval):
        links.append(("retrieval", "Reports"))
    if d.ground_truth is not None and len(d.ground_truth):
        links.append(("ground-truth", "Ground truth"))
    nav = "".join(f'<a href="#{i}">{html.escape(t)}</a>' for i, t in links)
    body = "".join(
        [
            overview_section(d),
            sae_section(d),
            projection_section(d),
            heatmap_section(d),
            *(class_section(d, k, c, cards, cards_per_class) for k, c in enumerate(CLASSES)),
            clusters_section(d),
            causal_section(d),
            d.dashboard,
            position_section(d),
            retrieval_section(d),
            ground_truth_section(d),
        ]
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>HMS explanations: '
        f"{html.escape(d.experiment)}</title><style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body><nav>{nav}</nav><main><h1>What the model learned: {html.escape(d.experiment)}</h1>{body}</main>"
        "</body></html>"
    )


def write_report(d: ReportData, path: str | Path, cards_per_class: int = 3) -> Path:
    page = render(d, cards_per_class)
    return atomic_write(path, lambda p: p.write_text(page, encoding="utf-8"))
