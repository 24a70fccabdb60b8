"""The runtime's pieces without Ray: msgpack packets, the shared-memory mailbox and its barrier, and PE actors
(the plain class) exchanging spikes through a mailbox in threads."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import uuid

import msgpack
import numpy as np
import pytest

import pe_actors as pa
from pe_actors.engines.inprocess import InProcessEngine
from pe_actors.rules.eprop.program import EpropGroup
from pe_actors.runtime.actor import PEActor
from pe_actors.runtime.mailbox import (
    BarrierTimeoutError,
    GroupAbortedError,
    GroupMailbox,
    mailbox_path,
    pipe_path,
    unlink_mailbox,
)
from pe_actors.runtime.packets import (
    PROTOCOL_VERSION,
    actor_name,
    pack_array,
    pack_metadata,
    pack_spikes,
    unpack_array,
    unpack_metadata,
    unpack_spikes,
)
from pe_actors.runtime.program import Channel

CONFIG = pa.NetworkConfig(n_in=8, n_rec=12, n_out=3, n_steps=20)


def spike_channels(sizes):
    """A group of len(sizes) PEs multicasting spikes to all, with an event channel from PE 0 to the others."""
    everyone = tuple(range(len(sizes)))
    return [
        Channel("spikes", "spikes", everyone, everyone, tuple(sizes)),
        Channel("events", "events", (0,), everyone[1:] or (0,), (sum(sizes),)),
        Channel("partials", "array", everyone, (0,), (3,) * len(sizes)),
    ]


@pytest.fixture
def mailbox_file():
    """A fresh mailbox path for one test, removed afterwards."""
    run = f"test-{uuid.uuid4().hex[:8]}"
    path = mailbox_path(run, 0)
    yield run, path
    unlink_mailbox(path, 4)


def test_spike_packet_round_trip():
    rng = np.random.default_rng(0)
    z = (rng.random((3, 11)) < 0.4).astype(np.float32)
    t, pe, back = unpack_spikes(pack_spikes(7, 2, z))
    assert (t, pe) == (7, 2)
    np.testing.assert_array_equal(back, z)
    # 11 neurons of 3 samples travel in 2 bytes per sample, not as floats.
    assert len(msgpack.unpackb(pack_spikes(7, 2, z))["bits"]) == 6


def test_array_and_metadata_packets_round_trip_and_reject_foreign_packets():
    error = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    back = unpack_array(pack_array("error", error), "error")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, error)
    assert unpack_metadata(pack_metadata({"run": "r", "sizes": [4, 4]})) == {"run": "r", "sizes": [4, 4]}
    with pytest.raises(ValueError, match="expected array packet 'partial'"):
        unpack_array(pack_array("error", error), "partial")
    future = msgpack.packb({"v": PROTOCOL_VERSION + 1, "kind": "array"})
    with pytest.raises(ValueError, match="version"):
        unpack_array(future, "error")
    with pytest.raises(ValueError, match="expected a 'spikes' packet"):
        unpack_spikes(pack_array("error", error))
    assert actor_name(3, 7) == "pe-g3-p07"


def test_mailbox_gathers_uneven_bit_packed_slices(mailbox_file):
    run, path = mailbox_file
    sizes = [5, 4, 9]
    mailbox = GroupMailbox.create(path, run, 0, 3, spike_channels(sizes), capacity=4, dtype=np.float64)
    other = GroupMailbox.attach(path, run, 0)
    rng = np.random.default_rng(2)
    z = (rng.random((3, sum(sizes))) < 0.5).astype(np.float64)
    bounds = np.cumsum([0, *sizes])
    for p in range(3):
        mailbox.post("spikes", p, 1, z[:, bounds[p] : bounds[p + 1]])
        mailbox.post("partials", p, 1, np.full((3, 3), float(p)))
    gathered = other.read("spikes", 1, 3)
    assert gathered.dtype == np.float64
    np.testing.assert_array_equal(gathered, z)
    assert [float(a[0, 0]) for a in other.read("partials", 1, 3)] == [0.0, 1.0, 2.0]
    mailbox.post("events", 0, 0, (np.array([2, 17, 40]), np.array([0.5, -1.0, 2.0])))
    ((indices, values),) = other.read("events", 0, 3)
    np.testing.assert_array_equal(indices, [2, 17, 40])
    np.testing.assert_array_equal(values, [0.5, -1.0, 2.0])
    with pytest.raises(ValueError, match="belongs to run"):
        GroupMailbox.attach(path, "another-run", 0)
    with pytest.raises(FileExistsError):
        GroupMailbox.create(path, run, 0, 3, spike_channels(sizes), capacity=4, dtype=np.float64)
    other.close()
    mailbox.unlink()
    mailbox.close()
    assert not path.exists() and not pipe_path(path, 0).exists()


def test_barrier_lets_no_thread_pass_before_all_arrive(mailbox_file):
    run, path = mailbox_file
    n_pes, rounds = 4, 50
    GroupMailbox.create(path, run, 0, n_pes, spike_channels([2] * n_pes), capacity=1, dtype=np.float32).close()
    log: list[tuple[int, int]] = []
    lock = threading.Lock()
    errors = []

    def member(pe: int) -> None:
        mailbox = GroupMailbox.attach(path, run, 0)
        try:
            for generation in range(1, rounds + 1):
                with lock:
                    log.append((generation, pe))
                mailbox.wait(pe, generation, timeout_s=30.0, where=f"round {generation}")
        except Exception as error:  # collected and re-raised by the test thread
            errors.append(error)
        finally:
            mailbox.close()

    threads = [threading.Thread(target=member, args=(p,)) for p in range(n_pes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    # Every PE logs round r only after all PEs logged round r - 1: the log is sorted by round.
    assert [g for g, _ in log] == sorted(g for g, _ in log)
    assert len(log) == n_pes * rounds


def _exchange_member(path: str, run: str, pe: int, rounds: int, sizes: list[int], queue) -> None:
    """One process of the exchange test: post round-dependent spikes, pass the barrier, check every peer's."""
    mailbox = GroupMailbox.attach(path, run, 0)
    bounds = np.cumsum([0, *sizes])
    bad = 0
    for t in range(rounds):
        mailbox.post("spikes", pe, t & 1, _round_spikes(t, sizes)[:, bounds[pe] : bounds[pe + 1]])
        mailbox.wait(pe, t + 1, timeout_s=60.0, where=f"step {t}")
        bad += not np.array_equal(mailbox.read("spikes", t & 1, 2), _round_spikes(t, sizes))
    mailbox.close()
    queue.put(bad)


def _round_spikes(t: int, sizes: list[int]) -> np.ndarray:
    return (np.random.default_rng(t).random((2, sum(sizes))) < 0.5).astype(np.float32)


def test_processes_exchange_spikes_through_the_barrier_without_mixing_steps(mailbox_file):
    run, path = mailbox_file
    sizes, rounds = [3, 9, 4, 4], 300
    mailbox = GroupMailbox.create(path, run, 0, len(sizes), spike_channels(sizes), capacity=2, dtype=np.float32)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    members = [
        context.Process(target=_exchange_member, args=(str(path), run, p, rounds, sizes, queue))
        for p in range(len(sizes))
    ]
    for member in members:
        member.start()
    mismatches = [queue.get(timeout=120) for _ in members]
    for member in members:
        member.join(timeout=30)
    mailbox.close()
    # Four processes on two cores: every PE read exactly the spikes of its own step, every step.
    assert mismatches == [0] * len(sizes)


def test_barrier_times_out_naming_the_missing_peer_and_aborts_the_others(mailbox_file):
    run, path = mailbox_file
    mailbox = GroupMailbox.create(path, run, 0, 3, spike_channels([2, 2, 2]), capacity=1, dtype=np.float32)
    mailbox.control[2] = 1  # PE 2 arrived; PE 1 never does
    with pytest.raises(BarrierTimeoutError, match=r"group 0: pe-g0-p00 waited 0.2 s at step 0 for pe-g0-p01"):
        mailbox.wait(0, 1, timeout_s=0.2, where="step 0")
    with pytest.raises(GroupAbortedError, match="PE pe-g0-p00 failed"):
        mailbox.wait(2, 1, timeout_s=5.0, where="step 0")
    mailbox.unlink()
    mailbox.close()


def _actor_group(params, n_pes, run, path, capacity):
    actors = []
    group = EpropGroup(CONFIG, n_pes)
    for p in range(n_pes):
        actor = PEActor(group, p, params, pa.OptimiserConfig(), run, 0, 30.0)
        actor.open_mailbox(str(path), run, p == 0, capacity)
        actors.append(actor)
    return actors


def _in_threads(calls):
    results, errors = [None] * len(calls), []

    def target(i, call):
        try:
            results[i] = call()
        except Exception as error:  # re-raised below
            errors.append(error)

    threads = [threading.Thread(target=target, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_pe_actors_over_shared_memory_match_the_in_process_engine(mailbox_file):
    # A short GIL switch interval lets the threads spinning at the barrier hand over quickly.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    run, path = mailbox_file
    params = pa.init_params(CONFIG, 3, np.float64)
    rng = np.random.default_rng(4)
    x = rng.random((3, CONFIG.n_steps, CONFIG.n_in)) * 3
    labels = rng.integers(0, CONFIG.n_out, 3)
    actors = _actor_group(params, 3, run, path, capacity=4)
    try:
        outputs = _in_threads([lambda a=a: a.run(x, labels) for a in actors])
        reference = InProcessEngine(CONFIG, params, pa.OptimiserConfig(), n_pes=3)
        grads, result = reference.gradients(x, labels)
        np.testing.assert_allclose(outputs[0][1]["logits"], result.logits, rtol=1e-12)
        assert outputs[1][1] is None
        for (grad, _, stats), want in zip(outputs, grads, strict=True):
            for key in want:
                np.testing.assert_allclose(grad[key] / len(x), want[key], rtol=1e-10, atol=1e-14)
            assert stats["steps"] == CONFIG.n_steps and stats["samples"] == 3
        logits = _in_threads([lambda a=a: a.predict(x) for a in actors])
        np.testing.assert_allclose(logits[0], reference.predict(x), rtol=1e-12)
    finally:
        sys.setswitchinterval(interval)
        for actor in actors:
            actor.close_mailbox()
    assert not path.exists()


def test_mailboxes_of_dead_runs_are_found_and_removed(tmp_path, mailbox_file):
    import subprocess

    from pe_actors.runtime.mailbox import remove_stale_mailboxes

    run, path = mailbox_file
    live = GroupMailbox.create(path, run, 0, 2, spike_channels([2, 2]), capacity=1, dtype=np.float32)
    # A mailbox whose creating PE process has exited, as a SIGKILLed driver's actors leave it.
    dead_path = mailbox_path(f"{run}-dead", 0)
    child = subprocess.run(
        [sys.executable, "-c", (
            "import numpy as np, sys; sys.path.insert(0, '.');"
            "from pe_actors.runtime.mailbox import GroupMailbox; from pe_actors.runtime.program import Channel;"
            f"GroupMailbox.create({str(dead_path)!r}, {run + '-dead'!r}, 0, 2, "
            "[Channel('s', 'spikes', (0, 1), (0, 1), (2, 2))], 1, np.float32)"
        )],
        check=True,
    )
    assert child.returncode == 0 and dead_path.exists() and pipe_path(dead_path, 1).exists()
    removed = remove_stale_mailboxes()
    assert dead_path in removed and not dead_path.exists() and not pipe_path(dead_path, 1).exists()
    assert path.exists(), "a live run's mailbox stays"
    live.unlink()
    live.close()
