"""E-prop through the PE engine equals reverse-mode BPTT (docs/eprop.md), for any P and sub-batch."""

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.rules.eprop.bptt import bptt_forward
from pe_actors.rules.eprop.pe_group import gather_state, make_group

SMALL = pa.NetworkConfig(n_in=6, n_rec=9, n_out=4, n_steps=30)
GSC = pa.NetworkConfig()


def spiking_batch(config, seed, batch=4, scale=None):
    """Inputs scaled so that the network spikes, with labels; returns (params, x, labels)."""
    rng = np.random.default_rng(seed)
    params = pa.init_params(config, seed, np.float64)
    scale = 7.0 if scale is None else scale
    x = rng.random((batch, config.n_steps, config.n_in)) * scale
    labels = rng.integers(0, config.n_out, batch)
    return params, x, labels


def relative_error(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def assert_spiking(params, x, config):
    rate = bptt_forward(params, x, config)["z"].mean()
    assert 0.005 < rate < 0.5, f"spike rate {rate} makes the identity test vacuous"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("config", [SMALL, GSC], ids=["small", "gsc"])
def test_eprop_equals_bptt(config, seed):
    params, x, labels = spiking_batch(config, seed)
    assert_spiking(params, x, config)
    eprop, loss_e, logits_e = pa.eprop_gradients(params, x, labels, config)
    bptt, loss_b, logits_b = pa.bptt_gradients(params, x, labels, config)
    assert set(eprop) == {"w_in", "w_rec", "w_out"}
    for key in eprop:
        assert eprop[key].shape == params[key].shape
        assert eprop[key].dtype == np.float64
        assert np.abs(bptt[key]).max() > 0
        assert relative_error(eprop[key], bptt[key]) <= 1e-9, key
    assert loss_e == pytest.approx(loss_b, rel=1e-12)
    np.testing.assert_allclose(logits_e, logits_b, rtol=1e-12)


def test_gradients_agree_with_finite_differences_of_readout():
    """W_out has no stop-gradient: its gradient is the true derivative of the loss."""
    params, x, labels = spiking_batch(SMALL, 3)
    grads, loss, _ = pa.eprop_gradients(params, x, labels, SMALL)
    eps = 1e-6
    for index in [(0, 0), (3, 2), (8, 1)]:
        shifted = {key: value.copy() for key, value in params.items()}
        shifted["w_out"][index] += eps
        _, loss_plus, _ = pa.eprop_gradients(shifted, x, labels, SMALL)
        assert (loss_plus - loss) / eps == pytest.approx(grads["w_out"][index], rel=1e-4, abs=1e-9)


def test_recurrent_diagonal_gradient_is_zero():
    params, x, labels = spiking_batch(SMALL, 4)
    grads, _, _ = pa.eprop_gradients(params, x, labels, SMALL, n_pes=3)
    assert np.all(np.diag(grads["w_rec"]) == 0)


@pytest.mark.parametrize("n_pes", [1, 2, 5, 12])
def test_gradients_independent_of_pes(n_pes):
    params, x, labels = spiking_batch(GSC, 5, batch=3)
    reference, _, _ = pa.eprop_gradients(params, x, labels, GSC, n_pes=1)
    grads, _, _ = pa.eprop_gradients(params, x, labels, GSC, n_pes=n_pes)
    for key in grads:
        np.testing.assert_allclose(grads[key], reference[key], rtol=0, atol=1e-12 * np.abs(reference[key]).max())


def test_uneven_split_and_sub_batch():
    params, x, labels = spiking_batch(GSC, 6, batch=5)
    reference, loss, _ = pa.eprop_gradients(params, x, labels, GSC)
    pes = make_group(GSC, params, 3, sizes=[7, 100, 13])
    assert [pe.size for pe in pes] == [7, 100, 13]
    engine = pa.InProcessEngine(GSC, params, pa.OptimiserConfig(), n_pes=7, sub_batch=1)
    slices, result = engine.gradients(x, labels)
    assert float(result.loss.mean()) == pytest.approx(loss, rel=1e-12)
    full = gather_state([{**s, "w_out": s["w_out"]} for s in slices])
    for key in reference:
        np.testing.assert_allclose(full[key], reference[key], rtol=0, atol=1e-12 * np.abs(reference[key]).max())
    for sub_batch in (2, 3):
        grads, _, _ = pa.eprop_gradients(params, x, labels, GSC, n_pes=5, sub_batch=sub_batch)
        for key in grads:
            np.testing.assert_allclose(grads[key], reference[key], rtol=0, atol=1e-12 * np.abs(reference[key]).max())


def test_float32_follows_float64():
    params, x, labels = spiking_batch(SMALL, 7)
    grads64, _, _ = pa.eprop_gradients(params, x, labels, SMALL)
    params32 = {key: value.astype(np.float32) for key, value in params.items()}
    grads32, _, _ = pa.eprop_gradients(params32, x.astype(np.float32), labels, SMALL)
    for key in grads32:
        assert grads32[key].dtype == np.float32
        assert relative_error(grads32[key].astype(np.float64), grads64[key]) < 1e-4


def test_bad_inputs_name_the_problem():
    params, x, labels = spiking_batch(SMALL, 8)
    with pytest.raises(ValueError, match="labels must lie in"):
        pa.eprop_gradients(params, x, labels + 10, SMALL)
    with pytest.raises(ValueError, match="input channels"):
        pa.eprop_gradients(params, x[:, :, :3], labels, SMALL)
    with pytest.raises(ValueError, match="n_pes"):
        pa.eprop_gradients(params, x, labels, SMALL, n_pes=10)
    with pytest.raises(ValueError, match="config.n_in = 80"):
        pa.eprop_gradients(params, x, labels, GSC)
