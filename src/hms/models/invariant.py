"""A head invariant to the hemisphere swap (a 4th-place member's recipe), for any family's network: the network reads
the recording and its mirror image (left and right chains exchanged) in one batch, their embeddings are joined by a
symmetric operation (``mean`` or element-wise ``max``) and one swap-invariant scalar is appended: the left-right
similarity, the cosine similarity of the two embeddings (1 when the network sees both hemispheres alike, as in a
generalised pattern; lower for a lateralised one). A new head reads the joined embedding, so a recording and its
swap get the same output — the labels do not depend on the side either."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hms.constants import N_CLASSES

SWAP_HEADS = ("off", "mean", "max")


def check_swap_head(mode: str) -> None:
    if mode not in SWAP_HEADS:
        raise ValueError(f"model.swap_head must be one of {SWAP_HEADS}, got {mode!r}")


class SwapInvariant(nn.Module):
    """``net`` (a family's network: forward -> logits and embedding, ``head``, ``embed_dim``) read through the
    recording and its swap; ``swap``: the family's swap of a batch of inputs (an exact involution)."""

    def __init__(self, net: nn.Module, swap: Callable[[torch.Tensor], torch.Tensor], mode: str) -> None:
        super().__init__()
        check_swap_head(mode)
        if mode == "off":
            raise ValueError("SwapInvariant needs mode 'mean' or 'max'")
        dropout = next((m.p for m in net.head.modules() if isinstance(m, nn.Dropout)), 0.0)
        net.head = nn.Identity()  # the joined embedding gets its own head below
        self.net, self.swap, self.mode = net, swap, mode
        self.embed_dim = int(net.embed_dim) + 1
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.embed_dim, N_CLASSES))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        own, mirrored = self.net(torch.cat([x, self.swap(x)]))["embedding"].chunk(2)
        joined = (own + mirrored) / 2 if self.mode == "mean" else torch.maximum(own, mirrored)
        similarity = nn.functional.cosine_similarity(own, mirrored, dim=-1, eps=1e-6)[:, None]
        embedding = torch.cat([joined, similarity], dim=-1)
        return {"logits": self.head(embedding), "embedding": embedding}
