"""Double-banana bipolar montage: 16 pairs in 4 chains (LL, RL, LP, RP), optional midline pairs."""

from __future__ import annotations

import numpy as np
import torch

from hms.constants import CHAIN_NAMES, CHAINS, EEG_CHANNELS, MIDLINE_PAIRS

_INDEX = {name: i for i, name in enumerate(EEG_CHANNELS)}
#: 16 (anode, cathode) pairs, chain by chain in CHAIN_NAMES order
PAIRS: tuple[tuple[str, str], ...] = tuple(p for chain in CHAIN_NAMES for p in CHAINS[chain])
PAIR_NAMES: tuple[str, ...] = tuple(f"{a}-{b}" for a, b in PAIRS)


def pair_indices(midline: bool = False) -> tuple[np.ndarray, np.ndarray]:
    pairs = PAIRS + (MIDLINE_PAIRS if midline else ())
    return np.array([_INDEX[a] for a, _ in pairs]), np.array([_INDEX[b] for _, b in pairs])


def bipolar(eeg: np.ndarray | torch.Tensor, midline: bool = False) -> np.ndarray | torch.Tensor:
    """(..., time, 20 channels) referential EEG -> (..., pairs, time) bipolar signals (16, or 18 with midline)."""
    a, b = pair_indices(midline)
    if isinstance(eeg, torch.Tensor):
        return (eeg[..., a] - eeg[..., b]).transpose(-1, -2)
    return np.swapaxes(eeg[..., a] - eeg[..., b], -1, -2)
