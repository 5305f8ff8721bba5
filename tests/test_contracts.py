"""Contract tests over the registries and over configs/, in the manner of timm's tests over ``list_models()``: every
registered model family (the built-ins and the tests' toy family) is built tiny and fed blank and real inputs, every
``configs/*.yaml`` is read by the class that reads it in the pipeline, and every CLI subcommand's ``--help`` runs. A
new family, config or command is covered here without a test of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_RAW, TINY_RAW_IMAGE, TINY_TRAIN
from toy_family import TOY  # noqa: F401 - importing it registers the toy family

from hms import config
from hms.__main__ import build_parser, main
from hms.clip.model import ClipConfig
from hms.clip.zeroshot import read_prompts
from hms.constants import CHAIN_NAMES, N_CLASSES
from hms.data import Competition
from hms.experiment import ExperimentConfig, ExperimentDir, load_config
from hms.families import Localized, Network, get_family, list_families
from hms.models.head_options import HeadOptions
from hms.paths import SHARED_SAMPLE_DIR
from hms.predict import forward_positions, forward_views
from hms.sae.arch import get_architecture, list_architectures
from hms.sae.fit import fit_sae
from hms.sae.model import SAEConfig, SparseAutoencoder
from hms.sae.positions import read_position_config
from hms.sae.sweep import SweepSettings
from hms.signal.hemisphere import swap_eeg, swap_organizer

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

#: family -> overrides that make its network tiny (a family without an entry is built with its defaults)
TINY = {
    "spectrogram_cnn": [*TINY_TRAIN, "model.name=test_efficientnet"],  # a CNN, as the family's default network
    "raw_eeg": TINY_RAW,
    "raw_image": TINY_RAW_IMAGE,
    "test_bandpower_linear": TOY,
}
FAMILIES = list_families()


def tiny_config(name: str) -> ExperimentConfig:
    overrides = [item for item in TINY.get(name, []) if not item.startswith("family=")]
    return load_config(None, [f"family={name}", *overrides])


def declares_head_options(name: str, cfg: ExperimentConfig, switch: str) -> bool:
    """Whether the family's model config carries the head switches (the built-ins do; only the toy family not)."""
    if isinstance(cfg.model, HeadOptions):
        return True
    assert name == "test_bandpower_linear", (
        f"{name}: its model config should declare {switch} (derive from HeadOptions)"
    )
    return False


def _windows(root: Path, n: int = 2) -> tuple[list, list]:
    comp = Competition(root)
    rows = comp.train().drop_duplicates("eeg_id").head(n)
    eegs, specs = [], []
    for row in rows.to_dict("records"):
        eeg, spec, problem = comp.load_windows(row)
        assert not problem, problem
        eegs.append(eeg)
        specs.append(spec)
    return eegs, specs


@pytest.fixture(scope="module", params=["simulated", "real"])
def windows(request, sim_dir):
    """Two clean label windows (EEG, spectrogram) of the simulated competition, then of the real sample."""
    if request.param == "real":
        if not (SHARED_SAMPLE_DIR / "train.csv").is_file():
            pytest.skip(f"real competition sample not found at {SHARED_SAMPLE_DIR}")
        return _windows(SHARED_SAMPLE_DIR)
    return _windows(sim_dir)


def _forward(name: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
    cfg = tiny_config(name)
    torch.manual_seed(0)
    model = get_family(name).build(cfg.model, pretrained=False).eval()
    assert isinstance(model, Network), f"{name}: its network lacks embed_dim or forward"
    with torch.no_grad():
        out = model(x)
    assert set(out) >= {"logits", "embedding"}, f"{name}: forward returns {sorted(out)}"
    assert out["logits"].shape == (len(x), N_CLASSES)
    assert out["embedding"].shape == (len(x), model.embed_dim)
    assert torch.isfinite(out["logits"]).all() and torch.isfinite(out["embedding"]).all()
    with torch.no_grad():  # the head alone maps the embedding to the logits (what the SAE's splice runs)
        torch.testing.assert_close(model.head(out["embedding"]), out["logits"], atol=1e-5, rtol=1e-4)
    return out


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_declares_what_the_pipeline_reads(name):
    family = get_family(name)
    assert family.name == name and set(family.modalities) <= {"eeg", "spectrogram"} and family.modalities
    cfg = tiny_config(name)
    assert isinstance(cfg.model, family.model_config)
    assert config.build(family.model_config, config.to_dict(cfg.model), name) == cfg.model  # sidecars round-trip


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_predicts_a_row_with_no_input(name):
    """A row whose modalities are all missing still makes a finite batch (the blank input), and a forward pass."""
    frontend = tiny_config(name).frontend
    x = get_family(name).inputs([None, None], [None, None], frontend)
    assert len(x) == 2 and torch.isfinite(x).all()
    _forward(name, x)


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_on_real_windows_swaps_as_the_recording_does(name, windows):
    """Finite outputs on real windows; swap(swap(x)) = x; swap of the inputs = the inputs of the swapped recording."""
    family, frontend = get_family(name), tiny_config(name).frontend
    eegs, specs = windows
    x = family.inputs(eegs, specs, frontend)
    _forward(name, x)
    torch.testing.assert_close(family.swap(family.swap(x, frontend), frontend), x)
    swapped = family.inputs([swap_eeg(e) for e in eegs], [swap_organizer(s) for s in specs], frontend)
    torch.testing.assert_close(family.swap(x, frontend), swapped, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", FAMILIES)
def test_a_localized_network_pools_its_positions_into_its_embedding(name, windows):
    """Where a family's network exposes per-position vectors (the built-ins do), pooling them gives its embedding,
    so SAEs can be fitted and spliced per position through the same head."""
    family, cfg = get_family(name), tiny_config(name)
    torch.manual_seed(0)
    model = family.build(cfg.model, pretrained=False).eval()
    if not isinstance(model, Localized):
        assert name == "test_bandpower_linear", f"{name}: its network should expose positions() and pool()"
        return
    x = family.inputs(*windows, cfg.frontend)
    with torch.no_grad():
        positions = model.positions(x)
        assert positions.ndim == 3 and len(positions) == len(x) and positions.shape[1] > 1
        torch.testing.assert_close(model.pool(positions), model(x)["embedding"], atol=1e-5, rtol=1e-4)
    probs, views = forward_views(model, family, x, cfg.frontend, tta_swap=True)
    probs_p, views_p, cells = forward_positions(model, family, x, cfg.frontend, tta_swap=True)
    np.testing.assert_allclose(probs_p, probs, atol=1e-5)  # the pass through positions predicts as the plain one
    np.testing.assert_allclose(views_p, views, atol=1e-4, rtol=1e-4)
    assert cells.shape[:3] == (len(x), 2, positions.shape[1])
    if family.view is not None:  # every position says where in the input it looks
        where = family.view.position_cells(cfg.frontend, tuple(x.shape[1:]), positions.shape[1])
        assert len(where) == positions.shape[1] and (where["t1"] > where["t0"]).all()
        boxes = np.array([family.view.cell_box(tuple(x.shape[1:]), len(where), p) for p in range(len(where))])
        height, width = x.shape[-2:]  # each box lies in the input, and together they cover all of it
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert boxes[:, :2].min() >= 0 and boxes[:, 2].max() <= width + 1e-6 and boxes[:, 3].max() <= height + 1e-6
        area = ((np.minimum(boxes[:, 2], width) - boxes[:, 0]) * (np.minimum(boxes[:, 3], height) - boxes[:, 1])).sum()
        assert area == pytest.approx(height * width, rel=1e-6)


@pytest.mark.parametrize("name", [n for n in FAMILIES if get_family(n).view is not None])
def test_every_explained_family_view_lays_out_and_profiles_its_inputs(name, windows):
    family, frontend = get_family(name), tiny_config(name).frontend
    x = family.inputs(*windows, frontend)
    attr = torch.rand_like(x)
    p = family.view.profile(attr, frontend)
    assert set(p["chains"]) == set(CHAIN_NAMES)
    for part in ("chains", "bands", "views"):
        assert sum(p[part].values()) == pytest.approx(1.0, abs=1e-6), (part, p[part])
    assert sum(p["time"]) == pytest.approx(1.0, abs=1e-6)
    values = family.view.mean_map(attr, frontend)
    assert np.isfinite(values).all()
    assert family.view.map_figure(values, frontend, "map", signed=True) is not None
    assert family.view.input_figure(x[0], frontend, "input") is not None


# -- SAE architectures -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_architectures())
def test_every_sae_architecture_fits_round_trips_and_encodes_per_sample(name, tmp_path):
    """Fit a few steps; the config names the architecture and from_dict dispatches on it when loading; the saved SAE
    gives the same codes; in eval a sample's code does not depend on the rest of its batch; reconstructions have the
    input's shape."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 12)).astype(np.float32)
    cfg = SAEConfig(d_in=12, expansion=2, sparsity=name, k=4, aux_k=4, dead_after=64, steps=30, batch_size=64)
    sae, history = fit_sae(x, cfg, progress=False)
    assert history and np.isfinite([h[1] for h in history]).all()
    path = tmp_path / "sae.safetensors"
    sae.save(path)
    loaded = SparseAutoencoder.load(path)
    assert loaded.cfg.sparsity == name and type(loaded.arch) is type(get_architecture(name))
    t = torch.from_numpy(x)
    codes = loaded.codes(t)
    torch.testing.assert_close(codes, sae.codes(t))
    torch.testing.assert_close(loaded.codes(t[:7]), codes[:7])  # per sample, whatever the batch
    assert loaded.reconstruct(t).shape == t.shape and torch.isfinite(loaded.reconstruct(t)).all()
    l0 = float(loaded.active(codes).float().sum(1).mean())
    assert 0 < l0 < cfg.d_sae, l0
    if name == "topk":
        assert l0 <= cfg.k


# -- configs/ -------------------------------------------------------------------------------------------------------
def _read_position_config(path: Path) -> tuple[SAEConfig, object]:
    sae, positions = read_position_config(path)
    return SAEConfig.from_dict(sae), positions


def _read_config(path: Path):
    """Each config as the stage that reads it builds it."""
    readers = {
        "sae.yaml": lambda p: SAEConfig.from_dict(config.read_yaml(p)),
        "sae_sweep.yaml": lambda p: SweepSettings.from_dict(config.read_yaml(p)),
        "sae_positions.yaml": _read_position_config,
        "clip.yaml": lambda p: config.load(ClipConfig, p),
        "clip_prompts.yaml": read_prompts,
    }
    return readers.get(path.name, load_config)(path)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config_parses(path, tmp_path):
    value = _read_config(path)
    assert value
    if isinstance(value, ExperimentConfig):
        assert get_family(value.family).name == value.family
        assert ExperimentDir.named(value.name, tmp_path).root == tmp_path / path.stem


def test_the_configs_readme_names_every_config():
    text = (ROOT / "configs" / "README.md").read_text()
    missing = [p.name for p in CONFIGS if f"`{p.name}`" not in text]
    assert not missing, f"configs/README.md does not describe {missing}"


# -- the command line -----------------------------------------------------------------------------------------------
COMMANDS = sorted(next(a for a in build_parser()._actions if a.dest == "command").choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert f"usage: python -m hms {command}" in capsys.readouterr().out


@pytest.mark.parametrize("name", FAMILIES)
def test_a_swap_invariant_head_gives_a_recording_and_its_swap_the_same_output(name, windows):
    """Every family whose model config declares ``swap_head`` (the built-ins do) builds, with ``mean`` and with
    ``max``, a network whose output is the same for a recording and its hemisphere swap, whose head still maps its
    embedding (the joined one plus the left-right similarity) to its logits, and that differs from the plain one."""
    from dataclasses import replace

    family, cfg = get_family(name), tiny_config(name)
    if not declares_head_options(name, cfg, "swap_head"):
        return
    x = family.inputs(*windows, cfg.frontend)
    swapped = family.swap(x, cfg.frontend)
    for mode in ("mean", "max"):
        torch.manual_seed(0)
        model = family.network(replace(cfg.model, swap_head=mode), cfg.frontend, pretrained=False).eval()
        assert isinstance(model, Network)
        with torch.no_grad():
            out, out_swapped = model(x), model(swapped)
            torch.testing.assert_close(out["logits"], out_swapped["logits"], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(out["embedding"], out_swapped["embedding"], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(model.head(out["embedding"]), out["logits"], atol=1e-5, rtol=1e-4)
        similarity = out["embedding"][:, -1]
        assert out["embedding"].shape[1] == model.embed_dim and ((similarity > -1.001) & (similarity < 1.001)).all()
    torch.manual_seed(0)
    plain = family.network(cfg.model, cfg.frontend, pretrained=False).eval()
    with torch.no_grad():  # without the switch the network does see the side
        assert not torch.allclose(plain(x)["logits"], plain(swapped)["logits"], atol=1e-5)
    with pytest.raises(ValueError, match="swap_head"):
        replace(cfg.model, swap_head="min")


@pytest.mark.parametrize("name", FAMILIES)
def test_an_entmax_output_is_the_smoothed_entmax_of_the_heads_scores(name, windows):
    """Every family whose model config declares ``output`` builds with ``entmax15`` a network whose probabilities
    (softmax of its logits, as every consumer reads them) are the smoothed entmax15 of its head's scores: sparse up
    to the floor, summing to 1."""
    from dataclasses import replace

    from entmax import entmax15

    from hms.models.output import EPS

    family, cfg = get_family(name), tiny_config(name)
    if not declares_head_options(name, cfg, "output"):
        return
    x = family.inputs(*windows, cfg.frontend)
    torch.manual_seed(0)
    model = family.network(replace(cfg.model, output="entmax15"), cfg.frontend, pretrained=False).eval()
    with torch.no_grad():
        out = model(x)
        scores = model.head[0](out["embedding"]) * 50  # spread scores so that entmax zeroes some classes
        probs = model.head[1](scores).softmax(-1)
        torch.testing.assert_close(probs, (1 - EPS) * entmax15(scores, dim=-1) + EPS / N_CLASSES)
        torch.testing.assert_close(model.head(out["embedding"]), out["logits"])
    assert (probs < EPS).any() and torch.allclose(probs.sum(-1), torch.ones(len(x)))
    with pytest.raises(ValueError, match="output"):
        replace(cfg.model, output="sparsemax")


@pytest.mark.parametrize("name", FAMILIES)
def test_channel_quality_flags_mark_blank_inputs_and_reach_the_head(name, windows):
    """Every family whose model config declares ``quality_mask`` flags nothing on real windows and everything on a
    row with no input, and with the switch on its embedding ends with those flags (its head reads them)."""
    from dataclasses import replace

    family, cfg = get_family(name), tiny_config(name)
    if not declares_head_options(name, cfg, "quality_mask"):
        return
    x = family.inputs(*windows, cfg.frontend)
    flags = family.quality(x, cfg.frontend)
    assert flags.shape[0] == len(x) and (flags == 0).all()
    assert (family.quality(family.inputs([None], [None], cfg.frontend), cfg.frontend) == 1).all()
    torch.manual_seed(0)
    model = family.network(replace(cfg.model, quality_mask=True), cfg.frontend, pretrained=False).eval()
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(out["embedding"][:, -flags.shape[1] :], flags)
        torch.testing.assert_close(model.head(out["embedding"]), out["logits"], atol=1e-5, rtol=1e-4)
    assert out["embedding"].shape[1] == model.embed_dim
