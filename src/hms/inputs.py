"""Label rows -> model inputs, for any model family: the rows' clean windows from the data layer
(``Competition.load_windows``), then the family's ``inputs`` (a missing modality becomes blank). Training's cached
path aside, every consumer of model inputs goes through :func:`row_inputs`: test-time inference, the embeddings for
the SAE and the stacker, EEG-CLIP and the explanations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hms.data import Competition
from hms.families import ModelFamily
from hms.signal.config import FrontEndConfig
from hms.timing import timed


@dataclass
class RowInputs:
    windows: list[tuple[np.ndarray | None, np.ndarray | None, str]]  # per row: EEG, organizer window, problem
    usable: list[int]  # positions of the rows the batch holds
    inputs: torch.Tensor | None  # the family's batch for those rows (None when there are none)

    @property
    def problems(self) -> dict[int, str]:
        return {i: p for i, (_, _, p) in enumerate(self.windows) if p}


def row_inputs(
    comp: Competition,
    records: list[dict],
    split: str,
    family: ModelFamily,
    frontend: FrontEndConfig,
    all_rows: bool = False,
    timings: dict[str, float] | None = None,
) -> RowInputs:
    """Read each row's windows once and build the family's inputs. Rows with neither modality are left out of the
    batch unless ``all_rows`` (then they get blank inputs). ``timings`` accumulates 'read' and 'front-end' seconds."""
    with timed(timings, "read"):
        windows = [comp.load_windows(r, split) for r in records]
    with timed(timings, "front-end"):
        reads = family.modalities
        present = [
            ("eeg" in reads and e is not None) or ("spectrogram" in reads and s is not None) for e, s, _ in windows
        ]
        usable = [i for i, ok in enumerate(present) if all_rows or ok]
        inputs = None
        if usable:
            inputs = family.inputs([windows[i][0] for i in usable], [windows[i][1] for i in usable], frontend)
    return RowInputs(windows, usable, inputs)
