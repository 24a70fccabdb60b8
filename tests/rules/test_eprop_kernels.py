"""The compiled kernels (numba's, and the same loops compiled ahead of time in C) compute the same numbers as the
numpy reference forms (docs/eprop.md), and the two compiled ones agree to the last bit."""

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.core.partition import split_neurons
from pe_actors.rules.eprop import kernels
from pe_actors.rules.eprop.bptt import bptt_forward
from pe_actors.rules.eprop.master import reduce_outputs
from pe_actors.rules.eprop.neuron import surrogate
from pe_actors.rules.eprop.pe import KERNELS, PE, compiled_kernels_built, load_kernels
from pe_actors.rules.eprop.pe_group import run_forward
from pe_actors.rules.eprop.readout import filter_weights

GSC = pa.NetworkConfig()
TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}


def inputs(config, seed, batch, dtype):
    rng = np.random.default_rng(seed)
    params = pa.init_params(config, seed, dtype)
    x = (rng.random((batch, config.n_steps, config.n_in)) * 7.0).astype(dtype)
    return params, x, rng.integers(0, config.n_out, batch)


def run_group(config, params, x, labels, n_pes, kernel):
    pes = [PE(config, neurons, params, kernel=kernel) for neurons in split_neurons(config.n_rec, n_pes)]
    result = reduce_outputs(run_forward(pes, x), labels)
    return pes, [pe.gradients(result.error) for pe in pes]


#: The compiled kernels: the C one only where the install built it (scripts/setup.sh does; CI runs it).
COMPILED = ["numba", pytest.param("c", marks=pytest.mark.skipif(not compiled_kernels_built(), reason="not built"))]


@pytest.mark.parametrize("kernel", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n_pes", "k"), [(1, 1), (1, 5), (3, 4)])
def test_pe_compiled_kernel_equals_numpy(kernel, dtype, n_pes, k):
    config = GSC.with_sizes(n_steps=40)
    params, x, labels = inputs(config, n_pes + k, k, dtype)
    assert 0.005 < bptt_forward(params, x, config)["z"].mean() < 0.5
    reference, grads_ref = run_group(config, params, x, labels, n_pes, "numpy")
    fast, grads = run_group(config, params, x, labels, n_pes, kernel)
    for pe_ref, pe in zip(reference, fast, strict=True):
        # Same operations in the same order: the eligibility state agrees to the last bit.
        np.testing.assert_array_equal(pe.ea, pe_ref.ea)
        np.testing.assert_array_equal(pe.acc, pe_ref.acc)
    for grad_ref, grad in zip(grads_ref, grads, strict=True):
        for key in grad:
            assert grad[key].dtype == dtype
            scale = np.abs(grad_ref[key]).max()
            assert scale > 0
            np.testing.assert_allclose(grad[key], grad_ref[key], rtol=0, atol=TOLERANCE[dtype] * scale)


@pytest.mark.skipif(not compiled_kernels_built(), reason="the C kernels are not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_kernels_equal_numba_to_the_last_bit(dtype):
    config = GSC.with_sizes(n_steps=60)
    params, x, labels = inputs(config, 3, 6, dtype)
    numba, grads_numba = run_group(config, params, x, labels, 3, "numba")
    c, grads_c = run_group(config, params, x, labels, 3, "c")
    for pe_numba, pe_c, g_numba, g_c in zip(numba, c, grads_numba, grads_c, strict=True):
        np.testing.assert_array_equal(pe_c.ea, pe_numba.ea)
        np.testing.assert_array_equal(pe_c.acc, pe_numba.acc)
        for key in g_numba:
            np.testing.assert_array_equal(g_c[key], g_numba[key])


@pytest.mark.skipif(not compiled_kernels_built(), reason="the C kernels are not built")
def test_c_kernels_name_a_bad_argument():
    c = load_kernels("c")
    ea, row = np.zeros((2, 3, 4)), np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"gain_pre must have shape \(2, 3\), got \(2, 4\)"):
        c.adaptation_step(ea, row, row, row)
    with pytest.raises(ValueError, match="decay must have the dtype of ea"):
        c.adaptation_step(ea, row.astype(np.float32), np.zeros((2, 3)), row)
    with pytest.raises(ValueError, match="ea must be a C-contiguous, writable"):
        c.adaptation_step(ea.transpose(1, 0, 2), row, np.zeros((2, 3)), row)
    with pytest.raises(ValueError, match="out must be a 2-dimensional float32 or float64"):
        c.weighted_sum(ea, row, np.zeros((3, 4), np.int64))


def test_unknown_kernel_lists_the_valid_names():
    params = pa.init_params(GSC)
    with pytest.raises(ValueError, match=r"unknown PE kernel 'cuda'.*'c', 'numba', 'numpy'"):
        PE(GSC, slice(0, 10), params, kernel="cuda")
    assert KERNELS == ("c", "numba", "numpy")


@pytest.mark.parametrize("kernel", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_sum_equals_einsum(kernel, dtype):
    rng = np.random.default_rng(0)
    acc, signal = rng.standard_normal((6, 20, 7)).astype(dtype), rng.standard_normal((6, 7)).astype(dtype)
    expected = np.einsum("kij,kj->ij", acc, signal)
    out = np.empty((20, 7), dtype)
    load_kernels(kernel).weighted_sum(acc, signal, out)
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOLERANCE[dtype] * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_surrogate_inplace_equals_neuron_surrogate(dtype):
    u = np.linspace(-8, 8, 4001).astype(dtype)
    expected = surrogate(u)
    result = kernels.surrogate_inplace(u.copy())
    assert result.dtype == dtype
    np.testing.assert_allclose(result, expected, rtol=0, atol=TOLERANCE[dtype] * np.abs(expected).max())


def test_replay_forward_equals_bptt_forward():
    config = GSC.with_sizes(n_steps=50)
    params, x, _ = inputs(config, 1, 3, np.float64)
    record = bptt_forward(params, x, config)
    current = np.einsum("bti,ij->btj", x, params["w_in"])
    pre = np.zeros((3, config.n_steps, config.n_pre))
    psi = np.empty((3, config.n_steps, config.n_rec))
    zbar_sum = kernels.replay_forward(current, params["w_rec"], pre, psi, *_constants(config))
    z = record["z"].transpose(1, 0, 2)
    assert 0.005 < z.mean() < 0.5
    np.testing.assert_array_equal(pre[:, 1:, config.n_in :], z[:, :-1])
    assert not pre[:, 0].any()
    np.testing.assert_allclose(psi, record["psi"].transpose(1, 0, 2), rtol=1e-12)
    np.testing.assert_allclose(zbar_sum, record["zbar"].sum(axis=0), rtol=1e-12)
    logits = kernels.replay_forward(current, params["w_rec"], None, None, *_constants(config)) @ params["w_out"]
    np.testing.assert_allclose(logits / config.n_steps, record["logits"], rtol=1e-12)


def _constants(config):
    return config.alpha, config.rho, config.kappa, config.b0, config.beta


def test_replay_backward_equals_the_unrolled_sums():
    """M_j^s = (1 - alpha) L_j sum_(t>=s) alpha^(t-s) D_j^t with D_j^t = psi^t (c_t - beta (1-rho) Q^t) and Q^t
    written out as the sum over the future t' > t of c_t' psi^t' prod_(t<r<t') (rho - (1-rho) beta psi^r)."""
    config = pa.NetworkConfig(n_in=3, n_rec=4, n_out=2, n_steps=12)
    rng = np.random.default_rng(2)
    psi = rng.random((2, config.n_steps, config.n_rec)) * 0.4
    signal = rng.standard_normal((2, config.n_rec))
    c, alpha, rho, beta = filter_weights(config.kappa, config.n_steps), config.alpha, config.rho, config.beta
    steps = config.n_steps
    q = np.zeros_like(psi)
    for t in range(steps):
        for later in range(t + 1, steps):
            factor = np.prod(rho - (1 - rho) * beta * psi[:, t + 1 : later], axis=1)
            q[:, t] += c[later] * psi[:, later] * factor
    d = psi * (c[None, :, None] - beta * (1 - rho) * q)
    expected = np.zeros_like(psi)
    for s in range(steps):
        for t in range(s, steps):
            expected[:, s] += alpha ** (t - s) * d[:, t]
    expected *= (1 - alpha) * signal[:, None, :]
    result = psi.copy()
    kernels.replay_backward(result, signal, c, alpha, rho, beta)
    np.testing.assert_allclose(result, expected, rtol=1e-12)
