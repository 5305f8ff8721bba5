"""The head switches every family's model config inherits (a frozen dataclass base): ``ModelFamily.network`` reads
them, so a new family gets them by deriving its ``model_config`` from :class:`HeadOptions`."""

from __future__ import annotations

from dataclasses import dataclass

from hms.models.invariant import check_swap_head
from hms.models.output import check_output


@dataclass(frozen=True)
class HeadOptions:
    swap_head: str = "off"  # off | mean | max: a head invariant to the hemisphere swap (hms.models.invariant)
    output: str = "softmax"  # softmax | entmax15 (hms.models.output)
    quality_mask: bool = False  # blank-input flags appended to the embedding (hms.models.quality)

    def __post_init__(self) -> None:
        check_swap_head(self.swap_head)
        check_output(self.output)
