"""The blend model and its file, ``blend.json`` (this module owns it): softmax(sum_m w_m log p_m + b), one weight per
model on its log-probabilities and one bias per class. Light on purpose: ``submission.py`` imports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import softmax

from hms.constants import N_CLASSES, VOTE_COLS
from hms.data.errors import DataError
from hms.io import finite_numbers, read_json, write_json

LOG_FLOOR = 1e-7


@dataclass
class Blend:
    """softmax(sum_m w_m log p_m + b): ``names`` in the order of ``weights``; ``scores`` as measured when fitted."""

    names: list[str]
    weights: np.ndarray
    bias: np.ndarray = field(default_factory=lambda: np.zeros(N_CLASSES))
    scores: dict = field(default_factory=dict)

    @classmethod
    def equal(cls, names: list[str]) -> Blend:
        """The equal-weight blend: the normalised geometric mean of the models' probabilities."""
        return cls(list(names), np.full(len(names), 1.0 / len(names)), np.zeros(N_CLASSES))

    def apply(self, probs: list[np.ndarray]) -> np.ndarray:
        """Blend (n, 6) probability arrays given in ``names`` order."""
        if len(probs) != len(self.names):
            raise ValueError(f"blend of {self.names} needs {len(self.names)} prediction arrays, got {len(probs)}")
        logits = sum(w * np.log(np.clip(p, LOG_FLOOR, 1.0)) for w, p in zip(self.weights, probs, strict=True))
        return softmax(logits + self.bias, axis=-1)

    def save(self, path: str | Path) -> Path:
        return write_json(
            {
                "names": self.names,
                "weights": [float(w) for w in self.weights],
                "bias": dict(zip(VOTE_COLS, map(float, self.bias), strict=True)),
                "scores": self.scores,
            },
            Path(path),
        )

    @classmethod
    def load(cls, path: str | Path) -> Blend:
        """blend.json, checked before any work: distinct model names, one finite weight per name, a finite bias per
        class (``DataError`` naming the file and the fix otherwise)."""
        path = Path(path)
        fix = "write it again with python -m hms blend ... --out DIR, or leave --blend out for equal weights"
        meta = read_json(path, "blend file", fix)
        names = meta.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise DataError(f"{path}: 'names' must be a non-empty list of experiment names; {fix}")
        if len(set(names)) < len(names):
            raise DataError(f"{path}: 'names' lists an experiment twice ({names}); {fix}")
        weights = finite_numbers(meta.get("weights"), len(names), path, "'weights' (one per name)", fix)
        bias = meta.get("bias")
        if not isinstance(bias, dict) or sorted(bias) != sorted(VOTE_COLS):
            raise DataError(f"{path}: 'bias' must map the six classes {list(VOTE_COLS)} to numbers; {fix}")
        bias_values = finite_numbers([bias[c] for c in VOTE_COLS], N_CLASSES, path, "'bias'", fix)
        scores = meta.get("scores", {})
        return cls(
            list(names), np.asarray(weights), np.asarray(bias_values), scores if isinstance(scores, dict) else {}
        )

    def ordered(self, names: list[str], where: str) -> list[int]:
        """Positions of this blend's models among ``names`` (every model of the blend must be there, and only they)."""
        if sorted(names) != sorted(self.names):
            raise DataError(
                f"{where}: the blend is of {self.names}, the experiments given are {names}; pass the same "
                "experiments (by folder name) or refit the blend"
            )
        return [names.index(n) for n in self.names]
