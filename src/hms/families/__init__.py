"""Model families behind one seam: each family is a registered module (``@register_family``) that says what it reads
from a label row, how its network is built and how its inputs are hemisphere-swapped. Importing this package
registers the built-in families."""

from hms.families import raw_eeg, raw_image, spectrogram_cnn  # noqa: F401 - registers the built-in families
from hms.families.base import AugmentConfig, Localized, ModelFamily, Network, RawWindowDataset, TrainSource
from hms.families.registry import DEFAULT_FAMILY, get_family, list_families, register_family
from hms.families.views import ImageView, InputView, WaveformView

__all__ = [
    "DEFAULT_FAMILY",
    "AugmentConfig",
    "ImageView",
    "InputView",
    "Localized",
    "ModelFamily",
    "Network",
    "RawWindowDataset",
    "TrainSource",
    "WaveformView",
    "get_family",
    "list_families",
    "register_family",
]
