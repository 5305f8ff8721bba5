"""``python -m hms clip --config configs/clip.yaml [--data DIR]``: train EEG-CLIP per patient-grouped fold on
(EEG image, report) pairs and evaluate zero-shot decoding of the six patterns on the held-out eeg_ids.

Writes ``models/<name>/clip/``: fold{k}.safetensors + .json (weights and settings), fold{k}.npz (eeg_ids, their
aligned EEG embeddings and the report embeddings), scores.csv (zero-shot KL on golden eeg_ids, accuracy, class prior)
and a leaderboard row."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from hms import leaderboard
from hms.clip.model import CLIP_FAMILY, ClipConfig, ClipModel
from hms.clip.text import embed_texts
from hms.clip.zeroshot import fit_temperature, read_prompts, zero_shot_probs
from hms.constants import CLASSES
from hms.data import Competition
from hms.data.errors import DataError
from hms.data.labels import dedupe_rows, eeg_level, vote_probabilities
from hms.experiment import ExperimentDir
from hms.families import DEFAULT_FAMILY, get_family
from hms.inputs import row_inputs
from hms.io import atomic_write, write_csv, write_json
from hms.metric import score_arrays
from hms.paths import MODELS_DIR, REPO_ROOT
from hms.signal.config import FrontEndConfig
from hms.signal.image import n_views, swap_image


def read_reports(comp: Competition) -> pd.DataFrame:
    path = comp.root / "reports.csv"
    if not path.is_file():
        raise DataError(
            f"{path}: missing; the simulator writes one report per recording "
            f"(python -m hms synth --out {comp.root} ... again)"
        )
    reports = pd.read_csv(path)
    return reports[reports["split"] == "train"].drop_duplicates("eeg_id").set_index("eeg_id")


def pair_rows(train: pd.DataFrame, reports: pd.DataFrame, rows_per_eeg: int) -> pd.DataFrame:
    """Up to ``rows_per_eeg`` distinct-vote label rows of every eeg_id that has a report (first ones first)."""
    rows = dedupe_rows(train)
    rows = rows[rows["eeg_id"].isin(reports.index)]
    return rows.groupby("eeg_id", sort=False).head(rows_per_eeg).reset_index(drop=True)


def build_images(comp: Competition, rows: pd.DataFrame, cfg: FrontEndConfig, batch_size: int = 32) -> torch.Tensor:
    """The spectrogram-CNN family's images of label rows (the EEG side reads what that family reads)."""
    family = get_family(CLIP_FAMILY)
    out = []
    records = rows.to_dict("records")
    for start in tqdm(range(0, len(records), batch_size), desc="clip images", unit="batch", leave=False):
        out.append(row_inputs(comp, records[start : start + batch_size], "train", family, cfg, all_rows=True).inputs)
    return torch.cat(out)


def swap_sides(report: str) -> str:
    """The report of the hemisphere-swapped recording: left <-> right."""
    return re.sub(
        r"\b(left|right|Left|Right)\b",
        lambda m: {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}[m.group(1)],
        report,
    )


def init_model(cfg: ClipConfig, fold: int, folds: pd.DataFrame) -> ClipModel:
    """ImageNet init, or (``init_from``) the supervised CNN of the same fold, whose training never saw this fold's
    held-out patients (the folds must be identical)."""
    if cfg.init_from is None:
        return ClipModel(cfg, pretrained=cfg.model.pretrained is not None)
    source = ExperimentDir(Path(cfg.init_from) if Path(cfg.init_from).is_absolute() else REPO_ROOT / cfg.init_from)
    theirs = source.read_folds().sort_values("eeg_id").reset_index(drop=True)
    ours = folds.sort_values("eeg_id").reset_index(drop=True)
    if not theirs[["eeg_id", "fold"]].equals(ours[["eeg_id", "fold"]]):
        raise DataError(
            f"{source.folds_csv} differs from the CLIP folds: its fold {fold} CNN may have seen held-out "
            "patients; use the same n_folds and seed as that experiment"
        )
    meta = source.read_sidecar(fold)
    family = meta.get("family", DEFAULT_FAMILY)
    if family != CLIP_FAMILY:
        raise DataError(
            f"init_from {source}: a {family} experiment; EEG-CLIP takes the {CLIP_FAMILY} family only (its EEG side "
            f"is that family's timm network on the stacked image): init_from a {CLIP_FAMILY} experiment, or leave "
            "init_from out"
        )
    if meta["model"]["name"] != cfg.model.name:
        raise ValueError(f"init_from {source}: model {meta['model'].get('name')} != clip model {cfg.model.name}")
    if FrontEndConfig.from_dict(meta["frontend"]) != cfg.frontend:
        raise ValueError(
            f"init_from {source}: its front-end ({source.sidecar(fold).name}) differs from the clip "
            "config's; copy that experiment's frontend block into the clip config"
        )
    model = ClipModel(cfg, pretrained=False)
    model.eeg.load_state_dict(load_file(str(source.weights(fold))))
    return model


def train_fold(
    cfg: ClipConfig,
    images: torch.Tensor,
    text: torch.Tensor,
    rows: pd.DataFrame,
    fold: int,
    train_ids: np.ndarray,
    progress: bool = True,
    folds: pd.DataFrame | None = None,
    swapped_text: torch.Tensor | None = None,
    frontend: FrontEndConfig | None = None,
) -> tuple[ClipModel, list[float]]:
    """Contrastive training on the training eeg_ids; each epoch draws one label row per eeg_id, and (``swap_p``)
    swaps the hemispheres of the image together with left/right in its report."""
    torch.manual_seed(cfg.seed + fold)
    gen = torch.Generator().manual_seed(cfg.seed + fold)
    model = init_model(cfg, fold, folds) if folds is not None else ClipModel(cfg, cfg.model.pretrained is not None)
    model = model.to(memory_format=torch.channels_last)
    backbone = list(model.eeg.parameters())
    heads = [p for n, p in model.named_parameters() if not n.startswith("eeg.")]
    opt = torch.optim.AdamW(
        [{"params": backbone, "lr": cfg.lr_backbone}, {"params": heads, "lr": cfg.lr}], weight_decay=cfg.weight_decay
    )
    by_eeg = rows.groupby("eeg_id").indices
    ids = [int(e) for e in train_ids if int(e) in by_eeg]
    history = []
    model.train()
    for _ in tqdm(range(cfg.epochs), desc=f"clip fold {fold}", unit="epoch", disable=not progress, leave=False):
        order = torch.randperm(len(ids), generator=gen).tolist()
        picks = [by_eeg[ids[i]][int(torch.randint(len(by_eeg[ids[i]]), (1,), generator=gen))] for i in order]
        losses = []
        for start in range(0, len(picks) - 1, cfg.batch_size):
            batch = picks[start : start + cfg.batch_size]
            if len(batch) < 2:
                continue
            x, t = images[batch], text[batch]  # text is aligned with the pair rows
            if swapped_text is not None and frontend is not None and cfg.swap_p > 0:
                swap = torch.rand(len(batch), generator=gen) < cfg.swap_p
                if swap.any():
                    x = x.clone()
                    x[swap] = swap_image(x[swap], frontend.layout, n_views(frontend))
                    t = torch.where(swap[:, None], swapped_text[batch], t)
            loss = model.loss(x.contiguous(memory_format=torch.channels_last), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)) if losses else float("nan"))
    return model.eval(), history


@torch.no_grad()
def encode_eegs(model: ClipModel, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    model.eval()
    out = [
        model.encode_eeg(images[i : i + batch_size].contiguous(memory_format=torch.channels_last))
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out).numpy()


@torch.no_grad()
def encode_texts(model: ClipModel, text_embeddings: np.ndarray) -> np.ndarray:
    model.eval()
    return model.encode_text(torch.from_numpy(np.asarray(text_embeddings, dtype=np.float32))).numpy()


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def save_fold(model: ClipModel, cfg: ClipConfig, path: Path, extra: dict) -> None:
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda p: save_file(state, str(p)))
    write_json({"config": cfg.to_dict(), **extra}, path.with_suffix(".json"))


def load_fold(path: str | Path) -> tuple[ClipModel, ClipConfig]:
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    cfg = ClipConfig.from_dict(meta["config"])
    model = ClipModel(cfg, pretrained=False)
    model.load_state_dict(load_file(str(path)))
    return model.eval(), cfg


def eeg_targets(train: pd.DataFrame, eeg_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """eeg_id-level vote distributions (votes summed over rows) and golden flags, in ``eeg_ids`` order."""
    eegs = eeg_level(train).set_index("eeg_id").loc[eeg_ids]
    return vote_probabilities(eegs), eegs["golden"].to_numpy()


def zero_shot_scores(
    eeg_z: np.ndarray, prompt_z: np.ndarray, targets: np.ndarray, golden: np.ndarray, is_train: np.ndarray
) -> dict:
    """Temperature fitted on training eeg_ids; KL (golden held-out) and accuracy vs the training class prior."""
    sims = eeg_z @ prompt_z.T
    temperature = fit_temperature(sims[is_train], targets[is_train])
    probs = zero_shot_probs(sims, temperature)
    held = ~is_train
    gold = held & golden
    prior = targets[is_train].mean(axis=0)
    score = lambda p, m: score_arrays(targets[m], p[m]) if m.any() else float("nan")  # noqa: E731
    return {
        "temperature": temperature,
        "held_out_eegs": int(held.sum()),
        "golden_eegs": int(gold.sum()),
        "zero_shot_kl_golden": score(probs, gold),
        "zero_shot_kl_all": score(probs, held),
        "prior_kl_golden": score(np.tile(prior, (len(targets), 1)), gold),
        "prior_kl_all": score(np.tile(prior, (len(targets), 1)), held),
        "zero_shot_accuracy": float((probs[held].argmax(1) == targets[held].argmax(1)).mean()) if held.any() else 0.0,
        "prior_accuracy": float((targets[held].argmax(1) == prior.argmax()).mean()) if held.any() else 0.0,
    }, probs


def run_clip(
    cfg: ClipConfig,
    data: str | Path | None = None,
    models_root: str | Path = MODELS_DIR,
    files_dir: str | Path | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    started = time.perf_counter()
    leaderboard.check(files_dir)  # before any work: the run's row must have a leaderboard to join
    comp = Competition.from_arg(data)
    train = comp.train()
    reports = read_reports(comp)
    exp = ExperimentDir.named(cfg.name, models_root)
    exp.clip_dir.mkdir(parents=True, exist_ok=True)
    folds = exp.folds_for(train, cfg.n_folds, cfg.seed)  # the experiment's folds (computed here if it has none)
    fe = cfg.frontend
    rows = pair_rows(train, reports, cfg.rows_per_eeg)
    images = build_images(comp, rows, fe)
    report_text = reports.loc[rows["eeg_id"], "report"].tolist()
    text = torch.from_numpy(embed_texts(report_text))
    swapped = torch.from_numpy(embed_texts([swap_sides(r) for r in report_text])) if cfg.swap_p > 0 else None
    first = ~rows["eeg_id"].duplicated().to_numpy()  # one image per eeg_id for evaluation
    eeg_ids = rows.loc[first, "eeg_id"].to_numpy()
    targets, golden = eeg_targets(train, eeg_ids)
    fold_of = folds.set_index("eeg_id").loc[eeg_ids, "fold"].to_numpy()
    prompt_path = Path(cfg.prompts) if Path(cfg.prompts).is_absolute() else REPO_ROOT / cfg.prompts
    prompt_emb = embed_texts(read_prompts(prompt_path))
    records = []
    for fold in cfg.folds if cfg.folds is not None else range(cfg.n_folds):
        is_train = fold_of != fold
        model, history = train_fold(cfg, images, text, rows, fold, eeg_ids[is_train], progress, folds, swapped, fe)
        eeg_z = encode_eegs(model, images[torch.from_numpy(np.flatnonzero(first))])
        text_z = encode_texts(model, text.numpy()[first])
        scores, probs = zero_shot_scores(eeg_z, encode_texts(model, prompt_emb), targets, golden, is_train)
        save_fold(model, cfg, exp.clip_weights(fold), {"fold": fold, "history": history, **scores})
        arrays = {"eeg_ids": eeg_ids, "eeg_z": eeg_z, "text_z": text_z, "zero_shot": probs, "is_train": is_train}
        atomic_write(exp.clip_arrays(fold), lambda p, a=arrays: _savez(p, a))
        records.append({"fold": fold, **scores, "final_loss": history[-1] if history else float("nan")})
    table = pd.DataFrame(records)
    write_csv(table, exp.clip_scores)
    _record(cfg, table, (time.perf_counter() - started) / 60, files_dir)
    return table


def _record(cfg: ClipConfig, table: pd.DataFrame, minutes: float, files_dir: str | Path | None) -> None:
    def mean(column: str, count: str = "held_out_eegs") -> float:
        w = table[count].to_numpy(dtype=float)
        ok = w > 0
        return float(np.average(table.loc[ok, column], weights=w[ok])) if ok.any() else float("nan")

    row = {
        "experiment": f"{cfg.name}_clip_zeroshot",
        "seed": cfg.seed,
        "folds": len(table),
        "model": cfg.model.name,
        "oof_kl_all": mean("zero_shot_kl_all"),
        "oof_kl_golden": mean("zero_shot_kl_golden", "golden_eegs"),
        "class_prior_kl": mean("prior_kl_golden", "golden_eegs"),
        "train_minutes": round(minutes, 2),
        "notes": f"zero-shot accuracy {mean('zero_shot_accuracy'):.3f} (prior {mean('prior_accuracy'):.3f}); "
        f"classes {','.join(CLASSES)}",
    }
    leaderboard.append(row, files_dir)
