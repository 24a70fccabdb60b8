"""ADAM (TF1 form), L2, the lr schedule, and config validation (docs/eprop.md)."""

import math

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.core.optimiser import Adam, OptimiserConfig, l2_gradient, learning_rate
from pe_actors.rules.eprop.neuron import surrogate


def test_adam_two_steps_by_hand():
    config = OptimiserConfig(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-5)
    w = np.array([1.0, -2.0])
    adam = Adam(w.shape, w.dtype, config)
    g1, g2 = np.array([0.5, -1.0]), np.array([0.1, 0.2])
    adam.step(w, g1, config.lr)
    m1, v1 = 0.1 * g1, 0.001 * g1**2
    lr1 = 0.1 * math.sqrt(1 - 0.999) / (1 - 0.9)
    w1 = np.array([1.0, -2.0]) - lr1 * m1 / (np.sqrt(v1) + 1e-5)
    np.testing.assert_allclose(w, w1, rtol=1e-14)
    adam.step(w, g2, config.lr)
    m2, v2 = 0.9 * m1 + 0.1 * g2, 0.999 * v1 + 0.001 * g2**2
    lr2 = 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    np.testing.assert_allclose(w, w1 - lr2 * m2 / (np.sqrt(v2) + 1e-5), rtol=1e-14)
    assert adam.n == 2
    # The first TF1 step moves each weight by about lr, whatever the gradient's scale.
    np.testing.assert_allclose(np.abs(w1 - [1.0, -2.0]), 0.1, rtol=1e-3)


def test_l2_gradient_is_derivative_of_l2_term():
    w = np.array([[0.3, -1.2], [2.0, 0.0]])
    l2, eps = 0.05, 1e-7
    term = lambda weights: l2 * np.sum(weights**2)  # noqa: E731
    shifted = w.copy()
    shifted[1, 0] += eps
    assert l2_gradient(w, l2)[1, 0] == pytest.approx((term(shifted) - term(w)) / eps, rel=1e-5)


def test_step_schedule_matches_paper_recipe():
    config = OptimiserConfig(lr=0.01, lr_decay=0.3, decay_every=6)
    assert [learning_rate(config, epoch) for epoch in (0, 5, 6, 11, 12, 29)] == pytest.approx(
        [0.01, 0.01, 0.003, 0.003, 0.0009, 0.01 * 0.3**4]
    )


def test_training_step_applies_adam_with_l2_to_each_slice():
    config = pa.NetworkConfig(n_in=4, n_rec=6, n_out=3, n_steps=15)
    params = pa.init_params(config, 0, np.float64)
    rng = np.random.default_rng(0)
    x, labels = rng.random((3, 15, 4)) * 7, np.array([0, 1, 2])
    optimiser = OptimiserConfig(lr=0.05, l2=0.01)
    grads, _, _ = pa.eprop_gradients(params, x, labels, config)
    expected = {}
    for key, value in params.items():
        grad = grads[key] + 2 * 0.01 * value
        if key == "w_rec":
            np.fill_diagonal(grad, 0.0)
        adam = Adam(value.shape, value.dtype, optimiser)
        expected[key] = value.copy()
        adam.step(expected[key], grad, 0.05)
    engine = pa.InProcessEngine(config, params, optimiser, n_pes=4, sub_batch=2)
    engine.train_batch(x, labels, 0.05)
    for key, value in engine.params().items():
        np.testing.assert_allclose(value, expected[key], rtol=0, atol=1e-13)
    assert np.all(np.diag(engine.params()["w_rec"]) == 0)


def test_updates_independent_of_pes_and_sub_batch():
    config = pa.NetworkConfig(n_in=5, n_rec=10, n_out=3, n_steps=20)
    params = pa.init_params(config, 1, np.float64)
    rng = np.random.default_rng(1)
    batches = [(rng.random((4, 20, 5)) * 7, rng.integers(0, 3, 4)) for _ in range(3)]
    finals = []
    for n_pes, sub_batch in [(1, None), (3, 1), (10, 3)]:
        engine = pa.InProcessEngine(config, params, OptimiserConfig(lr=0.01), n_pes=n_pes, sub_batch=sub_batch)
        for x, labels in batches:
            engine.train_batch(x, labels, 0.01)
        finals.append(engine.state())
    for other in finals[1:]:
        for key, value in finals[0].items():
            np.testing.assert_allclose(other[key], value, rtol=0, atol=1e-12)


def test_surrogate_is_the_multi_gaussian():
    u = np.linspace(-4, 4, 9)
    density = lambda mu, sigma: np.exp(-((u - mu) ** 2) / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)  # noqa: E731
    expected = 0.5 * (1.15 * density(0, 0.5) - 0.15 * density(0.5, 3) - 0.15 * density(-0.5, 3))
    np.testing.assert_allclose(surrogate(u), expected, rtol=1e-14)
    assert surrogate(np.array(0.0)) > surrogate(np.array(1.0)) > 0 > surrogate(np.array(2.0))


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_rec", 0), ("n_in", 2.5), ("n_steps", -1), ("tau_m", 0.0), ("tau_a", float("nan")), ("beta", -1.0)],
)
def test_network_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"EpropConfig.{field}"):
        pa.NetworkConfig(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("lr", 0.0), ("beta2", 1.0), ("lr_decay", 0.0), ("decay_every", 0)])
def test_optimiser_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"OptimiserConfig.{field}"):
        OptimiserConfig(**{field: value})


def test_decay_factors_derived_from_time_constants():
    config = pa.network_config("gsc")
    assert config.alpha == pytest.approx(math.exp(-1 / 5))
    assert config.rho == pytest.approx(math.exp(-1 / 150))
    assert config.kappa == pytest.approx(math.exp(-1 / 10))
    assert pa.NetworkConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown EpropConfig field"):
        pa.NetworkConfig.from_dict({"n_hidden": 3})
    with pytest.raises(ValueError, match="valid names"):
        pa.network_config("mnist")
