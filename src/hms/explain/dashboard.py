"""The report's feature dashboard: one card per feature that matters to a class — each class's top features of the
causal checks (pooled SAE) and, when ``hms sae --positions`` has run, each class's top per-position features — with
what a reader needs to judge it: its activation histogram on the validation rows, its top-activating validation
windows (the bipolar traces of the chains it fires on and the network's input; for a per-position feature the cell
where it peaks outlined on the input and its seconds shaded on the traces), its direct logit attribution per class,
its own ablation effect, its best ground-truth match (simulated data) and its description with the description's
held-out score. A search box and a class menu filter the cards in the page (plain JavaScript, offline).

Pooled features have no position: their traces show the chains of the side their description names (both sides:
all four chains)."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from hms.constants import CHAIN_NAMES, CLASSES, LEFT_CHAINS, RIGHT_CHAINS
from hms.plots import figure_png, plot_chain_traces, plot_image_cell
from hms.sae.recovery import column_aurocs

CLASS_COLORS = dict(zip(CLASSES, ("#d62728", "#ff7f0e", "#bcbd22", "#1f77b4", "#17becf", "#7f7f7f"), strict=True))
N_WINDOWS = 2  # top-activating validation windows per card
N_BINS = 24
GREY = "#546e7a"


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def svg_bars(values, labels, colors, width: int = 220, height: int = 70, signed: bool = False) -> str:
    """A small inline bar chart (no script): one bar per value, its label under it, the value in its tooltip."""
    values = np.nan_to_num(np.asarray(values, float))
    n = max(len(values), 1)
    top = float(np.abs(values).max()) or 1.0
    base = height / 2 if signed else height - 12
    scale = (height / 2 - 8 if signed else height - 16) / top
    bar = width / n
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for i, (v, lab, col) in enumerate(zip(values, labels, colors, strict=True)):
        h = abs(v) * scale
        y = base - h if v >= 0 else base
        parts.append(
            f'<rect x="{i * bar + 1:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" fill="{col}">'
            f"<title>{html.escape(str(lab))}: {v:.4g}</title></rect>"
        )
        if lab:
            parts.append(
                f'<text x="{(i + 0.5) * bar:.1f}" y="{height - 2}" font-size="8" text-anchor="middle">'
                f"{html.escape(str(lab))}</text>"
            )
    parts.append(f'<line x1="0" x2="{width}" y1="{base:.1f}" y2="{base:.1f}" stroke="#999" stroke-width="0.5"/></svg>')
    return "".join(parts)


@dataclass
class Card:
    """One feature's dashboard card."""

    kind: str  # "pooled" | "position"
    feature: int
    classes: list[str]
    description: str
    description_auroc: float
    density: float
    histogram: tuple[np.ndarray, np.ndarray]  # counts, edges of the non-zero validation activations
    dla: np.ndarray | None  # (6,)
    effects: np.ndarray | None  # (6,) change of each class's mean probability when the feature alone is ablated
    truth: tuple[str, float] | None  # best planted factor and its validation AUROC
    windows: list[dict] = field(default_factory=list)  # eeg_id, activation, traces png, image png, where


def truth_matches(codes: np.ndarray, factors: pd.DataFrame | None) -> list[tuple[str, float] | None]:
    """Per column of ``codes`` (validation rows), the planted factor its activation detects best (AUROC)."""
    if factors is None:
        return [None] * codes.shape[1]
    table = {}
    for name in factors.columns:
        y = factors[name].to_numpy(bool)
        if y.any() and not y.all():
            table[name] = column_aurocs(y, codes)
    if not table:
        return [None] * codes.shape[1]
    scores = pd.DataFrame(table)
    best = scores.idxmax(axis=1)
    return [(str(best[j]), float(scores.loc[j, best[j]])) for j in range(codes.shape[1])]


def side_chains(description: str) -> tuple[str, ...]:
    if description.startswith("left chains"):
        return tuple(LEFT_CHAINS)
    if description.startswith("right chains"):
        return tuple(RIGHT_CHAINS)
    return tuple(CHAIN_NAMES)


@dataclass(frozen=True)
class WindowSource:
    """How a card draws a window: the competition, the family's inputs and the front-end (``load`` returns the
    model inputs of label rows, ``pairs`` the filtered bipolar pairs (16, time) of one row, ``box`` where a position
    of the network looks in an input: :meth:`hms.families.views.InputView.cell_box`)."""

    load: Callable[[pd.DataFrame], torch.Tensor]
    pairs: Callable[[dict], np.ndarray]
    sample_rate: float
    box: Callable[[tuple[int, ...], int, int], tuple[float, float, float, float]]  # the family view's cell_box


def draw_windows(source: WindowSource, rows: pd.DataFrame, picks: list[dict], chains_of) -> list[dict]:
    """The traces and input pictures of the picked windows (``picks``: row index, activation, optional cell)."""
    if not picks:
        return []
    images = source.load(rows.iloc[[p["row"] for p in picks]])
    out = []
    for p, image in zip(picks, images, strict=True):
        row = rows.iloc[p["row"]].to_dict()
        cell = p.get("cell")
        chains = chains_of(p)
        span = (cell["t0"], cell["t1"]) if cell is not None else None
        title = f"eeg {int(row['eeg_id'])} · {p['activation']:.2f}"
        traces = figure_png(plot_chain_traces(source.pairs(row), chains, source.sample_rate, span, title), dpi=70)
        box = source.box(tuple(image.shape), p["n_positions"], p["position"]) if cell is not None else None
        picture = figure_png(plot_image_cell(image, box, "input" + (" · peak cell" if box else "")), dpi=60)
        out.append({"eeg_id": int(row["eeg_id"]), "activation": p["activation"], "traces": traces, "image": picture})
    return out


def histogram(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fired = values[values > 0]
    if not len(fired):
        return np.zeros(1), np.array([0.0, 1.0])
    return np.histogram(fired, bins=N_BINS)


def card_html(card: Card) -> str:
    """One card: header, description with its score, histogram, DLA, ablation effects, truth, windows."""
    colors = [CLASS_COLORS[c] for c in CLASSES]
    short = [c[:4] for c in CLASSES]
    score = f"{card.description_auroc:.2f}" if np.isfinite(card.description_auroc) else "n/a"
    counts, edges = card.histogram
    parts = [
        f'<div class="dash-card" data-classes="{" ".join(card.classes)}" data-kind="{card.kind}">',
        f"<h3>{'per-position' if card.kind == 'position' else 'pooled'} feature {card.feature} · "
        f"top for {', '.join(card.classes)}</h3>",
        f'<p class="note">{html.escape(card.description)} · <b>description score (held-out AUROC) {score}</b> · '
        f"fires on {card.density:.1%} of validation rows</p>",
        '<div class="dash-row"><div><div class="note">activations where it fires '
        f"({edges[0]:.2g}–{edges[-1]:.2g})</div>{svg_bars(counts, [''] * len(counts), [GREY] * len(counts))}</div>",
    ]
    if card.dla is not None:
        parts.append(
            f'<div><div class="note">direct logit attribution</div>'
            f"{svg_bars(card.dla, short, colors, signed=True)}</div>"
        )
    if card.effects is not None and np.isfinite(card.effects).all():
        parts.append(
            f'<div><div class="note">ablated alone: change of each class (mean prob.)</div>'
            f"{svg_bars(card.effects, short, colors, signed=True)}</div>"
        )
    parts.append("</div>")
    if card.truth is not None:
        parts.append(
            f'<p class="note">ground truth: best detects <b>{card.truth[0]}</b> (AUROC {card.truth[1]:.2f})</p>'
        )
    figures = "".join(
        f"<figure>{img_tag(w['traces'], 'traces')}{img_tag(w['image'], 'input')}</figure>" for w in card.windows
    )
    parts.append(f'<div class="thumbs">{figures}</div></div>')
    return "".join(parts)


FILTER_SCRIPT = """
(function(){
  var q=document.getElementById('dash-q'), c=document.getElementById('dash-class');
  function apply(){
    var text=q.value.toLowerCase(), cls=c.value, shown=0;
    document.querySelectorAll('.dash-card').forEach(function(el){
      var ok=(!cls||el.dataset.classes.split(' ').indexOf(cls)>=0)&&el.textContent.toLowerCase().indexOf(text)>=0;
      el.style.display=ok?'':'none'; if(ok){shown++;}
    });
    document.getElementById('dash-count').textContent=shown+' shown';
  }
  q.addEventListener('input',apply); c.addEventListener('change',apply); apply();
})();
"""


def dashboard_section(cards: list[Card]) -> str:
    """The dashboard section: filter controls, the cards, and the median description score of the cards."""
    options = "".join(f'<option value="{c}">{c}</option>' for c in CLASSES)
    pooled = [c.description_auroc for c in cards if c.kind == "pooled" and np.isfinite(c.description_auroc)]
    median = f"{np.median(pooled):.2f}" if pooled else "n/a"
    return (
        '<section id="dashboard"><h2>Feature dashboard</h2>'
        '<p class="note">Each class\'s top features of the causal checks (pooled SAE) and, when fitted, of the '
        "per-position SAE. A description's score is the validation AUROC of its own factors (band power, side, "
        "spread, class votes; written from the training part) for where the feature fires: 0.5 says nothing, 1 "
        f"says everything. Median over the pooled cards: <b>{median}</b>. Direct logit attribution: the feature's "
        "decoder direction through the head, per class.</p>"
        '<p><input id="dash-q" type="search" placeholder="search descriptions, factors, ids"> '
        f'<select id="dash-class"><option value="">every class</option>{options}</select> '
        '<span id="dash-count" class="note"></span></p>'
        f'<div class="cards">{"".join(card_html(c) for c in cards)}</div>'
        f"<script>{FILTER_SCRIPT}</script></section>"
    )


def _number(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def card_records(cards: list[Card]) -> list[dict]:
    """The cards' numbers without pictures (``dashboard.json`` beside the report, and tests)."""
    return [
        {
            "kind": c.kind,
            "feature": c.feature,
            "classes": c.classes,
            "description": c.description,
            "description_auroc": _number(c.description_auroc),
            "density": c.density,
            "dla": None if c.dla is None else dict(zip(CLASSES, map(_number, c.dla), strict=True)),
            "effects": None if c.effects is None else dict(zip(CLASSES, map(_number, c.effects), strict=True)),
            "truth": None if c.truth is None else {"factor": c.truth[0], "auroc": _number(c.truth[1])},
            "windows": [w["eeg_id"] for w in c.windows],
        }
        for c in cards
    ]
