"""Sparse autoencoders on CNN embeddings, of any registered architecture (``hms.sae.arch``: TopK, the default;
BatchTopK; the two classic penalties L1 and KL-rho), named by the config's ``sparsity``.

Layout follows the common SAE codebases: ``W_enc`` (d_sae, d_in), ``b_enc`` (d_sae), ``W_dec`` (d_in, d_sae) whose
columns are the dictionary directions (kept unit norm), ``b_dec`` (d_in), the pre-encoder bias subtracted before
encoding. ``encode``/``decode`` are plain maps; the training losses live in ``losses``. Inputs are standardised by the
buffers ``x_mean``/``x_scale`` (fitted on the training part of the fold), so a saved SAE maps raw embeddings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from hms import config
from hms.errors import DataError
from hms.io import atomic_write, read_json, write_json
from hms.sae.arch import get_architecture, list_architectures


@dataclass
class SAEConfig:
    d_in: int = 1280
    expansion: float = 0.5  # d_sae = round(expansion * d_in); 0.5 = the sweep's choice on bench (configs/sae.yaml)
    sparsity: str = "topk"  # the architecture (hms.sae.arch): topk | batchtopk | l1 | kl
    k: int = 32  # topk: active latents per sample (batchtopk: on average over a batch)
    aux_k: int = 256  # topk: dead latents used by the auxiliary loss
    aux_coeff: float = 0.1
    dead_after: int = 1024  # a latent not fired for this many training samples counts as dead
    l1_coeff: float = 1e-3  # l1: weight of sum |z|
    rho: float = 0.02  # kl: target mean activation of each (sigmoid) unit
    kl_beta: float = 1e-2  # kl: weight of sum KL(rho || rho_hat)
    b_dec_init: str = "median"  # median | mean of the standardised training data
    standardize: str = "global"  # dim: per-dimension mean/std | global: per-dimension mean, one overall scale
    lr: float = 1e-3
    batch_size: int = 256
    steps: int = 400
    seed: int = 42

    @property
    def d_sae(self) -> int:
        return int(round(self.expansion * self.d_in))

    def __post_init__(self) -> None:
        if self.d_sae < 1:
            raise ValueError(f"SAE expansion {self.expansion} x d_in {self.d_in} leaves no latents")
        if self.sparsity not in list_architectures():
            raise ValueError(f"SAE sparsity must be one of {list_architectures()}, got {self.sparsity!r}")
        if get_architecture(self.sparsity).uses_k and not 0 < self.k <= self.d_sae:
            raise ValueError(f"SAE k must be in 1..d_sae ({self.d_sae}), got {self.k}")
        if self.b_dec_init not in ("median", "mean"):
            raise ValueError(f"SAE b_dec_init must be 'median' or 'mean', got {self.b_dec_init!r}")
        if self.standardize not in ("dim", "global"):
            raise ValueError(f"SAE standardize must be 'dim' or 'global', got {self.standardize!r}")

    @classmethod
    def from_dict(cls, d: dict) -> SAEConfig:
        return config.build(cls, d, "SAE settings")


class SparseAutoencoder(nn.Module):
    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d_in, d_sae = cfg.d_in, cfg.d_sae
        gen = torch.Generator().manual_seed(cfg.seed)
        w = torch.randn(d_in, d_sae, generator=gen)
        w = w / w.norm(dim=0, keepdim=True)
        self.W_dec = nn.Parameter(w.clone())
        self.W_enc = nn.Parameter(w.T.clone())  # decoder initialised as the encoder transpose
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.register_buffer("x_mean", torch.zeros(d_in))
        self.register_buffer("x_scale", torch.ones(d_in))
        self.register_buffer("samples_since_fired", torch.zeros(d_sae, dtype=torch.long))
        self.arch = get_architecture(cfg.sparsity)
        for name, value in self.arch.buffers(cfg).items():
            self.register_buffer(name, value)

    # -- maps --------------------------------------------------------------------------------------------------
    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.x_mean) / self.x_scale

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.b_dec) @ self.W_enc.T + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """The architecture's activation (in training mode it may use the whole batch, as BatchTopK does)."""
        state = {name: getattr(self, name) for name in self.arch.buffers(self.cfg)}
        return self.arch.activate(pre, self.cfg, state, self.training)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised inputs (n, d_in) -> codes (n, d_sae)."""
        return self.activate(self.pre_acts(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W_dec.T + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def active(self, z: torch.Tensor) -> torch.Tensor:
        """Which codes count as firing (for L0 and density): > 0, or > 0.5 for sigmoid (kl) units."""
        return z > self.arch.fire_above

    @torch.no_grad()
    def codes(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Raw embeddings -> codes (standardisation included); what the stacker and the explanations use."""
        return self.encode(self.standardize(embeddings.float()))

    @torch.no_grad()
    def reconstruct(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Raw embeddings -> their reconstructions in the raw space (what the splice feeds the classifier's head)."""
        return self.decode(self.encode(self.standardize(embeddings.float()))) * self.x_scale + self.x_mean

    # -- training helpers ----------------------------------------------------------------------------------------
    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruction (squared error summed over dims, batch mean), sparsity and auxiliary terms."""
        pre = self.pre_acts(x)
        z = self.activate(pre)
        x_hat = self.decode(z)  # dense: on CPU faster than gathering the k active columns
        err = x - x_hat
        out = {"mse": err.pow(2).sum(-1).mean(), "z": z, "sparsity": self.arch.penalty(z, self.W_dec, self.cfg)}
        out["aux"] = self.aux_loss(pre, err.detach())
        return out

    def dead_mask(self) -> torch.Tensor:
        return self.samples_since_fired >= self.cfg.dead_after

    def aux_loss(self, pre: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """AuxK: the top ``aux_k`` dead latents reconstruct the residual, so dead latents get gradient again."""
        dead = self.dead_mask()
        n_dead = int(dead.sum())
        if not self.arch.uses_aux or n_dead == 0:
            return torch.zeros((), device=pre.device)
        k_aux = min(self.cfg.aux_k, n_dead)
        masked = pre.masked_fill(~dead, float("-inf"))
        values, idx = masked.topk(k_aux, dim=-1)
        z_aux = torch.zeros_like(pre).scatter(-1, idx, values.relu())
        r_hat = z_aux @ self.W_dec.T
        denom = (residual - residual.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-8)
        return self.cfg.aux_coeff * (residual - r_hat).pow(2).sum(-1).mean() / denom

    @torch.no_grad()
    def update_fired(self, z: torch.Tensor) -> None:
        fired = self.active(z).any(0)
        self.samples_since_fired += z.shape[0]
        self.samples_since_fired[fired] = 0

    @torch.no_grad()
    def remove_parallel_grad(self) -> None:
        """Drop the gradient component along each decoder column (it would only change the norm)."""
        if self.W_dec.grad is not None:
            parallel = (self.W_dec.grad * self.W_dec).sum(0, keepdim=True)
            self.W_dec.grad -= parallel * self.W_dec

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-8)

    # -- files --------------------------------------------------------------------------------------------------
    def save(self, path: str | Path, extra: dict | None = None) -> None:
        """safetensors weights + a JSON sidecar (config and metrics); both written atomically."""
        path = Path(path)
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        atomic_write(path, lambda p: save_file(tensors, str(p)))
        write_json({"config": asdict(self.cfg)} | (extra or {}), path.with_suffix(".json"))

    @classmethod
    def load(cls, path: str | Path) -> SparseAutoencoder:
        """A saved SAE, checked: its sidecar (JSON, a config this version knows) and its tensors (present, the
        shapes the config gives); ``DataError`` naming the file and the fix otherwise."""
        path = Path(path)
        fix = "copy the sae/ folder again or refit it (python -m hms sae --experiment NAME)"
        meta = read_json(path.with_suffix(".json"), "SAE sidecar", fix)
        try:
            sae = cls(SAEConfig.from_dict(meta.get("config") or {}))
        except ValueError as exc:
            raise DataError(f"{path.with_suffix('.json')}: {exc}; {fix}") from exc
        if not path.is_file():
            raise DataError(f"{path}: SAE weights missing; {fix}")
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise DataError(f"{path}: unreadable ({exc}): truncated or corrupt; {fix}") from exc
        expected = {k: tuple(v.shape) for k, v in sae.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in tensors.items()}
        if found != expected:
            raise DataError(f"{path}: its tensors {found} are not those of its config {expected}; {fix}")
        sae.load_state_dict(tensors)
        return sae.eval()
