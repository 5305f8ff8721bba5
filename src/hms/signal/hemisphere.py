"""Left/right hemisphere swap on raw EEG and on organizer spectrograms (images: ``hms.signal.image.swap_image``)."""

from __future__ import annotations

import numpy as np

from hms.constants import EEG_CHANNELS, LEFT_CHANNELS, RIGHT_CHANNELS, SPEC_COLUMNS

_EEG_PERM = list(range(len(EEG_CHANNELS)))
for _l, _r in zip(LEFT_CHANNELS, RIGHT_CHANNELS, strict=True):
    _EEG_PERM[EEG_CHANNELS.index(_l)], _EEG_PERM[EEG_CHANNELS.index(_r)] = (
        EEG_CHANNELS.index(_r),
        EEG_CHANNELS.index(_l),
    )
_SPEC_PERM = [SPEC_COLUMNS.index({"LL": "RL", "RL": "LL", "LP": "RP", "RP": "LP"}[c[:2]] + c[2:]) for c in SPEC_COLUMNS]


def swap_eeg(eeg: np.ndarray) -> np.ndarray:
    """(..., time, 20) referential EEG with left and right electrodes exchanged (midline and EKG stay)."""
    return eeg[..., _EEG_PERM]


def swap_organizer(spec: np.ndarray) -> np.ndarray:
    """(..., rows, 400) organizer power with LL<->RL and LP<->RP exchanged."""
    return spec[..., _SPEC_PERM]
