"""Fitting and evaluating a sparse autoencoder on a matrix of embeddings (deterministic for a given seed; a fit given
a checkpoint path saves its state every ``CHECKPOINT_EVERY`` steps and an interrupted fit resumes to the same SAE)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hms.io import atomic_write
from hms.sae.model import SAEConfig, SparseAutoencoder
from hms.sae.store import ActivationStore

log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 100  # steps between two saves of the resume state (when a checkpoint path is given) ...
CHECKPOINT_SECONDS = 30.0  # ... and at least this long since the last save (on a GPU, 100 steps take well under 1 s)
MEDIAN_SAMPLE = 65_536  # b_dec's median is taken over at most this many training vectors (all of them when fewer)


def standardizer(
    x: np.ndarray | ActivationStore,
    mode: str,
    mean: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) from the training part: per-dimension std ('dim') or one overall RMS scale ('global'); computed
    chunk by chunk in float64, so a memory-mapped store needs no more memory than an array (``mean``: already known)."""
    store = x if isinstance(x, ActivationStore) else ActivationStore.from_array(x)
    mean = store.mean() if mean is None else mean
    sq = store.centred_square_sums(mean.astype(np.float32))
    if mode == "dim":
        scale = np.sqrt(sq / len(store))
        scale = np.where(scale > 1e-6 * max(float(scale.max()), 1e-12), scale, 1.0)
    else:
        scale = np.full(store.dim, np.sqrt(sq.sum() / len(store) / store.dim))
    return mean.astype(np.float32), scale.astype(np.float32)


def initialised_sae(store: ActivationStore, cfg: SAEConfig, data_mean: np.ndarray) -> SparseAutoencoder:
    """A new SAE: its standardisation fitted on ``store``, b_dec at the median (or mean) of up to ``MEDIAN_SAMPLE``
    standardised vectors."""
    n = len(store)
    sae = SparseAutoencoder(cfg)
    mean, scale = standardizer(store, cfg.standardize, data_mean)
    sae.x_mean.copy_(torch.from_numpy(mean))
    sae.x_scale.copy_(torch.from_numpy(scale))
    sample = (
        np.arange(n)
        if n <= MEDIAN_SAMPLE
        else np.sort(np.random.default_rng(cfg.seed).choice(n, MEDIAN_SAMPLE, replace=False))
    )
    xs = sae.standardize(torch.from_numpy(store.take(sample)))
    with torch.no_grad():
        sae.b_dec.copy_(xs.median(0).values if cfg.b_dec_init == "median" else xs.mean(0))
    return sae


def total_variance(sae: SparseAutoencoder, store: ActivationStore, data_mean: np.ndarray) -> torch.Tensor:
    """Mean squared distance of the standardised vectors from their mean (the FVU's denominator), one pass."""
    mean_s = sae.standardize(torch.from_numpy(data_mean.astype(np.float32)))
    total = sum(float(sae.standardize(torch.from_numpy(b)).sub(mean_s).pow(2).sum()) for b in store.blocks())
    return torch.tensor(float(total) / len(store))


def fit_sae(
    x: np.ndarray | ActivationStore,
    cfg: SAEConfig,
    progress: bool = True,
    desc: str = "sae",
    sae: SparseAutoencoder | None = None,
    checkpoint: Path | None = None,
) -> tuple[SparseAutoencoder, list]:
    """Train on raw embeddings ``x`` (n, d_in), an array or an :class:`ActivationStore` (memory-mapped chunks: the
    same fit, batches gathered from disk): standardise, initialise b_dec at the median/mean, Adam, unit-norm decoder
    columns after every step, AuxK on dead latents. Returns the SAE and a history of (step, fvu, dead). With ``sae``
    given, that SAE (its standardisation and state included) is trained further instead. With ``checkpoint``, the
    state (SAE, optimiser, sampling order, step) is saved there every ``CHECKPOINT_EVERY`` steps once
    ``CHECKPOINT_SECONDS`` have passed since the last save; a checkpoint of the
    same settings and the same data (size and mean vector) is resumed from, and the file is removed when the fit
    ends."""
    if not isinstance(x, ActivationStore) and (x.ndim != 2 or x.shape[1] != cfg.d_in):
        raise ValueError(f"SAE input must be (n, {cfg.d_in}), got {x.shape}")
    store = x if isinstance(x, ActivationStore) else ActivationStore.from_array(x)
    if store.dim != cfg.d_in:
        raise ValueError(f"SAE input must be (n, {cfg.d_in}), got {(len(store), store.dim)}")
    data_mean = store.mean()  # one pass; NaN/inf anywhere makes it non-finite (float32 data cannot overflow float64)
    if not np.isfinite(data_mean).all():
        raise ValueError("SAE input has NaN/inf rows; drop rows without CNN outputs before fitting")
    torch.manual_seed(cfg.seed)
    n = len(store)
    gen = torch.Generator().manual_seed(cfg.seed)
    continued = sae is not None
    sae = sae.train() if continued else initialised_sae(store, cfg, data_mean)
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr)
    total_var = total_variance(sae, store, data_mean)
    history = []
    order = torch.randperm(n, generator=gen)
    pos, start = 0, 0
    signature = json.dumps(
        {"config": asdict(cfg), "n": n, "continued": continued, "data": hashlib.sha1(data_mean.tobytes()).hexdigest()},
        sort_keys=True,
    )
    if checkpoint is not None and Path(checkpoint).is_file():
        saved = torch.load(checkpoint, weights_only=True)
        if saved.get("signature") == signature:
            sae.load_state_dict(saved["sae"])
            opt.load_state_dict(saved["optimizer"])
            gen.set_state(saved["generator"])
            order, pos, start, history = saved["order"], int(saved["pos"]), int(saved["step"]), list(saved["history"])
            log.info("%s: resuming at step %d of %d (%s)", desc, start, cfg.steps, checkpoint)
        else:
            log.info("%s: %s is of other settings or data; starting over", desc, checkpoint)
    bar = tqdm(
        range(start, cfg.steps),
        desc=desc,
        unit="step",
        leave=False,
        disable=not progress,
        initial=start,
        total=cfg.steps,
    )
    saved_at = time.monotonic()
    for step in bar:
        if pos + cfg.batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        batch = sae.standardize(torch.from_numpy(store.take(order[pos : pos + cfg.batch_size].numpy())))
        pos += cfg.batch_size
        lr_scale = min(1.0, (cfg.steps - step) / (0.2 * cfg.steps))  # linear decay over the last 20 %
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_scale
        out = sae.losses(batch)
        loss = out["mse"] / total_var + out["sparsity"] + out["aux"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sae.remove_parallel_grad()
        opt.step()
        sae.normalize_decoder()
        sae.update_fired(out["z"].detach())
        if step % 50 == 0 or step == cfg.steps - 1:
            fvu = float(out["mse"].detach() / total_var)
            dead = float(sae.dead_mask().float().mean())
            history.append((step, fvu, dead))
            bar.set_postfix(fvu=f"{fvu:.3f}", dead=f"{dead:.3f}")
        due = (step + 1) % CHECKPOINT_EVERY == 0 and time.monotonic() - saved_at >= CHECKPOINT_SECONDS
        if checkpoint is not None and due and step + 1 < cfg.steps:
            state = {
                "signature": signature,
                "sae": sae.state_dict(),
                "optimizer": opt.state_dict(),
                "generator": gen.get_state(),
                "order": order,
                "pos": pos,
                "step": step + 1,
                "history": history,
            }
            atomic_write(Path(checkpoint), lambda p, st=state: torch.save(st, p))
            saved_at = time.monotonic()
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return sae.eval(), history


@torch.no_grad()
def evaluate(sae: SparseAutoencoder, x: np.ndarray | ActivationStore, batch: int = 1024) -> dict:
    """Explained variance (1 - FVU, in the standardised space), mean L0, fraction of latents that never fire on
    ``x``, and each latent's firing density (an :class:`ActivationStore` is read chunk by chunk)."""
    store = x if isinstance(x, ActivationStore) else ActivationStore.from_array(np.asarray(x, np.float32))
    mean_s = sae.standardize(torch.from_numpy(store.mean().astype(np.float32)))
    sq_err, total, fired, l0 = 0.0, 0.0, torch.zeros(sae.cfg.d_sae), 0.0
    for block in store.blocks():
        xs = sae.standardize(torch.from_numpy(block))
        total += float((xs - mean_s).pow(2).sum())
        for start in range(0, len(xs), batch):
            part = xs[start : start + batch]
            z = sae.encode(part)
            sq_err += float((part - sae.decode(z)).pow(2).sum())
            act = sae.active(z)
            fired += act.float().sum(0)
            l0 += float(act.float().sum())
    n = max(1, len(store))
    density = (fired / n).numpy()
    return {
        "explained_variance": 1 - sq_err / max(total, 1e-12),
        "l0": l0 / n,
        "dead_fraction": float((density == 0).mean()),
        "density": density,
    }


def split_metrics(on_train: dict, on_valid: dict) -> dict:
    """The per-fold columns of an SAE's metrics from :func:`evaluate` on its training and validation parts."""
    return {
        "explained_variance_train": on_train["explained_variance"],
        "explained_variance": on_valid["explained_variance"],
        "l0": on_valid["l0"],
        "dead_fraction": on_train["dead_fraction"],
        "dead_fraction_valid": on_valid["dead_fraction"],
    }
