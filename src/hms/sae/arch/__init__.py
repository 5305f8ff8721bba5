"""SAE architectures as registered classes, in the manner of SAELens: one module per architecture, each a
:class:`~hms.sae.arch.base.Architecture` registered under the name an SAE config gives in ``sparsity``; the
autoencoder (``hms.sae.model``) dispatches its activation and its sparsity penalty on it. Importing this package
registers the built-in ones: TopK (the default), BatchTopK, L1 and KL-rho."""

from hms.sae.arch import batchtopk, kl, l1, topk  # noqa: F401 - registers the built-in architectures
from hms.sae.arch.base import Architecture, get_architecture, list_architectures, register_architecture

__all__ = ["Architecture", "get_architecture", "list_architectures", "register_architecture"]
