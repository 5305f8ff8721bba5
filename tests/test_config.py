"""The one config mechanism (hms.config): YAML + --set key.sub=value, nested dataclasses, unknown keys rejected with
the known ones listed, used alike by the experiment, front-end, SAE and CLIP settings."""

import pytest

from hms import config
from hms.clip.model import ClipConfig
from hms.experiment import load_config
from hms.models.build import ModelConfig
from hms.sae.model import SAEConfig
from hms.signal.config import FrontEndConfig


def test_overrides_nest_and_parse_yaml_values():
    values = config.parse_overrides(["train.batch_size=8", "frontend.bandpass_hz=[1, 30]", "folds=null", "name=x"])
    assert values == {"train": {"batch_size": 8}, "frontend": {"bandpass_hz": [1, 30]}, "folds": None, "name": "x"}
    with pytest.raises(ValueError, match="expected key=value"):
        config.parse_overrides(["train.batch_size"])
    with pytest.raises(ValueError, match="name is a value, not a section"):
        config.parse_overrides(["name=x", "name.sub=1"])


def test_nested_sections_build_their_own_classes_and_reject_unknown_keys(tmp_path):
    (tmp_path / "exp.yaml").write_text(
        "frontend:\n  bandpass_hz: [1.0, 15.0]\nmodel:\n  name: test_vit\n  pretrained: null\n"
    )
    cfg = load_config(tmp_path / "exp.yaml", ["frontend.panel_width=64"])
    assert cfg.name == "exp" and cfg.frontend.bandpass_hz == (1.0, 15.0) and cfg.frontend.panel_width == 64
    assert isinstance(cfg.model, ModelConfig) and cfg.model.name == "test_vit"
    with pytest.raises(ValueError, match=r"exp.yaml.frontend: unknown keys \['panel_w'\]; known: \[.*'panel_width'"):
        load_config(tmp_path / "exp.yaml", ["frontend.panel_w=64"])
    with pytest.raises(ValueError, match="must be a mapping"):
        load_config(tmp_path / "exp.yaml", ["train=3"])
    with pytest.raises(FileNotFoundError, match="config not found"):
        load_config(tmp_path / "missing.yaml")


def test_front_end_sae_and_clip_settings_go_through_the_same_builder(tmp_path):
    (tmp_path / "fe.yaml").write_text("frontend:\n  decimate: 2\n")
    fe = config.load(FrontEndConfig, tmp_path / "fe.yaml", ["fmax_hz=25"], section="frontend")
    assert fe.decimate == 2 and fe.fmax_hz == 25
    assert SAEConfig.from_dict({"k": 8, "d_in": 16}).d_sae == 8  # default expansion 0.5
    clip = config.load(
        ClipConfig, None, ["frontend.panel_height=16", "model.name=test_vit", "model.pretrained=null", "folds=[0]"]
    )
    assert isinstance(clip.frontend, FrontEndConfig) and clip.frontend.panel_height == 16
    assert clip.frontend.panel_width == 256  # a nested section given in part starts from the class defaults
    assert ClipConfig().frontend == FrontEndConfig(panel_height=64, panel_width=128)
    assert clip.folds == (0,) and clip.model.name == "test_vit"
    with pytest.raises(ValueError, match=r"clip settings.frontend: unknown keys \['bogus'\]"):
        ClipConfig.from_dict({"frontend": {"bogus": 1}})


def test_saved_config_reads_back_equal(tmp_path):
    cfg = load_config(None, ["name=r", "frontend.bandpass_hz=[1, 18]", "folds=[0, 2]"])
    config.save_yaml(cfg, tmp_path / "r.yaml")
    again = load_config(tmp_path / "r.yaml")
    assert again == cfg and again.config_hash() == cfg.config_hash()
