"""EventProp gradients (docs/eventprop.md) against an independent dense implementation written here with plain
loops, and their convergence to the continuous-time gradient as dt -> 0."""

import math

import numpy as np
import pytest

from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.rules.eventprop.encoding import encode
from pe_actors.rules.eventprop.gradients import eventprop_gradients
from pe_actors.rules.eventprop.network import init_eventprop_params
from pe_actors_datasets.yinyang import yinyang


def dense_reference(params, spikes, labels, c):
    """Forward, loss and adjoint backward of the discretised LIF network, one sample and one neuron at a time."""
    n_layers = len(params)
    a, b = math.exp(-c.dt / c.tau_syn), math.exp(-c.dt / c.tau_mem)
    n_batch, n_steps, _ = spikes.shape
    grads = {key: np.zeros_like(value) for key, value in params.items()}
    losses, firsts, hidden_spikes = [], [], [0] * n_layers
    for k in range(n_batch):
        s = [spikes[k].astype(float)]
        cur, pre = [None], [None]
        for layer in range(1, n_layers + 1):
            w = params[f"w_{layer - 1}"]
            n = w.shape[1]
            cur_l, pre_l, spk_l = np.zeros((n_steps, n)), np.zeros((n_steps, n)), np.zeros((n_steps, n))
            V = [0.0] * n
            for i in range(1, n_steps):
                for j in range(n):
                    total = 0.0
                    for p in range(w.shape[0]):
                        total += s[layer - 1][i - 1, p] * w[p, j]
                    cur_l[i, j] = a * cur_l[i - 1, j] + total
                    pre_l[i, j] = b * V[j] + (1 - b) * cur_l[i, j]
                    if pre_l[i, j] > c.theta:
                        spk_l[i, j] = 1.0
                        V[j] = 0.0
                    else:
                        V[j] = pre_l[i, j]
            s.append(spk_l)
            cur.append(cur_l)
            pre.append(pre_l)
            hidden_spikes[layer - 1] += spk_l.sum()
        out = s[-1]
        n_out = out.shape[1]
        first = [next((i for i in range(n_steps) if out[i, q] == 1), n_steps) for q in range(n_out)]
        firsts.append(first)
        t = []
        for q, f in enumerate(first):
            if f == n_steps:
                t.append(n_steps * c.dt)
            elif c.loss_time == "crossing":
                before = pre[-1][f - 1, q] if f > 0 else 0.0  # no spike before f: V[f-1] = Vpre[f-1]
                t.append((f - 1 + (c.theta - before) / (pre[-1][f, q] - before)) * c.dt)
            else:
                t.append(f * c.dt)
        z = [math.exp(-tq / c.tau0) for tq in t]
        p = [zq / sum(z) for zq in z]
        y = labels[k]
        loss = -math.log(p[y]) + c.alpha_reg * (math.exp(t[y] / c.tau1) - 1)
        source = np.zeros((n_steps, n_out))
        if first[y] == n_steps:
            peak = max(range(n_steps), key=lambda i: (pre[-1][i, y], -i))  # the first step of the highest Vpre
            loss += c.alpha_silent * (c.theta - pre[-1][peak, y])
            source[peak, y] = c.alpha_silent / c.tau_mem / n_batch
        losses.append(loss)
        err = [None] * (n_layers + 1)
        err[n_layers] = np.zeros((n_steps, n_out))
        for q in range(n_out):
            if first[q] < n_steps:
                eps = ((q == y) - p[q]) / c.tau0 + (q == y) * c.alpha_reg / c.tau1 * math.exp(t[y] / c.tau1)
                err[n_layers][first[q], q] = eps / n_batch
        for layer in range(n_layers, 0, -1):
            w = params[f"w_{layer - 1}"]
            n_pre, n = w.shape
            src = source if layer == n_layers else np.zeros((n_steps, n))
            if layer < n_layers:  # the hidden voltage terms: each hidden neuron silent, or too busy, on this sample
                for j in range(n):
                    if not s[layer][:, j].any():
                        peak = max(range(n_steps), key=lambda i, j=j: (pre[layer][i, j], -i))
                        src[peak, j] = c.alpha_hidden / (n * c.tau_mem * n_batch)
                    if s[layer][:, j].sum() > c.rate_upper * n_steps * c.dt / 1000.0:
                        src[:, j] -= c.alpha_rate / (n * n_steps * c.tau_mem * n_batch)
                        err[layer][:, j] += s[layer][:, j] * c.alpha_rate * c.theta / (n * n_batch * n_steps * c.dt)
            lv, li = list(src[n_steps - 1]), [0.0] * n
            err[layer - 1] = np.zeros((n_steps, n_pre))
            for i in range(n_steps - 2, -1, -1):
                for p_ in range(n_pre):
                    if s[layer - 1][i, p_]:
                        err[layer - 1][i, p_] = sum((lv[j] - li[j]) * w[p_, j] for j in range(n))
                new_li = [a * li[j] + (1 - a) * lv[j] for j in range(n)]
                new_lv = []
                for j in range(n):
                    jump = 0.0
                    if s[layer][i + 1, j]:
                        jump = (lv[j] + err[layer][i + 1, j]) / (cur[layer][i + 1, j] - pre[layer][i + 1, j] + 1e-10)
                    new_lv.append(b * lv[j] + jump + src[i, j])
                li, lv = new_li, new_lv
                for p_ in range(n_pre):
                    if s[layer - 1][i, p_]:
                        for j in range(n):
                            grads[f"w_{layer - 1}"][p_, j] -= c.tau_syn * li[j]
    return grads, float(np.mean(losses)), np.array(firsts), hidden_spikes


def yinyang_batch(config, n, seed=0):
    features, labels = yinyang(n, 100 + seed)
    return encode(features, config), labels


CASES = {
    "yinyang-small": EventPropConfig(sizes=(5, 12, 3)),
    "three-layers": EventPropConfig(sizes=(5, 9, 7, 3), init_mean=(1.5, 1.5, 1.5), init_std=(0.8, 0.5, 0.5)),
    # The recipe's loss: crossing times, and the voltage term of silent label outputs (output weights weak
    # enough that some label outputs stay silent).
    "crossing-silent": EventPropConfig(
        sizes=(5, 12, 3), t_code=27.0, init_mean=(1.5, 1.0), init_std=(0.8, 0.4), loss_time="crossing",
        alpha_silent=1.0,
    ),
    # The hidden voltage term too, in two hidden layers (weak enough that some hidden neurons stay silent).
    "hidden-silent": EventPropConfig(
        sizes=(5, 9, 7, 3), t_code=27.0, init_mean=(1.5, 2.0, 1.5), init_std=(0.8, 0.6, 0.5), loss_time="crossing",
        alpha_silent=1.0, alpha_hidden=0.5,
    ),
    # The rate term as well: neurons with two or more spikes in the 30-ms trial are above 40 per second.
    "hidden-rate": EventPropConfig(
        sizes=(5, 9, 7, 3), t_code=27.0, init_mean=(1.5, 2.0, 1.5), init_std=(0.8, 0.6, 0.5), loss_time="crossing",
        alpha_silent=1.0, alpha_hidden=0.5, alpha_rate=2.0, rate_upper=40.0,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_offchip_equals_dense_reference(name, seed):
    config = CASES[name]
    params = init_eventprop_params(config, seed)
    spikes, labels = yinyang_batch(config, 6, seed)
    grads, loss, first = eventprop_gradients(params, spikes, labels, config)
    reference, ref_loss, ref_first, layer_spikes = dense_reference(params, spikes, labels, config)
    assert all(count > 0 for count in layer_spikes), f"a layer is silent: {layer_spikes}"
    assert (first < config.n_steps).any()
    if config.alpha_silent:
        label_silent = first[np.arange(len(labels)), labels] == config.n_steps
        assert label_silent.any() and not label_silent.all(), "the case must exercise the voltage term"
    if config.alpha_hidden:
        from pe_actors.rules.eventprop.network import forward

        for _, _, hidden in forward(params, spikes.astype(float), config)[:-1]:
            silent = ~hidden.any(axis=1)
            assert silent.any() and not silent.all(), "the case must exercise the hidden voltage term"
    np.testing.assert_array_equal(first, ref_first)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for key in params:
        assert grads[key].dtype == np.float64 and grads[key].shape == params[key].shape
        assert np.abs(reference[key]).max() > 0, key
        scale = np.abs(reference[key]).max()
        assert np.abs(grads[key] - reference[key]).max() <= 1e-10 * scale, key


def interpolated_loss(params, spikes, labels, config):
    """Mean loss from output crossing times interpolated linearly within the crossing step (no gradient)."""
    from pe_actors.rules.eventprop.network import predict

    readout = predict(params, spikes, config)
    t = np.where(readout.first < config.n_steps, (readout.first - 1 + readout.fractions) * config.dt, config.duration)
    scores = -t / config.tau0
    log_p = scores - scores.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    t_y = t[rows, labels]
    return float(np.mean(-log_p[rows, labels] + config.alpha_reg * (np.exp(t_y / config.tau1) - 1)))


def test_gradients_converge_to_finite_differences_at_fine_dt():
    config = EventPropConfig(sizes=(5, 10, 3), init_mean=(1.5, 2.0), init_std=(0.8, 1.0)).with_dt(0.01)
    params = init_eventprop_params(config, 3)
    spikes, labels = yinyang_batch(config, 4, 7)
    grads, _, first = eventprop_gradients(params, spikes, labels, config)
    assert (first < config.n_steps).all(), "every output must spike for the loss to be smooth"
    # Hidden spikes move in whole steps of 0.01 ms, so the loss is a staircase in a hidden weight at the smallest
    # scales; a step of 2e-3 spans many of its stairs (output crossing times are interpolated, so for output
    # weights the same step is simply accurate). Weights with a small gradient sit in the staircase's noise.
    checked = check_against_central_differences(
        grads, params, lambda p: interpolated_loss(p, spikes, labels, config), {"w_1": 5e-3, "w_0": 5e-3}, seed=0
    )
    assert checked["w_0"] >= 3 and checked["w_1"] >= 3, checked


def check_against_central_differences(grads, params, loss, steps, seed):
    """Compare the largest gradient entries (above 0.3 of each matrix's largest) of up to 6 random weights per
    matrix with central differences of ``loss`` at step ``steps[key]``: same sign, within 15 %. Returns how many
    weights per matrix were compared (a zero quotient, a loss flat at that scale, is skipped)."""
    rng = np.random.default_rng(seed)
    checked = {key: 0 for key in steps}
    for key, h in steps.items():
        candidates = np.argwhere(np.abs(grads[key]) > 0.3 * np.abs(grads[key]).max())
        for index in map(tuple, rng.permutation(candidates)[:6]):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += h
            minus[key][index] -= h
            quotient = (loss(plus) - loss(minus)) / (2 * h)
            if quotient == 0:
                continue
            assert np.sign(quotient) == np.sign(grads[key][index]), (key, index, quotient, grads[key][index])
            assert abs(grads[key][index] - quotient) <= 0.15 * abs(quotient), (key, index, quotient, grads[key][index])
            checked[key] += 1
    return checked


def test_silent_label_voltage_term_converges_to_finite_differences_at_fine_dt():
    """With every output silent the loss is alpha_silent (theta - max_i Vpre_y[i]) per sample; its adjoint
    gradient matches central differences of that voltage term as dt -> 0."""
    from pe_actors.rules.eventprop.network import predict

    config = EventPropConfig(
        sizes=(5, 10, 3), init_mean=(1.5, 0.05), init_std=(0.8, 0.05), alpha_silent=1.0, loss_time="crossing"
    ).with_dt(0.01)
    params = init_eventprop_params(config, 3)
    spikes, labels = yinyang_batch(config, 4, 7)
    grads, loss, first = eventprop_gradients(params, spikes, labels, config)
    assert (first == config.n_steps).all(), "every output must stay silent"

    def voltage_loss(p):
        peaks = predict(p, spikes, config).peaks
        return float(np.mean(config.alpha_silent * (config.theta - peaks[np.arange(len(labels)), labels])))

    checked = check_against_central_differences(grads, params, voltage_loss, {"w_1": 1e-4, "w_0": 5e-3}, seed=1)
    assert checked["w_0"] >= 3 and checked["w_1"] >= 3, checked


def test_the_hidden_voltage_term_converges_to_finite_differences_at_fine_dt():
    """With the hidden voltage term the gradient is that of the loss plus alpha_hidden times the mean over the
    hidden neurons silent on a sample of (theta - their highest Vpre); it matches central differences of that sum
    as dt -> 0, also for the input weights of neurons that never spike (which the loss alone leaves at 0)."""
    from pe_actors.rules.eventprop.network import forward, hidden_voltage_term

    config = EventPropConfig(
        sizes=(5, 10, 3), init_mean=(1.5, 2.0), init_std=(0.8, 1.0), alpha_hidden=1.0
    ).with_dt(0.01)
    params = init_eventprop_params(config, 3)
    spikes, labels = yinyang_batch(config, 4, 7)
    grads, _, first = eventprop_gradients(params, spikes, labels, config)
    assert (first < config.n_steps).all(), "every output must spike for the loss to be smooth"
    silent = ~forward(params, spikes, config)[0][2].any(axis=1)
    assert silent.any() and not silent.all(), "some hidden neurons must stay silent"
    never = np.flatnonzero(silent.all(axis=0))
    assert len(never) and np.abs(grads["w_0"][:, never]).max() > 0, "a neuron that never spikes gets a gradient"

    def total(p):
        return interpolated_loss(p, spikes, labels, config) + float(
            np.mean(hidden_voltage_term(forward(p, spikes, config), config)))

    checked = check_against_central_differences(grads, params, total, {"w_1": 5e-3, "w_0": 5e-3}, seed=2)
    assert checked["w_0"] >= 3 and checked["w_1"] >= 3, checked
    # The input weights of a neuron that never spikes move only the hidden term (its voltage is smooth in them).
    compared = 0
    for j in never:
        for row in range(params["w_0"].shape[0]):
            if grads["w_0"][row, j] == 0:
                continue  # an input that never reaches it
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus["w_0"][row, j] += 1e-4
            minus["w_0"][row, j] -= 1e-4
            quotient = (total(plus) - total(minus)) / 2e-4
            assert grads["w_0"][row, j] == pytest.approx(quotient, rel=0.05), (row, j)
            compared += 1
    assert compared >= 3
