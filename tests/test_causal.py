"""Causal checks and the planted-shortcut audit on toy models whose wiring is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hms.constants import CLASSES, N_CLASSES
from hms.data import make_folds
from hms.data.labels import vote_probabilities
from hms.explain.shortcuts import AuditInputs, Counterfactual, audit_words, heavy, shortcut_audit
from hms.sae.causal import (
    CausalSplit,
    Edit,
    PositionNetwork,
    SAEDictionary,
    causal_table,
    edited_probabilities,
    feature_effects,
    position_feature_checks,
)
from hms.sae.model import SAEConfig, SparseAutoencoder
from hms.synth.shortcuts import SHORTCUT_ARTIFACTS
from hms.synth.truth import ARTIFACT_KINDS, PATTERN_CLASSES, artifact_loads, window_factors


def identity_sae(d: int) -> SparseAutoencoder:
    """An SAE whose codes are its (non-negative) inputs and whose decoder gives them back."""
    sae = SparseAutoencoder(SAEConfig(d_in=d, expansion=1.0, k=d, aux_k=1))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


def wired_head(weight: np.ndarray, bias: np.ndarray | None = None) -> nn.Linear:
    head = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        head.bias.copy_(torch.as_tensor(bias if bias is not None else np.zeros(len(weight)), dtype=torch.float32))
    return head.eval()


@pytest.fixture()
def identity_split() -> CausalSplit:
    """Six features, feature k wired to class k only; two views per row."""
    rng = np.random.default_rng(0)
    views = rng.uniform(0, 1.5, size=(300, 2, N_CLASSES)).astype(np.float32)
    train = np.arange(300) < 200
    return CausalSplit(wired_head(3 * np.eye(N_CLASSES)), views, train, ~train)


def test_ablating_a_feature_of_an_identity_model_moves_only_its_class(identity_split):
    sae = identity_sae(N_CLASSES)
    dictionary = SAEDictionary.fit(sae, torch.from_numpy(identity_split.views.reshape(-1, N_CLASSES)))
    views = identity_split.views[identity_split.valid]
    base = edited_probabilities(identity_split.head, dictionary, views).mean(0)
    for k in range(N_CLASSES):
        change = edited_probabilities(identity_split.head, dictionary, views, Edit(ablate=(k,))).mean(0) - base
        assert change[k] < -0.05
        assert (np.delete(change, k) > 0).all()  # the others gain what class k lost: none of them drops
        steered = edited_probabilities(identity_split.head, dictionary, views, Edit(steer=(k,))).mean(0) - base
        assert steered[k] > 0.05 and (np.delete(steered, k) < 0).all()
    effects = feature_effects(identity_split, dictionary, [2]).iloc[0]
    assert effects["effect_gpd"] < 0 and all(effects[f"effect_{c}"] > 0 for c in CLASSES if c != "gpd")


def test_the_causal_table_picks_each_class_its_own_feature_and_beats_random(identity_split):
    table, extra = causal_table(identity_split, identity_sae(N_CLASSES), n=1)
    assert {c: extra["chosen"][c].directions for c in CLASSES} == {c: (k,) for k, c in enumerate(CLASSES)}
    np.testing.assert_allclose(extra["dla"], 3 * np.eye(N_CLASSES), atol=1e-5)  # decoder direction through the head
    sae = table[table["method"] == "sae"].set_index("class")
    rand = table[table["method"] == "random"].set_index("class")
    assert (sae["ablate_selectivity"] >= 3).all()
    assert (sae["ablate_selectivity"] > rand["ablate_selectivity"]).all()
    assert set(table["method"]) == {"sae", "pca", "random"}


def test_a_per_position_feature_acts_through_the_pooling_on_its_class_only():
    """Six per-position features on a 4-cell map averaged by the pooling, feature k wired to class k: its DLA is the
    head's column divided by the cells, and removing it at every cell lowers class k only."""
    rng = np.random.default_rng(1)
    windows = rng.uniform(0, 1.5, size=(40, 2, 4, N_CLASSES)).astype(np.float32)
    net = PositionNetwork(lambda x: x.mean(dim=1), wired_head(3 * np.eye(N_CLASSES)), torch.zeros(N_CLASSES))
    dla, effects = position_feature_checks(net, identity_sae(N_CLASSES), windows, [1, 4])
    np.testing.assert_allclose(dla, 0.75 * np.eye(N_CLASSES)[[1, 4]], atol=1e-5)
    for row, k in zip(effects, (1, 4), strict=True):
        assert row[k] < -0.05 and (np.delete(row, k) > 0).all()


@pytest.fixture(scope="module")
def truths() -> dict[str, tuple]:
    """The labels and ground truth of a 30-patient simulation, clean and with every training seizure episode
    carrying blinks (no files written: the toy below reads the ground truth, not the signals)."""
    from hms.synth.simulate import SynthConfig, ground_truth_only

    clean = SynthConfig(30, 2, 5, 4)
    planted = SynthConfig(30, 2, 5, 4, shortcuts=("seizure=blink",), shortcut_strength=1.0)
    return {
        "clean": (*ground_truth_only(clean), []),
        "planted": (*ground_truth_only(planted), [("seizure", "blink")]),
    }


STRONG_TIE = 1.0  # effect size (Cohen's d) of an artifact's load between a class's training rows and the others


def learned_ties(loads: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(6, kinds): 1 where an artifact's load ties strongly to a class in these rows (effect size >= STRONG_TIE)."""
    ties = np.zeros((N_CLASSES, loads.shape[1]))
    for c in range(N_CLASSES):
        a, b = loads[y == c], loads[y != c]
        if len(a) < 2 or len(b) < 2:
            continue
        pooled = np.sqrt((a.var(0) + b.var(0)) / 2) + 1e-9
        ties[c] = (a.mean(0) - b.mean(0)) / pooled >= STRONG_TIE
    return ties


def toy_network(train: pd.DataFrame, events: pd.DataFrame, planted: list, seed: int = 0) -> tuple[AuditInputs, list]:
    """A toy classifier that reads a simulation's planted factors instead of its signals: its inputs are each
    window's class patterns (noisy) and artifact loads; its head reads each pattern for its class and, learned from
    the training rows (2 of 3 folds), any artifact whose load ties strongly to a class there (a learner that takes
    only strong ties, so chance ties of a small simulation stay out); its SAE the identity."""
    rng = np.random.default_rng(seed)
    folds = make_folds(train, 3, seed=3)
    rows = train.merge(folds[["eeg_id", "fold"]], on="eeg_id").reset_index(drop=True)
    factors, loads = window_factors(rows, events), artifact_loads(rows, events)
    patterns = factors[[f"pattern_{c}" for c in PATTERN_CLASSES]].to_numpy(float)
    noisy = np.clip(patterns + rng.normal(0, 0.3, patterns.shape), 0, None)
    scaled = (loads / (loads.to_numpy().max(axis=0) + 1e-9)).to_numpy()
    x = np.c_[noisy, scaled].astype(np.float32)
    fit = rows["fold"].to_numpy() != 0
    weight = np.zeros((N_CLASSES, x.shape[1]))
    for k, c in enumerate(PATTERN_CLASSES):
        weight[CLASSES.index(c), k] = 4.0
    weight[:, len(PATTERN_CLASSES) :] = 4.0 * learned_ties(scaled[fit], vote_probabilities(rows[fit]).argmax(1))
    bias = np.zeros(N_CLASSES)
    bias[CLASSES.index("other")] = 2.0
    split = CausalSplit(wired_head(weight, bias), np.repeat(x[:, None], 2, axis=1), fit, ~fit)
    sae = identity_sae(x.shape[1])
    dictionary = SAEDictionary.fit(sae, torch.from_numpy(x[fit]))
    _, extra = causal_table(split, sae, n=3)
    twins = {}  # the counterfactual: the validation rows heavy with an artifact, its load removed from the inputs
    for kind in SHORTCUT_ARTIFACTS:
        heavy_rows = np.flatnonzero(heavy(loads[kind].to_numpy()[~fit]))
        without = x[~fit][heavy_rows].copy()
        without[:, len(PATTERN_CLASSES) + ARTIFACT_KINDS.index(kind)] = 0.0
        twins[kind] = Counterfactual(heavy_rows, np.repeat(without[:, None], 2, axis=1))
    inputs = AuditInputs(
        split,
        dictionary,
        extra["chosen"],
        factors.reset_index(drop=True),
        loads.reset_index(drop=True),
        rows["patient_id"].to_numpy(),
        twins,
    )
    return inputs, planted


def test_the_shortcut_audit_flags_a_planted_shortcut_and_nothing_without_one(truths):
    planted = shortcut_audit(*toy_network(*truths["planted"]))
    clean = shortcut_audit(*toy_network(*truths["clean"]))
    assert list(planted.columns[:4]) == ["class", "artifact", "flagged", "planted"]
    assert len(planted) == len(CLASSES) * len(SHORTCUT_ARTIFACTS)
    hit = planted.set_index(["class", "artifact"]).loc[("seizure", "blink")]
    assert hit["planted"] and hit["flagged"] and hit["ablation_drop"] > 0.02
    assert planted["flagged"].sum() == 1
    assert not clean["flagged"].any() and not clean["planted"].any()
    assert "FLAGGED" in audit_words(planted, "seizure") and "blink" in audit_words(planted, "seizure")
    assert "none of its top features" in audit_words(clean, "seizure")


def test_real_data_gets_every_pair_of_the_audit_table_with_the_reason_it_is_empty():
    from hms.explain.checks import NO_TRUTH
    from hms.explain.shortcuts import COLUMNS, unaudited

    table = unaudited(NO_TRUTH)
    assert list(table.columns) == list(COLUMNS) and len(table) == len(CLASSES) * len(SHORTCUT_ARTIFACTS)
    assert table["flagged"].isna().all() and table["note"].str.startswith("real data").all()
    assert audit_words(table, "lpd").startswith("Shortcut audit: not run")
