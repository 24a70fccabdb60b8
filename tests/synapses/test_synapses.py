"""Synapse stores (docs/synapses.md): the digital store's numbers, quantised levels, the PCM device statistics
against the model's formulas on 10^5 devices, the same device weights and gradients on every engine and PE split,
checkpoint round trips of the device state, drift compensation, and bad values."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from pe_actors.core.checkpoint import load_checkpoint, save_checkpoint
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.engines.inprocess import InProcessEngine
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.gradients import eprop_gradients, init_params
from pe_actors.rules.eprop.replay import ReplayEngine
from pe_actors.synapses import PCMModel, SynapseConfig
from pe_actors.synapses.pcm.model import T0_S, T_READ_S

CONFIG = NetworkConfig(n_in=6, n_rec=10, n_out=3, n_steps=25)
N_DEVICES = 100_000


def batches(n_batches: int = 3, size: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.random((n_batches, size, CONFIG.n_steps, CONFIG.n_in)) < 0.25).astype(np.float64)
    return x, rng.integers(0, CONFIG.n_out, (n_batches, size))


def inprocess(synapses: SynapseConfig, n_pes: int = 1, sub_batch: int | None = None) -> InProcessEngine:
    params = init_params(CONFIG, seed=0, dtype=np.float64)
    return InProcessEngine(CONFIG, params, OptimiserConfig(), n_pes=n_pes, sub_batch=sub_batch, synapses=synapses)


def read_weights(engine: InProcessEngine) -> dict[str, np.ndarray]:
    """The device weights the forward pass reads, as full matrices."""
    w = np.concatenate([pe.w for pe in engine.pes], axis=1)
    return {
        "w_in": w[: CONFIG.n_in],
        "w_rec": w[CONFIG.n_in :],
        "w_out": np.concatenate([pe.w_out for pe in engine.pes], axis=0),
    }


# -- digital -------------------------------------------------------------------------------------------------------


def test_digital_store_takes_the_adam_steps_written_out_here():
    """Two learning steps on the digital store equal e-prop gradients followed by ADAM (TF1 form) with L2, written
    out in this test, to float64 rounding; the forward pass reads the float arrays themselves."""
    opt = OptimiserConfig(lr=0.01, l2=1e-3)
    x, labels = batches(2)
    params = init_params(CONFIG, seed=0, dtype=np.float64)
    engine = InProcessEngine(CONFIG, params, opt, n_pes=2, sub_batch=4)
    assert all(pe.w is pe.store.shadow["w"] for pe in engine.pes)
    weights = {key: value.copy() for key, value in params.items()}
    m = {key: np.zeros_like(value) for key, value in weights.items()}
    v = {key: np.zeros_like(value) for key, value in weights.items()}
    for n in (1, 2):
        grads, _, _ = eprop_gradients(weights, x[n - 1], labels[n - 1], CONFIG)
        engine.train_batch(x[n - 1], labels[n - 1], opt.lr)
        for key in weights:
            g = grads[key] + 2 * opt.l2 * weights[key]
            if key == "w_rec":
                np.fill_diagonal(g, 0.0)
            m[key] = opt.beta1 * m[key] + (1 - opt.beta1) * g
            v[key] = opt.beta2 * v[key] + (1 - opt.beta2) * g * g
            rate = opt.lr * math.sqrt(1 - opt.beta2**n) / (1 - opt.beta1**n)
            weights[key] = weights[key] - rate * m[key] / (np.sqrt(v[key]) + opt.eps)
    state = engine.state()
    for key in weights:
        np.testing.assert_allclose(state[key], weights[key], rtol=0, atol=1e-13, err_msg=key)
    assert int(state["adam_n"]) == 2 and engine.writes is None
    assert not any(key.startswith(("level_", "g_", "clock")) for key in state)


# -- quantised -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantised_weights_lie_exactly_on_their_levels(bits):
    engine = inprocess(SynapseConfig(kind="quantised", bits=bits))
    x, labels = batches(3)
    writes = [engine.writes]
    for b in range(3):
        engine.train_batch(x[b], labels[b], 0.05)
        writes.append(engine.writes)
    state = engine.state()
    top = 2**bits - 1
    for key, weights in read_weights(engine).items():
        w_max = float(state[f"wmax_{key}"])
        steps = weights / (w_max / top)
        np.testing.assert_allclose(steps, np.rint(steps), rtol=0, atol=1e-9, err_msg=key)
        assert np.abs(np.rint(steps)).max() <= top
        levels = state[f"level_pos_{key}"] - state[f"level_neg_{key}"]
        np.testing.assert_array_equal(np.rint(steps), levels)
        shadow = state[key]
        assert np.abs(shadow).max() <= w_max
        np.testing.assert_array_equal(levels, np.rint(np.clip(shadow / w_max, -1, 1) * top).astype(int))
    assert np.all(np.diag(read_weights(engine)["w_rec"]) == 0.0)
    # The first programming writes every device of every synapse (both devices of a pair); later steps only the
    # devices whose level changed.
    synapses = CONFIG.n_in * CONFIG.n_rec + CONFIG.n_rec * (CONFIG.n_rec - 1) + CONFIG.n_rec * CONFIG.n_out
    assert writes[0] == 2 * synapses
    assert all(b >= a for a, b in zip(writes, writes[1:], strict=False))
    written = sum(int(state[f"writes_{s}_{k}"].sum()) for s in ("pos", "neg") for k in ("w_in", "w_rec", "w_out"))
    assert written == engine.writes


# -- the device model ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.1, 0.3, 0.6, 0.9])
def test_programming_noise_follows_the_polynomial(x):
    model = PCMModel(g_max=25.0)
    target = np.full(N_DEVICES, x * 25.0)
    g = model.program(target, np.random.default_rng(0))
    sigma = 0.26348 + 1.9650 * x - 1.1731 * x**2  # g_max / 25 = 1
    # The standard deviation of a sample standard deviation is sigma / sqrt(2 n); 5 of them.
    assert abs(g.std() - sigma) < 5 * sigma / math.sqrt(2 * N_DEVICES)
    assert abs(g.mean() - x * 25.0) < 5 * sigma / math.sqrt(N_DEVICES)
    doubled = PCMModel(g_max=50.0, prog_scale=0.5).program(np.full(N_DEVICES, x * 50.0), np.random.default_rng(0))
    assert abs(doubled.std() - sigma) < 5 * sigma / math.sqrt(2 * N_DEVICES)
    assert np.all(PCMModel(prog_scale=0.0).program(target, np.random.default_rng(1)) == target)


def folded_normal_mean_factor(mu: float, sigma: float, log_ratio: float) -> float:
    """E[exp(-|nu| L)] for nu ~ N(mu, sigma^2), by quadrature on a fine grid."""
    nu = np.linspace(mu - 10 * sigma, mu + 10 * sigma, 200_001)
    density = np.exp(-0.5 * ((nu - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return float(np.trapezoid(density * np.exp(-np.abs(nu) * log_ratio), nu))


@pytest.mark.parametrize("x", [0.05, 0.5, 1.0])
@pytest.mark.parametrize("t", [1.0, 3600.0, 86400.0 * 30])
def test_mean_drift_factor_follows_the_power_law(x, t):
    model = PCMModel()
    target = np.full(N_DEVICES, x * 25.0)
    nu = model.drift_exponents(target, np.random.default_rng(2))
    log_x = math.log(x)
    mu = min(max(-0.0155 * log_x + 0.0244, 0.049), 0.1)
    sigma = min(max(-0.0125 * log_x - 0.0059, 0.008), 0.045)
    factor = model.conductance(target, nu, t) / target
    ratio = math.log((t + T0_S) / T0_S)
    expected = folded_normal_mean_factor(mu, sigma, ratio)
    # Sampling error of the mean factor, from the sample itself.
    assert abs(factor.mean() - expected) < 5 * factor.std() / math.sqrt(N_DEVICES)
    assert np.all(model.conductance(target, nu, 0.0) == target)
    assert np.all(PCMModel(drift_scale=0.0).drift_exponents(target, np.random.default_rng(3)) == 0.0)


def rectified_normal_moments(m: float, s: float) -> tuple[float, float]:
    """Mean and standard deviation of max(0, X) for X ~ N(m, s^2)."""
    a = m / s
    cdf, pdf = 0.5 * (1 + math.erf(a / math.sqrt(2))), math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    mean = m * cdf + s * pdf
    second = (m * m + s * s) * cdf + m * s * pdf
    return mean, math.sqrt(second - mean * mean)


@pytest.mark.parametrize("x", [0.0005, 0.01, 0.2, 0.8])
@pytest.mark.parametrize("t", [0.0, 60.0, 86400.0])
def test_read_noise_standard_deviation(x, t):
    """Reads of devices at their target conductance: the spread of max(0, g + g Q_s sqrt(ln(...)) N(0, 1)), with
    Q_s capped at 0.2 for small targets (where the clipping at 0 matters, hence the rectified normal)."""
    model = PCMModel()
    g = x * 25.0
    target = np.full(N_DEVICES, g)
    reads = model.read(target, t, np.random.default_rng(4), target)
    q_s = min(0.2, 0.0088 / max(1e-3, x) ** 0.65)
    sigma = g * q_s * math.sqrt(math.log((t + T0_S + T_READ_S) / (2 * T_READ_S)))
    mean, spread = rectified_normal_moments(g, sigma)
    assert abs(reads.std() - spread) < 5 * spread / math.sqrt(2 * N_DEVICES)
    assert abs(reads.mean() - mean) < 5 * spread / math.sqrt(N_DEVICES)
    assert np.all(PCMModel(read_scale=0.0).read(target, t, np.random.default_rng(5), target) == target)


def test_model_takes_given_draws_and_refuses_bad_values():
    model = PCMModel()
    target = np.array([0.0, 12.5, 25.0])
    draws = np.array([-10.0, 0.5, 1.0])
    np.testing.assert_allclose(
        model.program(target, draws), np.maximum(0, target + model.programming_sd(target) * draws)
    )
    with pytest.raises(ValueError, match="standard normal draws have shape"):
        model.program(target, np.zeros(2))
    for name, value in (("g_max", 0.0), ("prog_scale", -1.0), ("drift_scale", float("nan")), ("read_scale", -0.1)):
        with pytest.raises(ValueError, match=f"PCMModel {name}"):
            PCMModel(**{name: value})


# -- PCM stores on every engine ------------------------------------------------------------------------------------


@pytest.mark.parametrize("compensation", [False, True])
def test_same_seed_same_device_weights_and_gradients_on_every_engine(compensation):
    """PCM synapses: in-process PEs with P = 1 and P = 3 (sub-batch 2) and the replay engine read the same device
    weights, compute the same gradients, and end with the same states; another seed reads other weights."""
    synapses = SynapseConfig(kind="pcm", bits=4, drift_compensation=compensation, seed=7, sample_s=5.0)
    x, labels = batches(3)
    opt = OptimiserConfig()
    engines = {
        "P1": inprocess(synapses),
        "P3": inprocess(synapses, n_pes=3, sub_batch=2),
        "replay": ReplayEngine(CONFIG, init_params(CONFIG, 0, np.float64), opt, synapses=synapses),
    }
    for b in range(3):
        grads = {}
        for name, engine in engines.items():
            g, result = engine.gradients(x[b], labels[b])
            grads[name] = g if name == "replay" else engine.group.gather_state(g)
            engine.train_batch(x[b], labels[b], 0.01)
        for name in ("P3", "replay"):
            for key in ("w_in", "w_rec", "w_out"):
                np.testing.assert_allclose(grads[name][key], grads["P1"][key], rtol=0, atol=1e-12, err_msg=name)
    states = {name: engine.state() for name, engine in engines.items()}
    for name in ("P3", "replay"):
        assert sorted(states[name]) == sorted(states["P1"])
        for key, value in states["P1"].items():
            np.testing.assert_allclose(states[name][key], value, rtol=0, atol=1e-12, err_msg=f"{name} {key}")
    np.testing.assert_allclose(engines["P3"].predict(x[0]), engines["P1"].predict(x[0]), rtol=0, atol=1e-12)
    assert float(states["P1"]["clock_s"]) == 3 * 6 * 5.0
    assert engines["P1"].writes == engines["replay"].writes
    other = inprocess(SynapseConfig(kind="pcm", bits=4, seed=8))
    assert not np.allclose(read_weights(other)["w_in"], read_weights(inprocess(synapses))["w_in"])


def test_pcm_reads_are_noisy_once_per_step_and_drift_with_time():
    # A clip range of 3 initial sd: the initial weights then use the upper levels too, where the noise is
    # smallest relative to the conductance.
    engine = inprocess(SynapseConfig(kind="pcm", bits=6, seed=1, clip_sd=3.0))
    quantised = inprocess(SynapseConfig(kind="quantised", bits=6, clip_sd=3.0))
    first = read_weights(engine)["w_in"].copy()
    x, _ = batches(1)
    engine.predict(x[0])
    np.testing.assert_array_equal(read_weights(engine)["w_in"], first)  # the same read within a step
    exact = read_weights(quantised)["w_in"]
    assert 0 < np.abs(first - exact).mean() < 0.2 * np.abs(exact).mean()
    engine.advance(86400.0)
    engine.predict(x[0])
    drifted = read_weights(engine)["w_in"]
    # Drift shrinks every conductance, so the weights shrink on average.
    assert np.abs(drifted).sum() < 0.95 * np.abs(first).sum()


def test_global_drift_compensation_undoes_the_mean_drift():
    """With drift alone, one day later: compensated weights are much closer to the programmed ones than
    uncompensated; without drift the gain is exactly 1."""
    plain = SynapseConfig(kind="pcm", bits=8, prog_noise=0.0, read_noise=0.0, seed=2, clip_sd=3.0)
    compensated = replace(plain, drift_compensation=True)
    x, _ = batches(1)
    errors, scales = {}, {}
    for name, synapses in (("plain", plain), ("compensated", compensated)):
        engine = inprocess(synapses, n_pes=2)
        programmed = {key: value.copy() for key, value in read_weights(engine).items()}
        engine.advance(86400.0)
        engine.predict(x[0])  # the calibrate round runs with the forward pass
        drifted = read_weights(engine)
        errors[name] = sum(np.abs(drifted[k] - programmed[k]).sum() for k in programmed)
        scales[name] = sum(np.abs(drifted[k]).sum() for k in programmed) / sum(
            np.abs(v).sum() for v in programmed.values()
        )
    assert errors["compensated"] < 0.25 * errors["plain"]
    assert scales["plain"] < 0.8 and abs(scales["compensated"] - 1) < 0.02
    still = inprocess(SynapseConfig(kind="pcm", bits=8, drift=0.0, read_noise=0.0, drift_compensation=True), 2)
    before = {key: value.copy() for key, value in read_weights(still).items()}
    still.advance(3600.0)
    still.predict(x[0])
    for key, value in read_weights(still).items():
        np.testing.assert_array_equal(value, before[key])


def test_device_state_round_trips_through_a_checkpoint(tmp_path):
    """Save a PCM engine's state, load it into a fresh engine (another PE split): the same state and, at the same
    device time, the same reads; a weights-only state is programmed onto the devices."""
    synapses = SynapseConfig(kind="pcm", bits=4, seed=3)
    engine = inprocess(synapses, n_pes=2, sub_batch=3)
    x, labels = batches(2)
    for b in range(2):
        engine.train_batch(x[b], labels[b], 0.01)
    path = save_checkpoint(tmp_path, "test", engine.state(), {}, {"synapses": synapses.to_dict()})
    restored = inprocess(synapses, n_pes=1)
    restored.load_state(load_checkpoint(path).engine_state)
    for key, value in engine.state().items():
        np.testing.assert_array_equal(restored.state()[key], value, err_msg=key)
    np.testing.assert_allclose(restored.predict(x[0]), engine.predict(x[0]), rtol=0, atol=1e-12)
    fresh = inprocess(synapses)
    fresh.load_state({key: engine.state()[key] for key in ("w_in", "w_rec", "w_out")})
    programmed = fresh.state()
    top = 2**4 - 1
    w_max = float(programmed["wmax_w_in"])
    expected = np.rint(np.clip(engine.state()["w_in"] / w_max, -1, 1) * top)
    np.testing.assert_array_equal(programmed["level_pos_w_in"] - programmed["level_neg_w_in"], expected)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"bits": 0}, "bits must be an integer in \\[1, 16\\]"),
        ({"bits": 17}, "bits must be an integer in \\[1, 16\\]"),
        ({"prog_noise": -1.0}, "prog_noise must be a finite number >= 0"),
        ({"read_noise": float("nan")}, "read_noise must be a finite number >= 0"),
        ({"g_max": 0.0}, "g_max must be a finite number > 0"),
        ({"kind": "memristor"}, "kind must be one of"),
    ],
)
def test_bad_synapse_settings_name_the_field(values, message):
    with pytest.raises(ValueError, match=f"SynapseConfig.{message}"):
        SynapseConfig(**values)


def test_device_time_cannot_run_backwards():
    engine = inprocess(SynapseConfig(kind="pcm"))
    for seconds in (-1.0, float("inf")):
        with pytest.raises(ValueError, match="device time can only advance"):
            engine.advance(seconds)


def test_draws_for_selected_devices_do_not_depend_on_the_split_of_neurons():
    """NeuronStreams.normals_where: a device gets the same draws whichever PE holds its neuron, two selections of
    one array draw different numbers, and a selection of nothing draws nothing."""
    from pe_actors.synapses.store import Layout, NeuronStreams

    rng = np.random.default_rng(0)
    shapes = {"w": (7, 6), "w_out": (6, 3)}  # neurons on axis 1 of w and axis 0 of w_out
    axes = {"w": 1, "w_out": 0}
    masks = [("w", rng.random((7, 6)) < 0.3), ("w_out", rng.random((6, 3)) < 0.5), ("w", rng.random((7, 6)) < 0.2)]

    def draws(neurons):
        layout = Layout(axes, {}, np.array(neurons))
        part = {n: tuple(len(neurons) if a == axes[n] else s for a, s in enumerate(shapes[n])) for n in shapes}
        streams = NeuronStreams(5, layout, part)
        cut = [(n, np.take(m, neurons, axis=axes[n])) for n, m in masks]
        return cut, streams.normals_where(1, 4, 9, [(n, np.flatnonzero(m)) for n, m in cut], 2)

    whole_masks, whole = draws(list(range(6)))
    for neurons in ([0, 1, 2], [3, 4, 5], [4], [5, 0]):
        cut, part = draws(neurons)
        for (name, mask), full, mine in zip(whole_masks, whole, part, strict=True):
            # The whole store's draws of these neurons' selected devices, in the part's array order.
            index = np.zeros(mask.shape, int) - 1
            index[mask] = np.arange(mask.sum())
            picked = np.take(index, neurons, axis=axes[name])
            np.testing.assert_array_equal(mine, full[:, picked[picked >= 0]])
    # The first and the third selection both hold some devices of w: each draws its own numbers for them.
    both = whole_masks[0][1] & whole_masks[2][1]
    assert both.any()
    first = whole[0][:, both[whole_masks[0][1]]]
    third = whole[2][:, both[whole_masks[2][1]]]
    assert not np.any(first == third)
    empty = [("w", np.zeros(0, np.int64)), ("w_out", np.zeros(0, np.int64))]
    streams = NeuronStreams(5, Layout(axes, {}, np.array([1])), {"w": (7, 1), "w_out": (1, 3)})
    assert [d.shape for d in streams.normals_where(1, 4, 9, empty, 2)] == [(2, 0), (2, 0)]


def test_noise_streams_draw_standard_normals():
    """The counter-based draws of 300,000 devices in two rows: mean 0 and variance 1 within their sampling error,
    the normal's tail fractions, rows uncorrelated, and other keys (step, purpose) other numbers."""
    from pe_actors.synapses.store import Layout, NeuronStreams

    streams = NeuronStreams(3, Layout({"w": 1}, {}, np.arange(1000)), {"w": (300, 1000)})
    z = streams.normals(2, 7, 11, (2,))["w"].astype(np.float64)
    n = z[0].size
    assert z.shape == (2, 300, 1000)
    for row in z:
        assert abs(row.mean()) < 5 / np.sqrt(n)
        assert abs(row.var() - 1) < 5 * np.sqrt(2 / n)
        assert abs(np.mean(np.abs(row) > 1.96) - 0.05) < 5 * np.sqrt(0.05 * 0.95 / n)
        assert abs(np.mean(np.abs(row) > 3.0) - 0.0027) < 5 * np.sqrt(0.0027 / n)
    assert abs(np.corrcoef(z[0].ravel(), z[1].ravel())[0, 1]) < 5 / np.sqrt(n)
    for other in (streams.normals(2, 8, 11, (2,))["w"], streams.normals(1, 7, 11, (2,))["w"]):
        assert abs(np.corrcoef(z.ravel(), other.ravel())[0, 1]) < 5 / np.sqrt(2 * n)


def test_drift_and_read_noise_agree_with_float64_formulas_at_every_age():
    """The model evaluates drift and read-noise growth in float32 for ages up to 1e30 s (within 1e-6 of the float64
    formulas) and in float64 beyond, where float32 would overflow (finite, equal to the formulas)."""
    from pe_actors.synapses.pcm.model import T0_S, T_READ_S, PCMModel

    model = PCMModel()
    rng = np.random.default_rng(1)
    g, nu = rng.uniform(1, 25, 1000), rng.uniform(0.0, 0.1, 1000)
    target = rng.uniform(0, 25, 1000)
    for scale in (0.0, 1.0, 1e4, 1e8, 1e35, 1e200):
        t = rng.uniform(0, 1, 1000) * scale
        want_g = g * ((t + T0_S) / T0_S) ** (-nu)
        q_s = np.minimum(0.2, 0.0088 / np.maximum(1e-3, target / model.g_max) ** 0.65)
        want_sd = want_g * q_s * np.sqrt(np.log((t + T0_S + T_READ_S) / (2 * T_READ_S)))
        got_g = model.conductance(g, nu, t)
        got_sd = model.read_sd(want_g, t, target)
        assert np.all(np.isfinite(got_g)) and np.all(np.isfinite(got_sd)), scale
        np.testing.assert_allclose(got_g, want_g, rtol=1e-6, err_msg=f"ages up to {scale:g} s")
        np.testing.assert_allclose(got_sd, want_sd, rtol=1e-6, err_msg=f"ages up to {scale:g} s")
