"""EventProp configuration, input coding and the edges of the loss: silent outputs, last-step input spikes and
bad input (docs/eventprop.md)."""

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.encoding import encode, spike_steps
from pe_actors.rules.eventprop.loss import output_errors
from pe_actors.rules.eventprop.networks import EVENTPROP_NETWORKS
from pe_actors_datasets.yinyang import yinyang


def test_yinyang_network_defaults():
    c = EVENTPROP_NETWORKS["yinyang"]
    assert c.sizes == (5, 120, 3) and c.dt == 1.0 and c.n_steps == 30
    assert (c.tau_mem, c.tau_syn, c.theta) == (20.0, 5.0, 1.0)
    assert (c.tau0, c.tau1, c.alpha_reg) == (0.5, 6.4, 3e-3)
    assert c.a == pytest.approx(np.exp(-1 / 5)) and c.b == pytest.approx(np.exp(-1 / 20))
    fine = c.with_dt(0.1)
    assert fine.n_steps == 300 and fine.duration == pytest.approx(c.duration)
    assert EventPropConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    "field, value",
    [
        ("sizes", (5,)),
        ("sizes", (5, 0, 3)),
        ("dt", 0),
        ("n_steps", 1),
        ("tau_mem", -1.0),
        ("tau_syn", float("nan")),
        ("theta", 0),
        ("tau0", True),
        ("alpha_reg", -1e-3),
        ("init_mean", (1.0,)),
        ("init_std", (1.0, -0.1)),
        ("t_code", 40.0),
    ],
)
def test_bad_config_fields_are_named(field, value):
    with pytest.raises(ValueError, match=rf"EventPropConfig\.{field}"):
        EventPropConfig(**{field: value})


def test_unknown_config_field_is_listed():
    with pytest.raises(ValueError, match="unknown EventPropConfig field"):
        EventPropConfig.from_dict({"tau_m": 3})


def test_latency_code_one_spike_per_channel_bias_at_step_zero():
    c = EventPropConfig()
    features, _ = yinyang(50, 1)
    raster = encode(features, c)
    assert raster.shape == (50, c.n_steps, 5)
    assert np.all(raster.sum(axis=1) == 1)
    assert np.all(raster[:, 0, 4] == 1)
    steps = spike_steps(features, c)
    np.testing.assert_array_equal(steps[:, :4], np.rint(features * c.t_code / c.dt))
    assert steps[:, :4].max() <= c.n_steps - 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encode(features * 2, c)
    with pytest.raises(ValueError, match="NaN"):
        encode(np.full((1, 4), np.nan), c)
    with pytest.raises(ValueError, match="shape"):
        encode(features[:, :3], c)


def test_silent_outputs_receive_no_error():
    c = EventPropConfig()
    first = np.array([[4, 30, 7], [30, 30, 30]])
    eps = output_errors(first, first * c.dt, np.array([1, 0]), c, batch_size=2)
    assert eps[0, 1] == 0 and np.all(eps[1] == 0)
    assert eps[0, 0] != 0 and eps[0, 2] != 0


def test_a_silent_label_output_gets_the_voltage_terms_source_only():
    c = EventPropConfig(alpha_silent=2.0)
    first = np.array([[4, 30, 7], [30, 30, 30]])
    values = output_errors(first, first * c.dt, np.array([1, 0]), c, batch_size=2)
    # Sample 0: label 1 is silent, so it gets alpha_silent / tau_mem / B; the spiking outputs their errors.
    assert values[0, 1] == pytest.approx(2.0 / c.tau_mem / 2)
    assert values[0, 0] != 0 and values[0, 2] != 0
    # Sample 1: all silent; only the label output 0 gets the source.
    assert values[1, 0] == pytest.approx(2.0 / c.tau_mem / 2) and np.all(values[1, 1:] == 0)


def test_silent_output_weights_get_no_gradient_from_the_loss():
    c = EventPropConfig(sizes=(5, 20, 3), init_mean=(1.5, 0.6), init_std=(0.8, 0.3))
    params = pa.init_eventprop_params(c, 0)
    params["w_1"][:, 1] = -1.0  # output 1 can never spike
    features, labels = yinyang(8, 3)
    grads, _, first = pa.eventprop_gradients(params, encode(features, c), labels, c)
    assert np.all(first[:, 1] == c.n_steps)
    assert np.all(grads["w_1"][:, 1] == 0)
    assert np.abs(grads["w_1"]).max() > 0


def test_an_input_spike_at_the_last_step_changes_nothing():
    c = EventPropConfig(sizes=(5, 20, 3), init_mean=(1.5, 0.6), init_std=(0.8, 0.3))
    params = pa.init_eventprop_params(c, 1)
    features, labels = yinyang(6, 4)
    raster = encode(features, c)
    late = raster.copy()
    late[:, -1, :] = 1
    a = pa.eventprop_gradients(params, raster, labels, c)
    b = pa.eventprop_gradients(params, late, labels, c)
    for key in params:
        np.testing.assert_array_equal(a[0][key], b[0][key])
    assert a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])


def test_bad_inputs_give_clear_errors():
    c = EventPropConfig(sizes=(5, 8, 3))
    params = pa.init_eventprop_params(c, 0)
    raster = encode(yinyang(4, 0)[0], c)
    labels = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match="binary raster"):
        pa.eventprop_gradients(params, raster * 0.5, labels, c)
    nan = raster.copy()
    nan[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="binary raster"):
        pa.eventprop_gradients(params, nan, labels, c)
    with pytest.raises(ValueError, match="shape"):
        pa.eventprop_gradients(params, raster[:, :, :4], labels, c)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        pa.eventprop_gradients(params, raster, np.array([0, 1, 2, 3]), c)
    with pytest.raises(ValueError, match="labels must be 4 integers"):
        pa.eventprop_gradients(params, raster, np.array([0.0, 1, 2, 0]), c)
    with pytest.raises(ValueError, match="keyed w_0"):
        pa.eventprop_gradients({"w_in": params["w_0"]}, raster, labels)
    with pytest.raises(ValueError, match="do not chain"):
        pa.eventprop_gradients({"w_0": params["w_0"], "w_1": np.zeros((7, 3))}, raster, labels)
    with pytest.raises(ValueError, match="NaN or Inf"):
        pa.eventprop_gradients({"w_0": params["w_0"] * np.nan, "w_1": params["w_1"]}, raster, labels, c)
    with pytest.raises(ValueError, match="engine must be one of"):
        pa.eventprop_gradients(params, raster, labels, c, engine="gpu")
