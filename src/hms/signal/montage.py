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


def montage_matrix(midline: bool = False) -> np.ndarray:
    """(pairs, 20) matrix with +1 at the anode and -1 at the cathode of each pair."""
    a, b = pair_indices(midline)
    m = np.zeros((len(a), len(EEG_CHANNELS)), dtype=np.float32)
    m[np.arange(len(a)), a] = 1.0
    m[np.arange(len(b)), b] = -1.0
    return m


_MATRICES = {False: montage_matrix(False), True: montage_matrix(True)}


def bipolar(eeg: np.ndarray | torch.Tensor, midline: bool = False) -> np.ndarray | torch.Tensor:
    """(..., time, 20 channels) referential EEG -> contiguous (..., pairs, time) bipolar signals (16, 18 with midline).

    One matrix product (pairs x channels) @ (channels x time): faster than indexing and already time-contiguous."""
    m = _MATRICES[midline]
    if isinstance(eeg, torch.Tensor):
        return torch.as_tensor(m, dtype=eeg.dtype, device=eeg.device) @ eeg.transpose(-1, -2)
    return m.astype(eeg.dtype, copy=False) @ np.swapaxes(eeg, -1, -2)
