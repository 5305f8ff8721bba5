"""The one owner of an experiment folder ``models/<experiment>/``: every path in it comes from :class:`ExperimentDir`,
and nothing else in the repo spells one of its file names (a test greps for that).

    models/<experiment>/
      config.yaml  prior.json  folds.csv  oof.parquet  scores.csv
      fold{k}.safetensors  fold{k}.json (sidecar: family, model, front-end)  fold{k}.state.pt (resume state)
      embeddings/  rows.parquet  hand.parquet  fold{k}.npz
      sae/         fold{k}.safetensors + .json  fold{k}.state.pt (resume state while fitting)  metrics.csv
                   metrics.json  density.png  reconstructions.png  k_curve.*
                   activations/fold{k}/shift*.npy (+ .ids.npy)
                   positions/  fold{k}.safetensors + .json  metrics.csv  metrics.json  codes_fold{k}.npz
                               activations/fold{k}/  positions.json  train-*.npy (+ .ids.npy)  valid-*.npy
                                                     (+ .rows.npy)
                   recovery.csv
                   sweep/  sweep.csv  pareto.png  chosen.json  activations_curve.csv + .png
                           point-*.state.pt (while fitting)
      stack/       best.json  ablation.csv
                   <feature_set>/  fold{k}.txt + .json  oof.parquet  oof_rows.parquet  scores.csv
      clip/        fold{k}.safetensors + .json + .npz  scores.csv

It also owns the small formats of the folder itself: the prior, the folds table, fold sidecars and best.json."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hms.constants import VOTE_COLS
from hms.data import DataError, make_folds, read_folds
from hms.errors import OutputError
from hms.io import finite_numbers, read_json, write_csv, write_json
from hms.paths import MODELS_DIR, check_name, under

_FOLD = re.compile(r"fold(\d+)$")


def _fold_numbers(paths: list[Path]) -> list[int]:
    return sorted(int(m.group(1)) for p in paths if (m := _FOLD.match(p.stem)))


@dataclass(frozen=True)
class ExperimentDir:
    root: Path

    @classmethod
    def named(cls, name: str, models_root: str | os.PathLike[str] = MODELS_DIR) -> ExperimentDir:
        """``models_root/name`` for a plain name (``hms.paths.NAME_PATTERN``; the folder must stay inside
        ``models_root``). A value with a path separator names an existing experiment folder itself (one that holds
        its prior.json), so no name can make a command write outside the folder the user gave."""
        if os.sep in str(name) or Path(name).is_absolute():
            folder = cls(Path(name))
            check_name(folder.name)
            if not folder.prior_json.is_file():
                raise OutputError(
                    f"{name}: not an experiment folder (no prior.json); pass an experiment name, with "
                    "--models-root DIR for experiments kept elsewhere"
                )
            return folder
        return cls(under(models_root, check_name(name)))

    @classmethod
    def of(cls, folder: str | os.PathLike[str] | ExperimentDir) -> ExperimentDir:
        return folder if isinstance(folder, ExperimentDir) else cls(Path(folder))

    @property
    def name(self) -> str:
        return self.root.name

    def __str__(self) -> str:
        return str(self.root)

    # -- top level ------------------------------------------------------------------------------------------------
    @property
    def config_yaml(self) -> Path:
        return self.root / "config.yaml"

    @property
    def prior_json(self) -> Path:
        return self.root / "prior.json"

    @property
    def folds_csv(self) -> Path:
        return self.root / "folds.csv"

    @property
    def oof_parquet(self) -> Path:
        return self.root / "oof.parquet"

    @property
    def scores_csv(self) -> Path:
        return self.root / "scores.csv"

    # -- fold models ----------------------------------------------------------------------------------------------
    def weights(self, fold: int) -> Path:
        return self.root / f"fold{fold}.safetensors"

    def sidecar(self, fold: int) -> Path:
        return self.root / f"fold{fold}.json"

    def train_state(self, fold: int) -> Path:
        return self.root / f"fold{fold}.state.pt"

    def lgbm_model(self, fold: int) -> Path:
        """A fold's LightGBM model of a tree-model experiment (the band-power baseline)."""
        return self.root / f"fold{fold}.txt"

    def folds_with_weights(self) -> list[int]:
        return _fold_numbers(list(self.root.glob("fold*.safetensors")))

    def refuse_models(self, writer: str, networks_only: bool = False) -> None:
        """Before ``writer`` writes prior.json, scores.csv and oof.parquet here: ``OutputError`` when the folder holds
        another experiment's fold models (networks, or with ``networks_only`` off also LightGBM folds), whose figures
        those files would replace."""
        patterns = ("fold*.safetensors",) if networks_only else ("fold*.safetensors", "fold*.txt")
        found = sorted(p.name for pattern in patterns for p in self.root.glob(pattern))
        if found:
            raise OutputError(
                f"{self.root}: holds a trained experiment ({', '.join(found[:3])}); the {writer} would replace its "
                "prior.json, scores.csv and oof.parquet: choose another --out"
            )

    def folds_with_sidecars(self) -> list[int]:
        return _fold_numbers(list(self.root.glob("fold*.json")))

    # -- embeddings cache -----------------------------------------------------------------------------------------
    @property
    def embeddings_dir(self) -> Path:
        return self.root / "embeddings"

    @property
    def embedding_rows(self) -> Path:
        return self.embeddings_dir / "rows.parquet"

    @property
    def embedding_hand(self) -> Path:
        return self.embeddings_dir / "hand.parquet"

    def embedding_fold(self, fold: int) -> Path:
        return self.embeddings_dir / f"fold{fold}.npz"

    def embedded_folds(self) -> list[int]:
        return _fold_numbers(list(self.embeddings_dir.glob("fold*.npz")))

    # -- SAE ------------------------------------------------------------------------------------------------------
    @property
    def sae_dir(self) -> Path:
        return self.root / "sae"

    def sae_weights(self, fold: int) -> Path:
        return self.sae_dir / f"fold{fold}.safetensors"

    def sae_checkpoint(self, fold: int) -> Path:
        """Fold ``fold``'s SAE fit in progress (resume state; removed when the fit ends)."""
        return self.sae_dir / f"fold{fold}.state.pt"

    @property
    def sae_sweep_dir(self) -> Path:
        return self.sae_dir / "sweep"

    @property
    def sae_sweep_csv(self) -> Path:
        return self.sae_sweep_dir / "sweep.csv"

    @property
    def sae_sweep_png(self) -> Path:
        return self.sae_sweep_dir / "pareto.png"

    @property
    def sae_sweep_chosen(self) -> Path:
        """The sweep's chosen point, its settings and the reason."""
        return self.sae_sweep_dir / "chosen.json"

    def sae_sweep_checkpoint(self, point: str) -> Path:
        """One sweep point's fit in progress (``point``: a short name such as ``topk-e1-k32``)."""
        return self.sae_sweep_dir / f"point-{point}.state.pt"

    @property
    def sae_activations_curve_csv(self) -> Path:
        return self.sae_sweep_dir / "activations_curve.csv"

    @property
    def sae_activations_curve_png(self) -> Path:
        return self.sae_sweep_dir / "activations_curve.png"

    def sae_activation_dir(self, fold: int) -> Path:
        """Fold ``fold``'s SAE training activations: one ``shift*.npy`` chunk (+ ``.ids.npy``) per time shift."""
        return self.sae_dir / "activations" / f"fold{fold}"

    def sae_activation_chunk(self, fold: int, shift: float) -> Path:
        return self.sae_activation_dir(fold) / f"shift{shift:+07.1f}.npy"

    @staticmethod
    def activation_ids(chunk: Path) -> Path:
        """The eeg_id of every vector of an activation chunk."""
        return chunk.with_suffix(".ids.npy")

    @staticmethod
    def activation_chunks(folder: Path) -> list[Path]:
        return sorted(p for p in Path(folder).glob("shift*.npy") if not p.name.endswith(".ids.npy"))

    @property
    def sae_metrics_csv(self) -> Path:
        return self.sae_dir / "metrics.csv"

    @property
    def sae_metrics_json(self) -> Path:
        return self.sae_dir / "metrics.json"

    @property
    def sae_density_png(self) -> Path:
        return self.sae_dir / "density.png"

    @property
    def sae_reconstructions_png(self) -> Path:
        return self.sae_dir / "reconstructions.png"

    @property
    def sae_k_curve_csv(self) -> Path:
        return self.sae_dir / "k_curve.csv"

    @property
    def sae_k_curve_png(self) -> Path:
        return self.sae_dir / "k_curve.png"

    # -- per-position SAE -----------------------------------------------------------------------------------------
    @property
    def sae_positions_dir(self) -> Path:
        """The SAE fitted per position of the network's last feature map (``hms.sae.position_run``)."""
        return self.sae_dir / "positions"

    def position_store_dir(self, fold: int) -> Path:
        """Fold ``fold``'s per-position activations: ``positions.json`` (what they are; written last),
        ``train-*.npy`` (+ ``.ids.npy`` per vector, ``.rows.npy`` per window) training-part windows, ``valid-*.npy``
        (+ ``.rows.npy``) validation windows."""
        return self.sae_positions_dir / "activations" / f"fold{fold}"

    @staticmethod
    def position_manifest(store: Path) -> Path:
        return store / "positions.json"

    @staticmethod
    def position_chunk(store: Path, part: str, index: int) -> Path:
        """Chunk ``index`` of a position store's ``part`` ("train" or "valid")."""
        return store / f"{part}-{index:03d}.npy"

    @staticmethod
    def position_chunks(store: Path, part: str) -> list[Path]:
        return sorted(p for p in store.glob(f"{part}-*.npy") if p.suffixes == [".npy"])

    @staticmethod
    def position_chunk_rows(chunk: Path) -> Path:
        """The label-row position (into the embeddings' rows) of every window of a position chunk."""
        return chunk.with_suffix(".rows.npy")

    def position_sae_weights(self, fold: int) -> Path:
        return self.sae_positions_dir / f"fold{fold}.safetensors"

    def position_sae_checkpoint(self, fold: int) -> Path:
        return self.sae_positions_dir / f"fold{fold}.state.pt"

    def position_codes(self, fold: int) -> Path:
        """Fold ``fold``'s per-position SAE on its windows (the validation windows; every window when the store kept
        every position of the training part too): codes max-pooled over positions and the position of each maximum,
        per view (``hms.sae.position_codes`` owns the format)."""
        return self.sae_positions_dir / f"codes_fold{fold}.npz"

    @property
    def position_metrics_csv(self) -> Path:
        return self.sae_positions_dir / "metrics.csv"

    @property
    def position_metrics_json(self) -> Path:
        return self.sae_positions_dir / "metrics.json"

    @property
    def sae_recovery_csv(self) -> Path:
        """Ground-truth recovery of the planted factors: SAE vs PCA vs ICA vs a random-network SAE."""
        return self.sae_dir / "recovery.csv"

    # -- stacker --------------------------------------------------------------------------------------------------
    @property
    def stack_dir(self) -> Path:
        return self.root / "stack"

    def stack_set_dir(self, feature_set: str) -> Path:
        return self.stack_dir / feature_set

    def stack_model(self, feature_set: str, fold: int) -> Path:
        """LightGBM text model; its sidecar (features, hand columns) is the same name with .json."""
        return self.stack_set_dir(feature_set) / f"fold{fold}.txt"

    def stack_oof(self, feature_set: str) -> Path:
        """eeg_id-level OOF predictions of one feature set."""
        return self.stack_set_dir(feature_set) / "oof.parquet"

    def stack_oof_rows(self, feature_set: str) -> Path:
        """Label-row-level OOF predictions of one feature set (what inference reproduces)."""
        return self.stack_set_dir(feature_set) / "oof_rows.parquet"

    def stack_scores(self, feature_set: str) -> Path:
        return self.stack_set_dir(feature_set) / "scores.csv"

    @property
    def stack_ablation(self) -> Path:
        return self.stack_dir / "ablation.csv"

    @property
    def stack_best(self) -> Path:
        return self.stack_dir / "best.json"

    # -- EEG-CLIP -------------------------------------------------------------------------------------------------
    @property
    def clip_dir(self) -> Path:
        return self.root / "clip"

    def clip_weights(self, fold: int, clip_dir: Path | None = None) -> Path:
        return (clip_dir or self.clip_dir) / f"fold{fold}.safetensors"

    def clip_arrays(self, fold: int, clip_dir: Path | None = None) -> Path:
        return (clip_dir or self.clip_dir) / f"fold{fold}.npz"

    @property
    def clip_scores(self) -> Path:
        return self.clip_dir / "scores.csv"

    @staticmethod
    def clip_array_files(clip_dir: Path) -> list[Path]:
        return sorted(Path(clip_dir).glob("fold*.npz"))

    # -- small formats owned here ---------------------------------------------------------------------------------
    def write_prior(self, prior: np.ndarray) -> Path:
        return write_json(
            {"model": "class_prior", "prior": dict(zip(VOTE_COLS, np.asarray(prior).tolist(), strict=True))},
            self.prior_json,
        )

    def read_prior(self) -> np.ndarray:
        """The training prior: six finite non-negative probabilities summing to 1, checked (``DataError`` naming
        prior.json and the fix otherwise)."""
        path = self.prior_json
        fix = "the training run writes it (python -m hms train or hms baseline); copy it again or retrain"
        prior = read_json(path, "the class prior", fix).get("prior")
        if not isinstance(prior, dict) or sorted(prior) != sorted(VOTE_COLS):
            raise DataError(f"{path}: 'prior' must map the six classes {list(VOTE_COLS)} to probabilities; {fix}")
        values = np.array(finite_numbers([prior[c] for c in VOTE_COLS], len(VOTE_COLS), path, "prior", fix))
        if (values < 0).any() or abs(values.sum() - 1) > 1e-6:
            raise DataError(f"{path}: the prior must be non-negative and sum to 1, got {values.tolist()}; {fix}")
        return values

    def write_folds(self, folds: pd.DataFrame) -> Path:
        return write_csv(folds, self.folds_csv)

    def read_folds(self, train: pd.DataFrame | None = None) -> pd.DataFrame:
        return read_folds(self.folds_csv, train)

    def folds_for(self, train: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
        """The experiment's folds: read back when folds.csv exists (it must cover ``train`` with ``n_folds`` folds),
        else computed once (patient-grouped, seeded) and written."""
        if self.folds_csv.is_file():
            folds = self.read_folds(train)
            if folds["fold"].nunique() != n_folds:
                raise DataError(
                    f"{self.folds_csv}: {folds['fold'].nunique()} folds, but n_folds={n_folds}; use the "
                    f"experiment's n_folds or delete {self.folds_csv} to rebuild them"
                )
            return folds
        folds = make_folds(train, n_folds, seed)
        self.write_folds(folds)
        return folds

    def write_sidecar(self, fold: int, meta: dict[str, Any]) -> Path:
        return write_json(meta, self.sidecar(fold))

    def read_sidecar(self, fold: int) -> dict[str, Any]:
        """A fold sidecar as JSON, with its ``model`` and ``frontend`` sections (``DataError`` naming it otherwise);
        ``hms.predict.fold_spec`` checks what they say."""
        path = self.sidecar(fold)
        fix = (
            f"it records the family, model and front-end of {self.weights(fold).name}: copy it with the weights "
            "or retrain the fold"
        )
        meta = read_json(path, "fold sidecar", fix)
        for key in ("model", "frontend"):
            if not isinstance(meta.get(key), dict):
                raise DataError(f"{path}: the fold sidecar lacks its {key!r} section; {fix}")
        return meta

    def best_feature_set(self) -> str | None:
        """The stack feature set stack/best.json chose, or None without a stack."""
        if not self.stack_best.is_file():
            return None
        fix = f"rerun python -m hms stack --experiment {self.name}, or pass --stack cnn"
        chosen = read_json(self.stack_best, "the stack's choice", fix).get("feature_set")
        if not isinstance(chosen, str):
            raise DataError(f"{self.stack_best}: 'feature_set' must name a feature set; {fix}")
        return chosen

    def write_best(self, feature_set: str, **extra: Any) -> Path:
        return write_json({"feature_set": feature_set, **extra}, self.stack_best)

    def inference_files(self, feature_set: str, cnn_only: str, sae_dirs: tuple[Path, ...] = ()) -> list[Path]:
        """What inference with ``feature_set`` reads: fold weights + sidecars, the prior, the config, and for a stack
        its LightGBM folds (+ sidecars), the ablation table and the fold SAEs (+ sidecars) of each of ``sae_dirs``
        (the pooled SAE's and / or the per-position SAE's folder, as the set needs)."""
        files = sorted(self.root.glob("fold*.safetensors")) + sorted(self.root.glob("fold*.json"))
        files += [p for p in (self.prior_json, self.config_yaml) if p.is_file()]
        if feature_set != cnn_only:
            chosen = self.stack_set_dir(feature_set)
            files += sorted(chosen.glob("fold*.txt")) + sorted(chosen.glob("fold*.json"))
            files += [p for p in [self.stack_ablation] if p.is_file()]
            for folder in sae_dirs:
                files += sorted(folder.glob("fold*.safetensors")) + sorted(folder.glob("fold*.json"))
        return files
