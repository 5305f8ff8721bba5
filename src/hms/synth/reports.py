"""Simulated EEG reports: a short neurologist-style text per recording (eeg_id), written from what the simulator
planted in it — pattern (with synonyms), side, region, frequency, periodicity, evolution, artifacts, background.
Wording varies; some reports are vague and some partly wrong, as real ones are. ``reports.csv`` sits beside
``oracle.csv`` (ground truth, not a competition file). Deterministic: the text of an eeg_id depends only on the seed
and what was planted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hms.constants import CLASSES
from hms.synth.structure import EegPlan, SessionPlan, Structure

#: probabilities that a report is vague (pattern named loosely, no side) or gets one detail wrong
P_VAGUE, P_WRONG_SIDE, P_WRONG_PATTERN = 0.12, 0.08, 0.06
NAMES = {
    "seizure": [
        "electrographic seizure",
        "ictal pattern",
        "evolving rhythmic discharge consistent with a seizure",
        "seizure",
    ],
    "lpd": ["lateralized periodic discharges (LPDs)", "LPDs", "PLEDs", "periodic lateralized epileptiform discharges"],
    "gpd": [
        "generalized periodic discharges (GPDs)",
        "GPDs",
        "generalized periodic sharp waves",
        "bilateral synchronous periodic discharges",
    ],
    "lrda": [
        "lateralized rhythmic delta activity (LRDA)",
        "LRDA",
        "focal rhythmic delta activity",
        "lateralized rhythmic slowing in the delta range",
    ],
    "grda": [
        "generalized rhythmic delta activity (GRDA)",
        "GRDA",
        "frontally predominant rhythmic delta (FIRDA)",
        "diffuse rhythmic delta activity",
    ],
}
VAGUE = [
    "abnormal EEG with intermittent slowing",
    "nonspecific abnormalities",
    "possible epileptiform activity",
    "background slowing, clinical correlation advised",
]
OTHER = [
    "no epileptiform discharges",
    "no seizures or periodic patterns",
    "diffuse background slowing without rhythmic or periodic patterns",
    "unremarkable apart from artifact",
    "mild encephalopathy, no IIIC pattern",
]
SIDE_WORDS = {
    "left": ["left", "left hemisphere", "left-sided"],
    "right": ["right", "right hemisphere", "right-sided"],
    "bilateral": ["bilateral", "bilaterally synchronous", "generalized"],
}


def eeg_facts(plan: SessionPlan, eeg: EegPlan, notes: dict) -> dict:
    """What the recording holds: the episode overlapping it longest (its main pattern) and the background."""
    best, overlap = None, 0.0
    for ep, ep_notes in zip(plan.episodes, notes["episodes"], strict=True):
        o = min(ep.stop, eeg.start + eeg.length) - max(ep.start, eeg.start)
        if o > overlap:
            best, overlap = (ep, ep_notes), o
    facts = {
        "main_class": "other",
        "clarity": 1.0,
        "alpha_hz": notes["background"].get("alpha_hz", 10.0),
        **{k: notes["artifacts"].get(k, 0.0) for k in ("blinks_per_min", "muscle_per_min")},
    }
    if best is not None:
        ep, ep_notes = best
        facts.update(main_class=CLASSES[ep.cls], clarity=float(ep.clarity), **ep_notes.get("main") or {})
        if ep.secondary is not None and ep.secondary != ep.cls:
            facts["secondary_class"] = CLASSES[ep.secondary]
    return facts


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def write_report(facts: dict, rng: np.random.Generator) -> tuple[str, str]:
    """(report text, quality: accurate | vague | wrong_side | wrong_pattern)."""
    cls = facts["main_class"]
    u = rng.random()
    quality = "accurate"
    parts = []
    if cls == "other":
        parts.append(_sentence(_pick(rng, OTHER)))
    elif u < P_VAGUE:
        quality = "vague"
        parts.append(_sentence(_pick(rng, VAGUE)))
    else:
        shown = cls
        if u < P_VAGUE + P_WRONG_PATTERN:
            quality = "wrong_pattern"
            shown = {"lpd": "gpd", "gpd": "lpd", "lrda": "grda", "grda": "lrda", "seizure": "lrda"}[cls]
        side = facts.get("side", "bilateral")
        if P_VAGUE + P_WRONG_PATTERN <= u < P_VAGUE + P_WRONG_PATTERN + P_WRONG_SIDE and side in ("left", "right"):
            quality = "wrong_side"
            side = "right" if side == "left" else "left"
        name = _pick(rng, NAMES[shown])
        region = facts.get("region")
        region_text = f" {region}" if region and region != "diffuse" and rng.random() < 0.8 else ""
        where = side if region_text and side != "bilateral" else _pick(rng, SIDE_WORDS[side])
        freq = facts.get("freq_hz")
        if shown in ("lpd", "gpd") and freq:
            rhythm = (
                f", recurring every {1 / freq:.1f} s (about {freq:.1f} Hz)"
                if rng.random() < 0.5
                else (f" at {freq:.1f} Hz")
            )
        elif freq:
            rhythm = f" at {freq:.1f} Hz" if rng.random() < 0.7 else f" at about {round(freq)} Hz"
        else:
            rhythm = ""
        if shown == "seizure" and facts.get("freq_end_hz"):
            f0, f1 = facts["freq_hz"], facts["freq_end_hz"]
            rhythm = f", evolving in frequency from {f0:.0f} to {f1:.0f} Hz" + (
                " with spread to the other hemisphere" if facts.get("spread") else ""
            )
        lead = _pick(rng, ["There are", "The record shows", "Findings:", "EEG demonstrates"])
        if side == "bilateral":
            parts.append(f"{lead} {name}, {where}{region_text}{rhythm}.")
        elif region_text:
            parts.append(f"{lead} {name} over the {where}{region_text} region{rhythm}.")
        elif where.endswith("sided"):  # no region named: "left-sided", "over the left hemisphere" or "on the left"
            parts.append(f"{lead} {name}, {where}{rhythm}.")
        elif " " in where:
            parts.append(f"{lead} {name} over the {where}{rhythm}.")
        else:
            parts.append(f"{lead} {name} on the {where}{rhythm}.")
        if facts.get("clarity", 1.0) < 0.4:
            parts.append(
                _pick(
                    rng,
                    [
                        "Pattern is intermittent and of low amplitude.",
                        "Poorly formed at times.",
                        "Borderline; could represent an artifact.",
                    ],
                )
            )
        if facts.get("secondary_class") and facts["secondary_class"] != "other" and rng.random() < 0.5:
            parts.append(f"Intermixed {_pick(rng, NAMES[facts['secondary_class']])}.")
    background = ["Background is diffusely slow.", "Background reactive.", "Background continuous."]
    parts.append(
        f"Posterior dominant rhythm {facts['alpha_hz']:.0f} Hz." if rng.random() < 0.6 else _pick(rng, background)
    )
    if facts["muscle_per_min"] > 0.5 and rng.random() < 0.8:
        parts.append(_pick(rng, ["Frequent muscle artifact.", "Obscured at times by muscle artifact."]))
    if facts["blinks_per_min"] > 5 and rng.random() < 0.6:
        parts.append(_pick(rng, ["Eye blink artifact frontally.", "Frequent eye movements."]))
    return " ".join(parts), quality


def reports_table(structure: Structure, notes: dict[int, dict], seed: int) -> pd.DataFrame:
    """One report per eeg_id of both splits; ``notes`` by spectrogram_id (from ``session_signal``)."""
    rows = []
    for plan in structure.sessions:
        for eeg in plan.eegs:
            facts = eeg_facts(plan, eeg, notes[plan.spectrogram_id])
            rng = np.random.default_rng(np.random.SeedSequence([seed, eeg.eeg_id]))
            text, quality = write_report(facts, rng)
            rows.append(
                {
                    "split": plan.split,
                    "eeg_id": eeg.eeg_id,
                    "patient_id": plan.patient_id,
                    "main_class": facts["main_class"],
                    "side": facts.get("side", ""),
                    "region": facts.get("region", ""),
                    "freq_hz": facts.get("freq_hz", np.nan),
                    "quality": quality,
                    "report": text,
                }
            )
    return pd.DataFrame(rows).sort_values(["split", "eeg_id"]).reset_index(drop=True)
