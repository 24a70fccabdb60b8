"""The notebook-level API: pe_actors.train with the CLI's options as keyword arguments, pe_actors.load of a run,
and eprop_gradients in a loop reusing its replay engine."""

from __future__ import annotations

import numpy as np
import pytest

import pe_actors as pa


@pytest.fixture(scope="module")
def standin(small_standin):
    from pe_actors_datasets import load_prepared

    return small_standin[0], load_prepared(small_standin[0])


def test_train_returns_the_run_and_load_gives_its_best_model(standin, tmp_path):
    features, prepared = standin
    run = pa.train(
        data=features, engine="inprocess", pes=2, sub_batch=4, epochs=2, max_samples=8, out=tmp_path / "run",
        progress=False, synapses="quantised", bits=4,
    )
    assert isinstance(run, pa.Run) and [r["epoch"] for r in run.history] == [1, 2]
    assert run.best["validation_accuracy"] == max(r["validation_accuracy"] for r in run.history)
    model = pa.load(run.path)
    x, labels = prepared.splits["test"]
    result = model.evaluate(x, labels)
    # The best-validation checkpoint's test accuracy, recomputed on the replay engine from its devices.
    assert result["accuracy"] == pytest.approx(run.best["test_accuracy"], abs=1e-12)
    assert model.predict(x[:3]).shape == (3, 12) and "level_pos_w_in" in model.state
    assert model.class_names[-1] == "unknown"
    with pytest.raises(TypeError, match="unknown option 'sub_batches'"):
        pa.train(sub_batches=4)


def test_eprop_gradients_in_a_loop_reuse_one_engine_and_stay_exact():
    config = pa.NetworkConfig(n_in=5, n_rec=7, n_out=3, n_steps=12)
    rng = np.random.default_rng(0)
    x = rng.random((4, 12, 5)) * 3
    labels = np.array([0, 1, 2, 1])
    for seed in (1, 2):
        params = pa.init_params(config, seed, np.float64)
        grads, loss, _ = pa.eprop_gradients(params, x, labels, config, engine="replay")
        online, online_loss, _ = pa.eprop_gradients(params, x, labels, config)
        for key in grads:
            np.testing.assert_allclose(grads[key], online[key], rtol=1e-10, atol=1e-13)
        assert loss == pytest.approx(online_loss, rel=1e-12)
    from pe_actors.rules.eprop.gradients import _replay_engine

    assert _replay_engine.cache_info().hits >= 1
