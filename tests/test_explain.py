"""Explanations: feature statistics, attributions that add up, plain-words summaries that find a planted region,
and the report page rendered in headless Chromium."""

import json
import os
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import torch

from hms.constants import CHAIN_NAMES, CLASSES
from hms.signal.config import FrontEndConfig
from hms.signal.image import n_views, panels_to_image
from hms.synth.shortcuts import SHORTCUT_ARTIFACTS


def test_explain_statistics_on_planted_features():
    from hms.sae.latents import class_statistics, lateralization

    rng = np.random.default_rng(0)
    targets = rng.dirichlet(np.ones(6), size=400)
    consensus = targets.argmax(axis=1)
    codes = np.zeros((400, 3))
    codes[consensus == 2, 0] = rng.uniform(1, 2, (consensus == 2).sum())  # fires for class 2 rows only
    codes[:, 1] = rng.uniform(0, 1, 400)  # indifferent to the class
    stats = class_statistics(codes, targets)
    assert stats.loc[0, "top_class"] == "gpd" and stats.loc[0, "auroc_gpd"] == 1.0
    assert stats.loc[0, "selectivity"] > 0.3 > stats.loc[1, "selectivity"] > 0.1
    assert stats.loc[2, "density"] == 0 and np.isnan(stats.loc[2, "selectivity"])
    one_way, both = np.array([[1.0, 1.0]] * 5), np.array([[0.0, 1.0]] * 5)
    np.testing.assert_allclose(lateralization(one_way, both), [1.0, 0.0])


class _TinyNet(torch.nn.Module):
    """A small CNN with the HMSModel output contract: {'logits', 'embedding'}."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        emb = torch.tanh(self.conv(x)).mean(dim=(2, 3))
        return {"logits": self.head(emb), "embedding": emb}


def test_integrated_gradients_add_up_to_the_change_in_log_probability():
    from hms.explain.saliency import BLANK, class_attribution

    model = _TinyNet()
    images = torch.rand(2, 1, 32, 48) * 2 - 1
    attr = class_attribution(model, images, class_index=3, steps=64)
    with torch.no_grad():
        logp = model(images)["logits"].log_softmax(-1)[:, 3]
        base = model(torch.full_like(images, BLANK))["logits"].log_softmax(-1)[:, 3]
    np.testing.assert_allclose(attr.sum(dim=(1, 2, 3)).numpy(), (logp - base).numpy(), rtol=0.05, atol=1e-3)


def test_profile_and_summary_find_a_planted_chain_band_and_time():
    from hms.explain.saliency import summarize
    from hms.families import ImageView

    view = ImageView()
    cfg = FrontEndConfig(panel_height=32, panel_width=40)
    panels = torch.zeros(n_views(cfg), 4, 32, 40)
    freqs = view.row_frequencies(cfg, 1)
    rows = torch.from_numpy((freqs >= 2) & (freqs < 4))
    ll = CHAIN_NAMES.index("LL")
    panels[1, ll, rows, 16:24] = 1.0  # EEG 50 s view, left lateral chain, 2-4 Hz, the central seconds
    p = view.profile(panels_to_image(panels, cfg.layout).unsqueeze(0), cfg)
    assert p["views"]["eeg"] == pytest.approx(1.0) and p["chains"]["LL"] == pytest.approx(1.0)
    assert p["bands"]["delta2"] == pytest.approx(1.0)
    text = summarize(p)
    assert "left chains" in text and "delta2 2-4 Hz" in text and "central 20 s" in text


@pytest.fixture(scope="module")
def report(stacked, sim_dir, tmp_path_factory):
    from hms.explain.run import run_explain

    models = stacked[0]
    out = tmp_path_factory.mktemp("report")
    tables = run_explain(
        "s", sim_dir, models.parent, fold=0, top=3, out=out, cards_per_class=2, n_saliency=4, ig_steps=4, progress=False
    )
    return models, out, tables


def test_explain_writes_rankings_for_every_class(report):
    models, out, tables = report
    ranked = pd.read_csv(out / "class_rankings.csv")
    assert set(ranked["class"]) <= set(CLASSES) and ranked.groupby("class")["rank"].max().le(3).all()
    features = pd.read_csv(out / "features.csv")
    emb_width = len([c for c in pd.read_parquet(models / "oof.parquet").columns if c.startswith("emb_")])
    assert len(features) == json.loads((models / "sae/fold0.json").read_text())["config"]["expansion"] * emb_width
    assert {"selectivity", "lateralization", "band", "description", "cluster", "saliency"} <= set(features.columns)
    assert "ground_truth" in tables and set(tables["ground_truth"]["class"]) <= set(CLASSES)
    carded = features[features["saliency"].fillna("") != ""]
    assert len(carded) and carded["saliency"].str.contains("EEG view").all()


def test_report_is_self_contained(report):
    _, out, _ = report
    page = (out / "index.html").read_text()
    links = []

    class Tags(HTMLParser):  # script bodies are data to the parser: only real tags are seen
        def handle_starttag(self, tag, attrs):
            links.extend((tag, v) for k, v in attrs if k in ("src", "href") and v and not v.startswith(("data:", "#")))

    Tags().feed(page)
    assert links == [], "the page must load nothing from outside itself"
    assert all(f'id="class-{c}"' in page for c in CLASSES)
    assert page.count("data:image/png;base64,") >= len(CLASSES)  # at least a saliency map or card per class
    assert "umap2d" in page and "umap3d" in page and "feature-class-heatmap" in page


def test_explain_writes_the_causal_checks_the_shortcut_audit_and_the_dashboard(report):
    _, out, tables = report
    causal = pd.read_csv(out / "causal.csv")
    pairs = set(zip(causal["class"], causal["method"], strict=True))
    assert pairs == {(c, m) for c in CLASSES for m in ("sae", "pca", "random")}
    assert causal[["ablate_selectivity", "steer_selectivity"]].notna().all().all()
    audit = pd.read_csv(out / "shortcuts.csv")
    assert {"class", "artifact", "flagged", "best_rise", "ablation_drop", "test_kl_change"} <= set(audit.columns)
    assert len(audit) == len(CLASSES) * len(SHORTCUT_ARTIFACTS) and not audit["planted"].any()
    assert not audit["flagged"].any(), "a clean simulation has no shortcut to flag"
    features = pd.read_csv(out / "features.csv")
    assert {f"dla_{c}" for c in CLASSES} | {"description_auroc"} <= set(features.columns)
    cards = json.loads((out / "dashboard.json").read_text())
    assert cards and {c for card in cards for c in card["classes"]} <= set(CLASSES)
    pooled = [card for card in cards if card["kind"] == "pooled"]
    assert pooled and all(set(card["dla"]) == set(CLASSES) for card in pooled)
    page = (out / "index.html").read_text()
    assert 'id="dashboard"' in page and page.count('class="dash-card"') == len(cards)
    assert 'id="causal"' in page and "Shortcut audit:" in page


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, tmp_path):
    pytest.importorskip("playwright", reason="pip install -r requirements-dev.txt")
    from hms.explain.browser import check_page, chromium_path

    try:
        chromium_path()
    except FileNotFoundError:
        if os.environ.get("CI"):
            raise  # CI installs Debian's chromium (.ci/run -> make test)
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    _, out, _ = report
    result = check_page(out / "index.html", tmp_path / "shot.png")
    assert result["console_errors"] == [] and result["page_errors"] == [] and result["requests"] == []
    assert result["images"] > 0 and result["broken_images"] == []
    assert result["class_sections"] == result["expected_sections"]
    assert result["plots"] >= 4  # overview bars, UMAP 2D and 3D, heatmap drawn by plotly
    assert result["pixel_std"] > 0.05, "the screenshot is blank"
    dash = result["dashboard"]
    assert dash is not None and dash["cards"] > 0 and dash["all_shown"] == dash["cards"]
    assert all(shown == named for shown, named in dash["per_class"].values())  # the class menu filters
    assert dash["search_nothing"] == 0  # the search box filters
