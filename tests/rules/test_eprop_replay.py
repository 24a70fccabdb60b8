"""The replay engine gives the online PEs' e-prop gradients (docs/eprop.md) and trains like the in-process engine."""

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.rules.eprop.bptt import bptt_forward
from pe_actors.rules.eprop.replay import ReplayEngine, replay_gradients

SMALL = pa.NetworkConfig(n_in=6, n_rec=9, n_out=4, n_steps=30)
GSC = pa.NetworkConfig()


def spiking_batch(config, seed, batch=4, dtype=np.float64):
    """Weights, inputs scaled so that the network spikes, and labels."""
    rng = np.random.default_rng(seed)
    params = pa.init_params(config, seed, dtype)
    x = (rng.random((batch, config.n_steps, config.n_in)) * 7.0).astype(dtype)
    labels = rng.integers(0, config.n_out, batch)
    rate = bptt_forward(params, x, config)["z"].mean()
    assert 0.005 < rate < 0.5, f"spike rate {rate} makes the comparison vacuous"
    return params, x, labels


def relative_error(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("config", [SMALL, GSC], ids=["small", "gsc"])
def test_replay_equals_online_and_bptt(config, seed):
    params, x, labels = spiking_batch(config, seed)
    online, loss_o, logits_o = pa.eprop_gradients(params, x, labels, config)
    replay, loss_r, logits_r = pa.eprop_gradients(params, x, labels, config, engine="replay")
    bptt, _, _ = pa.bptt_gradients(params, x, labels, config)
    for key in online:
        assert replay[key].shape == params[key].shape and replay[key].dtype == np.float64
        assert np.abs(online[key]).max() > 0
        assert relative_error(replay[key], online[key]) <= 1e-9, key
        assert relative_error(replay[key], bptt[key]) <= 1e-9, key
    assert np.all(np.diag(replay["w_rec"]) == 0)
    assert loss_r == pytest.approx(loss_o, rel=1e-12)
    np.testing.assert_allclose(logits_r, logits_o, rtol=1e-12)


def test_unknown_engine_lists_the_valid_names():
    params, x, labels = spiking_batch(SMALL, 2)
    with pytest.raises(ValueError, match=r"unknown engine 'fast'.*'online', 'replay'"):
        pa.eprop_gradients(params, x, labels, SMALL, engine="fast")


def test_gradients_do_not_depend_on_chunks_or_threads():
    params, x, labels = spiking_batch(GSC, 3, batch=11)
    reference, result = ReplayEngine(GSC, params, pa.OptimiserConfig(), workers=1).gradients(x, labels)
    for chunk, workers in ((3, 1), (256, 2), (5, 3)):
        engine = ReplayEngine(GSC, params, pa.OptimiserConfig(), chunk=chunk, workers=workers)
        grads, other = engine.gradients(x, labels)
        engine.shutdown()
        for key in grads:
            assert relative_error(grads[key], reference[key]) <= 1e-12, (chunk, workers, key)
        np.testing.assert_allclose(other.loss, result.loss, rtol=1e-12)


def test_summed_gradients_of_the_pure_function():
    params, x, labels = spiking_batch(SMALL, 4, batch=3)
    mean, _, _ = pa.eprop_gradients(params, x, labels, SMALL)
    summed, result = replay_gradients(params, x, labels, SMALL)
    for key in mean:
        assert relative_error(summed[key] / 3, mean[key]) <= 1e-9
    assert result.error.shape == (3, SMALL.n_out)


def test_training_matches_the_in_process_engine():
    params, x, labels = spiking_batch(GSC, 5, batch=6)
    optimiser = pa.OptimiserConfig(lr=0.01, l2=1e-3)
    online = pa.InProcessEngine(GSC, params, optimiser, n_pes=3, sub_batch=2)
    replay = ReplayEngine(GSC, params, optimiser)
    for lr in (0.01, 0.005):
        result_o = online.train_batch(x, labels, lr)
        result_r = replay.train_batch(x, labels, lr)
        np.testing.assert_allclose(result_r.loss, result_o.loss, rtol=1e-10)
    state_o, state_r = online.state(), replay.state()
    assert set(state_r) == set(state_o)
    for key in state_o:
        np.testing.assert_allclose(state_r[key], state_o[key], rtol=1e-7, atol=1e-12, err_msg=key)
    assert np.all(np.diag(replay.params()["w_rec"]) == 0)
    np.testing.assert_allclose(replay.predict(x), online.predict(x), rtol=1e-10)


def test_state_round_trip_and_params_are_copies():
    params, x, labels = spiking_batch(SMALL, 6)
    engine = ReplayEngine(SMALL, params, pa.OptimiserConfig())
    saved = engine.state()
    engine.params()["w_in"][...] = 0
    engine.train_batch(x, labels, 0.01)
    assert not np.array_equal(engine.params()["w_in"], saved["w_in"])
    engine.load_state(saved)
    assert engine.state()["adam_n"] == 0
    for key, value in engine.params().items():
        np.testing.assert_array_equal(value, params[key])


def test_float32_follows_float64():
    params, x, labels = spiking_batch(SMALL, 7)
    grads64, _, _ = pa.eprop_gradients(params, x, labels, SMALL, engine="replay")
    params32 = {key: value.astype(np.float32) for key, value in params.items()}
    grads32, _, _ = pa.eprop_gradients(params32, x.astype(np.float32), labels, SMALL, engine="replay")
    for key in grads32:
        assert grads32[key].dtype == np.float32
        assert relative_error(grads32[key].astype(np.float64), grads64[key]) < 1e-4


def test_bad_arguments_name_the_problem():
    params, x, labels = spiking_batch(SMALL, 8)
    with pytest.raises(ValueError, match="chunk must be a positive integer, got 0"):
        ReplayEngine(SMALL, params, pa.OptimiserConfig(), chunk=0)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        ReplayEngine(SMALL, params, pa.OptimiserConfig(), workers=-1)
    engine = ReplayEngine(SMALL, params, pa.OptimiserConfig())
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 30, 6\)"):
        engine.train_batch(x[:, :10], labels, 0.01)
    with pytest.raises(ValueError, match="labels must lie in"):
        engine.train_batch(x, labels + 10, 0.01)
