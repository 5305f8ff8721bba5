"""A channel-quality input (a 4th-place member's recipe): a missing or flat channel is zero-filled by the NaN policy,
which a network cannot tell from a quiet one, so the family's flags of its inputs (1 where a bipolar signal or a chain
panel is blank) are appended to the pooled embedding and a new head reads both."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hms.constants import N_CLASSES

#: a signal whose band-passed input never exceeds this (microvolts) is flat; an image panel this close to its blank
#: value is blank
FLAT_UV = 1e-3
BLANK_MARGIN = 1e-3


class QualityFlags(nn.Module):
    """``net``'s embedding followed by ``flags(x)`` (batch, n_flags) of 0/1, read by a new head."""

    def __init__(self, net: nn.Module, flags: Callable[[torch.Tensor], torch.Tensor], n_flags: int) -> None:
        super().__init__()
        dropout = next((m.p for m in net.head.modules() if isinstance(m, nn.Dropout)), 0.0)
        net.head = nn.Identity()
        self.net, self.flags = net, flags
        self.embed_dim = int(net.embed_dim) + n_flags
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.embed_dim, N_CLASSES))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = torch.cat([self.net(x)["embedding"], self.flags(x).to(x.dtype)], dim=-1)
        return {"logits": self.head(embedding), "embedding": embedding}
