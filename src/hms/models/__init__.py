"""timm backbones with a 6-class head and an exposed penultimate embedding; offline pretrained weights."""

from hms.models.build import HMSModel, ModelConfig, build_model
from hms.models.pretrained import load_pretrained

__all__ = ["HMSModel", "ModelConfig", "build_model", "load_pretrained"]
