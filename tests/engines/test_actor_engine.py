"""The Ray actor engine against the in-process engine, replica identity, a killed peer, and recovery.

Small network (8/12/3, T = 20), P = 3 PEs, G = 2 groups, k = 2: at most 6 actors at a time on 2 cores.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import pe_actors as pa  # noqa: E402
from pe_actors.engines.actors import ActorEngine  # noqa: E402
from pe_actors.runtime.cluster import PEGroupError  # noqa: E402
from pe_actors.runtime.mailbox import mailbox_path  # noqa: E402
from pe_actors.runtime.packets import actor_name  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

CONFIG = pa.NetworkConfig(n_in=8, n_rec=12, n_out=3, n_steps=20)
OPTIMISER = pa.OptimiserConfig(lr=0.01)
LR = 0.01


def batches(n_batches: int, size: int, seed: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.random((size, CONFIG.n_steps, CONFIG.n_in)) * 3).astype(np.float32),
            rng.integers(0, CONFIG.n_out, size),
        )
        for _ in range(n_batches)
    ]


def assert_states_close(got: dict, want: dict, tol: float = 1e-6) -> None:
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=tol, atol=tol, err_msg=key)


def kill(engine: ActorEngine, group: int, pe: int) -> None:
    ray.kill(ray.get_actor(actor_name(group, pe), namespace=engine.namespace))


@pytest.mark.parametrize("transport", ["shm", "ray"])
def test_actor_engine_equals_in_process_engine(transport):
    params = pa.init_params(CONFIG, 1, np.float32)
    reference = pa.InProcessEngine(CONFIG, params, OPTIMISER, n_pes=3, sub_batch=2)
    engine = ActorEngine(CONFIG, params, OPTIMISER, n_pes=3, n_groups=2, sub_batch=2, transport=transport)
    try:
        # The last batch holds 3 samples: group 1 runs a sub-batch of one.
        for x, labels in batches(2, 4) + batches(1, 3, seed=9):
            want = reference.train_batch(x, labels, LR)
            got = engine.train_batch(x, labels, LR)
            for field in ("logits", "loss"):
                np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-6, atol=1e-6)
        assert_states_close(engine.state(), reference.state())
        # Every replica took the same ADAM steps from the same averaged gradients: identical bits.
        replicas = [engine.replica_state(g) for g in range(2)]
        for key in replicas[0]:
            np.testing.assert_array_equal(replicas[0][key], replicas[1][key], err_msg=key)
        assert int(replicas[0]["adam_n"]) == 3
        x, _ = batches(1, 5, seed=11)[0]
        np.testing.assert_allclose(engine.predict(x), reference.predict(x), rtol=1e-5, atol=1e-6)
        timing = engine.timing
        assert timing["step_ms"] > 0 and timing["samples_per_s"] > 0 and 0 <= timing["spikes_per_step"] <= 12
        names = {actor_name(g, p) for g in range(2) for p in range(3)}
        for name in names:
            assert ray.get_actor(name, namespace=engine.namespace)
    finally:
        engine.shutdown()
    assert not mailbox_path(engine.run_name, 0).exists()


def test_bad_arguments_raise_value_errors():
    params = pa.init_params(CONFIG, 1, np.float32)
    with pytest.raises(ValueError, match="transport must be one of"):
        ActorEngine(CONFIG, params, OPTIMISER, n_pes=3, transport="mpi")
    with pytest.raises(ValueError, match="need 1200 units"):
        ActorEngine(CONFIG, params, OPTIMISER, n_pes=12, n_groups=100).start()


def test_killed_peer_raises_a_clear_error_and_recovery_resumes_exactly():
    params = pa.init_params(CONFIG, 2, np.float32)
    data = batches(3, 4, seed=13)
    reference = pa.InProcessEngine(CONFIG, params, OPTIMISER, n_pes=3, sub_batch=2)
    for x, labels in data:
        reference.train_batch(x, labels, LR)
    engine = ActorEngine(CONFIG, params, OPTIMISER, n_pes=3, n_groups=2, sub_batch=2, barrier_timeout_s=3.0)
    try:
        engine.train_batch(*data[0], LR)
        kill(engine, 1, 2)
        outcome = {}

        def second_batch():
            try:
                engine.train_batch(*data[1], LR)
            except PEGroupError as error:
                outcome["error"] = error

        # A liveness bound, not a timing assertion: a hanging group would keep the thread alive.
        thread = threading.Thread(target=second_batch, daemon=True)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the engine hung after a PE actor was killed"
        error = outcome["error"]
        assert "pe-g1-p02" in str(error) and "group 1" in str(error)
        assert error.groups == [1]
        with pytest.raises(PEGroupError, match="call recover"):
            engine.train_batch(*data[1], LR)
        assert engine.recover() == [1]
        # The failed batch is retried: no update lost, none applied twice.
        for x, labels in data[1:]:
            engine.train_batch(x, labels, LR)
        assert_states_close(engine.state(), reference.state())
        replicas = [engine.replica_state(g) for g in range(2)]
        for key in replicas[0]:
            np.testing.assert_array_equal(replicas[0][key], replicas[1][key], err_msg=key)
    finally:
        engine.shutdown()


def test_a_lost_slice_without_replica_needs_a_checkpointed_state():
    params = pa.init_params(CONFIG, 3, np.float32)
    engine = ActorEngine(CONFIG, params, OPTIMISER, n_pes=3, n_groups=1, sub_batch=2, barrier_timeout_s=2.0)
    x, labels = batches(1, 2, seed=17)[0]
    try:
        engine.train_batch(x, labels, LR)
        checkpoint = engine.state()
        kill(engine, 0, 1)
        with pytest.raises(PEGroupError, match="pe-g0-p01"):
            engine.train_batch(x, labels, LR)
        with pytest.raises(ValueError, match=r"no surviving PE holds slice \d; pass recover\(state=...\)"):
            engine.recover()
        engine.recover(state=checkpoint)
        assert_states_close(engine.state(), checkpoint, tol=0)
        engine.train_batch(x, labels, LR)
        assert int(engine.state()["adam_n"]) == 2
    finally:
        engine.shutdown()


@pytest.mark.parametrize("transport", ["shm", "ray"])
def test_pcm_synapses_on_actors_read_the_in_process_weights(transport):
    """PCM synapses with drift compensation (the calibrate round goes through the transport): 2 groups of 3 PE
    actors end with the in-process engine's state, device state included, and count the same device writes."""
    synapses = pa.SynapseConfig(kind="pcm", bits=4, drift_compensation=True, seed=4, sample_s=2.0)
    params = pa.init_params(CONFIG, 1, np.float64)
    reference = pa.InProcessEngine(CONFIG, params, OPTIMISER, n_pes=3, sub_batch=2, synapses=synapses)
    engine = ActorEngine(
        CONFIG, params, OPTIMISER, n_pes=3, n_groups=2, sub_batch=2, transport=transport, synapses=synapses
    )
    try:
        for x, labels in batches(2, 4):
            want = reference.train_batch(x.astype(np.float64), labels, LR)
            got = engine.train_batch(x.astype(np.float64), labels, LR)
            np.testing.assert_allclose(got.logits, want.logits, rtol=0, atol=1e-12)
        assert_states_close(engine.state(), reference.state(), tol=1e-12)
        assert engine.writes == reference.writes > 0
        engine.advance(3600.0)
        reference.advance(3600.0)
        x, _ = batches(1, 3, seed=11)[0]
        np.testing.assert_allclose(engine.predict(x), reference.predict(x), rtol=0, atol=1e-12)
    finally:
        engine.shutdown()
