import numpy as np
import pytest
import torch

from hms.sae.fit import evaluate, fit_sae
from hms.sae.model import SAEConfig, SparseAutoencoder


def _one_hot_data(n: int = 2000, d: int = 16, seed: int = 0) -> np.ndarray:
    """Each sample is one of d orthogonal atoms with a random positive amplitude (every atom needs its own latent)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, d), np.float32)
    x[np.arange(n), rng.integers(0, d, n)] = rng.uniform(1, 2, n)
    return x


def test_topk_keeps_exactly_k_active_units():
    sae = SparseAutoencoder(SAEConfig(d_in=32, expansion=4, k=5))
    x = torch.randn(64, 32)
    z = sae.encode(x)
    assert ((z != 0).sum(-1) <= 5).all()
    with torch.no_grad():
        sae.b_enc += 50.0  # every pre-activation positive: the top 5 all survive the ReLU
    z = sae.encode(x)
    assert ((z != 0).sum(-1) == 5).all()
    top = sae.pre_acts(x).topk(5, dim=-1).indices
    assert torch.equal(torch.sort(top, -1).values, torch.sort(z.topk(5, dim=-1).indices, -1).values)
    # the cheap training path decodes exactly as decode(encode(x))
    out = sae.losses(x)
    ref = (x - sae.decode(sae.encode(x))).pow(2).sum(-1).mean()
    torch.testing.assert_close(out["mse"], ref)


def test_decoder_columns_stay_unit_norm():
    x = np.random.default_rng(1).normal(size=(500, 24)).astype(np.float32)
    sae, _ = fit_sae(x, SAEConfig(d_in=24, expansion=4, k=4, steps=40, lr=2e-2, batch_size=64), progress=False)
    norms = sae.W_dec.norm(dim=0)
    torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["l1", "kl"])
def test_classic_penalties_train_and_report(mode):
    x = _one_hot_data(800)
    cfg = SAEConfig(d_in=16, expansion=2, sparsity=mode, steps=150, lr=1e-2, batch_size=64, standardize="global")
    sae, history = fit_sae(x, cfg, progress=False)
    m = evaluate(sae, x)
    assert history[-1][1] < history[0][1], "training lowers the reconstruction error"
    assert 0.5 < m["explained_variance"] <= 1.0 and m["l0"] > 0


def test_aux_loss_revives_a_planted_dead_latent():
    x = _one_hot_data()
    results = {}
    for coeff in (0.0, 1.0):
        cfg = SAEConfig(
            d_in=16,
            expansion=1,
            k=1,
            aux_k=4,
            aux_coeff=coeff,
            dead_after=10**9,
            steps=400,
            batch_size=64,
            lr=1e-2,
            b_dec_init="mean",
            standardize="global",
        )
        sae = SparseAutoencoder(cfg)
        with torch.no_grad():  # plant: latent 0 barely responds to anything and is marked dead
            sae.W_enc[0] *= 0.01
            sae.samples_since_fired[0] = 10**9
        before = evaluate(sae, x)["density"][0]
        sae, _ = fit_sae(x, cfg, progress=False, sae=sae)
        results[coeff] = (before, evaluate(sae, x)["density"][0], bool(sae.dead_mask()[0]))
    assert results[0.0][0] == 0.0 and results[1.0][0] == 0.0, "the planted latent starts dead"
    assert results[0.0][1] == 0.0 and results[0.0][2], "without the auxiliary loss it never fires"
    assert results[1.0][1] > 0.02 and not results[1.0][2], "with it, the latent takes an atom and fires again"


def test_save_load_roundtrip_and_codes(tmp_path):
    x = np.random.default_rng(2).normal(3.0, 2.0, size=(300, 12)).astype(np.float32)
    sae, _ = fit_sae(x, SAEConfig(d_in=12, expansion=4, k=3, steps=20), progress=False)
    sae.save(tmp_path / "sae.safetensors", {"metrics": {"explained_variance": 0.5}})
    back = SparseAutoencoder.load(tmp_path / "sae.safetensors")
    torch.testing.assert_close(back.codes(torch.from_numpy(x)), sae.codes(torch.from_numpy(x)))
    assert back.cfg == sae.cfg
    # standardisation statistics come from the data the SAE was fitted on
    torch.testing.assert_close(back.x_mean, torch.from_numpy(x.mean(0)), atol=1e-5, rtol=0)


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="sparsity"):
        SAEConfig(sparsity="l2")
    with pytest.raises(ValueError, match=r"SAE settings: unknown keys \['kk'\]; known: \[.*'k',"):
        SAEConfig.from_dict({"kk": 3})
    with pytest.raises(ValueError, match="NaN"):
        fit_sae(np.full((10, 4), np.nan, np.float32), SAEConfig(d_in=4, k=2, steps=1), progress=False)


def test_streaming_from_disk_chunks_gives_the_in_memory_fit(tmp_path):
    """The same vectors as one array or as three memory-mapped .npy chunks: the same SAE and the same metrics."""
    from hms.sae.store import ActivationStore

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(700, 16)) * rng.uniform(0.5, 2, 16) + 3).astype(np.float32)
    for i, part in enumerate(np.array_split(np.arange(700), 3)):
        np.save(tmp_path / f"shift+000{i}.0.npy", x[part])
        np.save(tmp_path / f"shift+000{i}.0.ids.npy", part.astype(np.int64))
    store = ActivationStore.open(tmp_path)
    assert len(store) == 700 and isinstance(store.chunks[0], np.memmap)
    np.testing.assert_array_equal(store.take(np.array([699, 0, 350])), x[[699, 0, 350]])
    cfg = SAEConfig(d_in=16, expansion=4, k=4, aux_k=8, dead_after=64, steps=60, batch_size=32)
    a, hist_a = fit_sae(x, cfg, progress=False)
    b, hist_b = fit_sae(store, cfg, progress=False)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k], atol=1e-6, rtol=1e-5)
    ea, eb = evaluate(a, x), evaluate(b, store)
    assert ea["explained_variance"] == pytest.approx(eb["explained_variance"], abs=1e-6)
    np.testing.assert_array_equal(ea["density"], eb["density"])


def test_shifted_activations_come_from_the_training_recordings_only(tiny_models, sim_dir, tmp_path):
    """Fold k's SAE activations (every shift, both views) hold only fold k's training eeg_ids; run_sae fits on
    them and reports how many vectors it saw."""
    import shutil

    import pandas as pd

    from hms.experiment import ExperimentDir
    from hms.sae.activations import build_activations
    from hms.sae.run import run_sae

    exp = ExperimentDir(tmp_path / "models" / "s")
    shutil.copytree(tiny_models, exp.root)
    folds = pd.read_csv(exp.folds_csv)
    valid = set(folds.loc[folds["fold"] == 0, "eeg_id"])
    store = build_activations(exp, sim_dir, 0, (-4.0, 0.0, 4.0))
    ids = store.eeg_ids
    assert len(store.chunks) == 3 and len(ids) == len(store) > 0
    assert not valid & set(ids.tolist())
    assert set(ids.tolist()) <= set(folds.loc[folds["fold"] != 0, "eeg_id"])
    assert store.all_finite()
    only_zero = len(_one_chunk(exp.sae_activation_dir(0), "+0000.0"))
    assert len(store) > only_zero  # the shifted windows add vectors
    assert len(build_activations(exp, sim_dir, 0, (0.0,))) == only_zero  # other shifts' chunks on disk not read
    table = run_sae(
        "s",
        sim_dir,
        exp.root.parent,
        {"expansion": 2, "k": 4, "aux_k": 8, "dead_after": 64, "steps": 20, "batch_size": 32},
        files_dir=tmp_path / "files",
        progress=False,
        shifts=(-4.0, 0.0, 4.0),
    )
    assert table.loc[table["fold"] == 0, "n_train_samples"].item() == len(store)


def _one_chunk(folder, shift: str):
    from hms.sae.store import ActivationStore

    return ActivationStore([np.load(folder / f"shift{shift}.npy", mmap_mode="r")])


def _interrupting(store, after: int):
    """The same store, but the fit stops (like Ctrl-C) at its ``after``-th read."""
    from hms.sae.store import ActivationStore

    class Interrupting(ActivationStore):
        calls = 0

        def take(self, index):
            Interrupting.calls += 1
            if Interrupting.calls > after:
                raise KeyboardInterrupt
            return super().take(index)

    return Interrupting(store.chunks, store.ids)


def test_an_interrupted_fit_resumes_to_the_uninterrupted_sae(tmp_path, monkeypatch):
    import hms.sae.fit as fit_module
    from hms.sae.store import ActivationStore

    monkeypatch.setattr(fit_module, "CHECKPOINT_EVERY", 10)
    monkeypatch.setattr(fit_module, "CHECKPOINT_SECONDS", 0.0)
    rng = np.random.default_rng(3)
    store = ActivationStore.from_array((rng.normal(size=(400, 16)) * rng.uniform(0.5, 2, 16)).astype(np.float32))
    cfg = SAEConfig(d_in=16, expansion=2, k=4, aux_k=8, dead_after=64, steps=45, batch_size=32)
    whole, hist_whole = fit_sae(store, cfg, progress=False)
    ckpt = tmp_path / "fold0.state.pt"
    median_reads = 1  # fit_sae reads the median sample once before the first batch
    with pytest.raises(KeyboardInterrupt):
        fit_sae(_interrupting(store, median_reads + 27), cfg, progress=False, checkpoint=ckpt)
    assert ckpt.is_file(), "the state of step 20 was saved"
    assert torch.load(ckpt, weights_only=True)["step"] == 20
    resumed, hist_resumed = fit_sae(store, cfg, progress=False, checkpoint=ckpt)
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, atol=1e-6, rtol=1e-5)
    assert [h[0] for h in hist_resumed] == [h[0] for h in hist_whole]
    assert not ckpt.exists(), "the finished fit removes its resume state"
    # a checkpoint of other settings is not resumed from: the fit starts over and still gives its own SAE
    with pytest.raises(KeyboardInterrupt):
        fit_sae(_interrupting(store, median_reads + 27), cfg, progress=False, checkpoint=ckpt)
    other = SAEConfig(d_in=16, expansion=2, k=3, aux_k=8, dead_after=64, steps=45, batch_size=32)
    fresh, _ = fit_sae(store, other, progress=False)
    again, _ = fit_sae(store, other, progress=False, checkpoint=ckpt)
    torch.testing.assert_close(again.W_dec, fresh.W_dec)
    # nor is a checkpoint of other data of the same size (e.g. embeddings recomputed after retraining)
    with pytest.raises(KeyboardInterrupt):
        fit_sae(_interrupting(store, median_reads + 27), cfg, progress=False, checkpoint=ckpt)
    moved = ActivationStore.from_array(store.take(np.arange(len(store))) + 1.0)
    fresh, _ = fit_sae(moved, cfg, progress=False)
    again, _ = fit_sae(moved, cfg, progress=False, checkpoint=ckpt)
    torch.testing.assert_close(again.W_dec, fresh.W_dec)


def test_fractional_expansion_sizes_the_dictionary():
    assert SAEConfig(d_in=1280, expansion=0.5).d_sae == 640
    with pytest.raises(ValueError, match="no latents"):
        SAEConfig(d_in=4, expansion=0.1, k=1)


def test_batchtopk_keeps_k_per_sample_on_average_in_training_and_thresholds_at_inference():
    from hms.sae.model import SAEConfig, SparseAutoencoder

    sae = SparseAutoencoder(SAEConfig(d_in=8, expansion=4, sparsity="batchtopk", k=3))
    pre = torch.randn(50, 32, generator=torch.Generator().manual_seed(1))
    sae.train()
    z = sae.activate(pre)
    per_sample = (z > 0).sum(1)
    assert int(per_sample.sum()) <= 3 * 50 and per_sample.float().mean() == pytest.approx(3.0, abs=0.5)
    assert len(set(per_sample.tolist())) > 1  # samples share the batch's budget unevenly
    kept_min = float(z[z > 0].min())
    assert float(sae.threshold) == pytest.approx(kept_min)  # the first batch sets the running threshold
    sae.eval()
    z_eval = sae.activate(pre)
    torch.testing.assert_close((z_eval > 0), (pre.relu() > kept_min))
