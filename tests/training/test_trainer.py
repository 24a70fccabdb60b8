"""The training loop, the BPTT engine, resume from a checkpoint and engine independence."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

from pe_actors import InProcessEngine, NetworkConfig, OptimiserConfig, init_params
from pe_actors.core.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from pe_actors.rules.eprop.bptt_engine import BPTTEngine
from pe_actors.training.trainer import (
    Callback,
    CheckpointCallback,
    MetricsLog,
    Recovered,
    Recovery,
    Splits,
    TrainConfig,
    Trainer,
    TrainState,
    evaluate,
    resume_state,
)

CONFIG = NetworkConfig(n_in=6, n_rec=10, n_out=3, n_steps=20)
OPTIMISER = OptimiserConfig(lr=0.02, l2=1e-4, lr_decay=0.5, decay_every=2)


def make_split(n: int, seed: int, signal: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs where class c drives input channels 2c and 2c + 1 harder."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CONFIG.n_out, n)
    x = rng.random((n, CONFIG.n_steps, CONFIG.n_in))
    for i, label in enumerate(labels):
        x[i, :, 2 * label : 2 * label + 2] += signal
    return x.astype(np.float32), labels


def make_data(n_train: int = 30, signal: float = 3.0) -> Splits:
    return Splits(make_split(n_train, 1, signal), make_split(12, 2, signal), make_split(12, 3, signal))


def make_engine(kind: str = "inprocess", dtype: type = np.float64):
    params = init_params(CONFIG, seed=5, dtype=dtype)
    if kind == "bptt":
        return BPTTEngine(CONFIG, params, OPTIMISER)
    if kind == "replay":
        replay = pytest.importorskip("pe_actors.rules.eprop.replay")
        return replay.ReplayEngine(CONFIG, params, OPTIMISER)
    return InProcessEngine(CONFIG, params, OPTIMISER, n_pes=2, sub_batch=2)


class Crash(Callback):
    """Raises after a given number of batches, standing in for a killed training process."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.batches = 0

    def on_batch_end(self, trainer, state, batch) -> None:
        self.batches += 1
        if self.batches == self.after:
            raise KeyboardInterrupt


def without_timing(history: list[dict]) -> list[dict]:
    """Epoch records without the wall-clock throughput, which differs between runs."""
    return [{key: value for key, value in record.items() if key != "train_samples_per_s"} for record in history]


def assert_states_close(a: dict, b: dict, atol: float) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=atol, rtol=0, err_msg=key)


def test_trainer_learns_above_chance_and_logs_epochs(tmp_path):
    data = make_data(n_train=36, signal=1.5)
    engine = make_engine(dtype=np.float32)
    config = TrainConfig(epochs=3, batch_size=4, seed=0, log_every=2)
    before = evaluate(engine, *data.test)["accuracy"]
    state = Trainer(engine, data, OPTIMISER, config, [MetricsLog(tmp_path / "metrics.jsonl", 2)]).fit()
    assert len(state.history) == 3
    assert state.global_samples == 3 * 36
    last = state.history[-1]
    assert last["test_accuracy"] >= 0.75 > before
    assert last["train_loss"] < state.history[0]["train_loss"]
    assert [h["lr"] for h in state.history] == pytest.approx([0.02, 0.02, 0.01])
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    batches = [r for r in records if r["kind"] == "batch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert epochs[-1]["test_accuracy"] == last["test_accuracy"]
    assert len(batches) == 3 * (9 // 2)  # windows do not span epochs
    assert all(0 <= r["accuracy"] <= 1 and r["loss"] > 0 and r["samples_per_s"] > 0 for r in batches)


def test_max_samples_limits_each_epoch_and_shuffles_differently():
    data = make_data(n_train=30)
    orders = []

    class Orders(Callback):
        def on_epoch_begin(self, trainer, state) -> None:
            orders.append(state.order.copy())

    trainer = Trainer(make_engine(), data, OPTIMISER, TrainConfig(epochs=2, batch_size=4, max_samples=10), [Orders()])
    state = trainer.fit()
    assert state.global_samples == 20
    assert [len(order) for order in orders] == [10, 10]
    assert len(set(orders[0])) == 10 and not np.array_equal(orders[0], orders[1])


@pytest.mark.parametrize("crash_after", [4, 8])
def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(tmp_path, crash_after):
    """Crash mid-epoch (after batch 4) and right after an epoch end (batch 8 of 8 per epoch), resume from the
    latest checkpoint with a fresh engine: the final state equals the uninterrupted run's."""
    data = make_data(n_train=30)
    config = TrainConfig(epochs=3, batch_size=4, seed=7)
    reference = Trainer(make_engine(dtype=np.float32), data, OPTIMISER, config)
    reference_state = reference.fit()

    root = tmp_path / "checkpoints"
    crashing = Trainer(
        make_engine(dtype=np.float32), data, OPTIMISER, config, [CheckpointCallback(root, every=6), Crash(crash_after)]
    )
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    checkpoint = latest_checkpoint(root)
    assert checkpoint is not None
    engine = make_engine(dtype=np.float32)
    trainer = Trainer(engine, data, OPTIMISER, config)
    state = resume_state(trainer, checkpoint)
    assert 0 < state.global_samples < 90
    final = trainer.fit(state)
    assert final.global_samples == 90
    assert_states_close(engine.state(), reference.engine.state(), atol=1e-6)
    assert without_timing(final.history) == without_timing(reference_state.history)


def test_checkpoint_callback_interval_epoch_end_and_retention(tmp_path):
    data = make_data(n_train=30)
    root = tmp_path / "checkpoints"
    callback = CheckpointCallback(root, every=8, keep_last=2, meta={"run_config": {"lr": 0.02}})
    Trainer(make_engine(), data, OPTIMISER, TrainConfig(epochs=2, batch_size=4), [callback]).fit()
    kept = list_checkpoints(root)
    assert 2 <= len(kept) <= 3
    latest = load_checkpoint(kept[-1])
    assert latest.meta["epoch"] == 2 and latest.meta["position"] == 0 and latest.meta["global_samples"] == 60
    assert latest.meta["run_config"] == {"lr": 0.02}
    assert latest.trainer_arrays == {}
    assert sorted(latest.engine_state) == sorted(make_engine().state())


def test_resume_rejects_a_different_epoch_size(tmp_path):
    data = make_data(n_train=30)
    root = tmp_path / "checkpoints"
    config = TrainConfig(epochs=1, batch_size=4)
    with pytest.raises(KeyboardInterrupt):
        Trainer(make_engine(), data, OPTIMISER, config, [CheckpointCallback(root, every=4), Crash(3)]).fit()
    other = Trainer(make_engine(), data, OPTIMISER, TrainConfig(epochs=1, batch_size=4, max_samples=12))
    with pytest.raises(ValueError, match="samples per epoch"):
        resume_state(other, latest_checkpoint(root))


def test_bptt_engine_matches_eprop_engine_over_updates():
    """The BPTT and e-prop engines take the same ADAM/L2 steps from gradients equal to rounding (float64)."""
    x, labels = make_split(8, 11)
    eprop, bptt = make_engine("inprocess"), make_engine("bptt")
    for step in range(3):
        batch = slice(4 * (step % 2), 4 * (step % 2) + 4)
        result_e = eprop.train_batch(x[batch], labels[batch], 0.01)
        result_b = bptt.train_batch(x[batch], labels[batch], 0.01)
        np.testing.assert_allclose(result_e.loss, result_b.loss, rtol=1e-10)
    assert_states_close(eprop.state(), bptt.state(), atol=1e-10)
    np.testing.assert_allclose(eprop.predict(x), bptt.predict(x), atol=1e-10)
    assert np.all(np.diag(bptt.params()["w_rec"]) == 0)


def test_bptt_engine_state_round_trip_and_errors():
    x, labels = make_split(4, 12)
    engine = make_engine("bptt")
    engine.train_batch(x, labels, 0.01)
    state = engine.state()
    assert int(state["adam_n"]) == 1
    other = make_engine("bptt")
    other.load_state(state)
    assert_states_close(other.state(), state, atol=0)
    in_process = make_engine("inprocess")
    in_process.load_state(state)
    assert_states_close(in_process.state(), state, atol=0)
    with pytest.raises(ValueError, match="m_w_out"):
        other.load_state({key: value for key, value in state.items() if key != "m_w_out"})
    with pytest.raises(ValueError, match="w_in"):
        other.load_state({**state, "w_in": np.zeros((2, 2))})


@pytest.mark.parametrize("kind", ["bptt", "replay"])
def test_training_does_not_depend_on_the_engine(kind):
    """Two epochs with the in-process PEs and with another engine end with the same weights (float64)."""
    data = make_data(n_train=16)
    config = TrainConfig(epochs=2, batch_size=4, seed=3)
    reference = make_engine("inprocess")
    Trainer(reference, data, OPTIMISER, config).fit()
    other = make_engine(kind)
    Trainer(other, data, OPTIMISER, config).fit()
    assert_states_close(other.state(), reference.state(), atol=1e-8)


class FlakyEngine:
    """An in-process engine whose ``fail_at``-th train_batch call raises; with ``lose_state`` the failure also
    wipes the weights first (a group lost with no replica), so only a checkpoint can repair it."""

    def __init__(self, fail_at: int, lose_state: bool) -> None:
        self.inner = make_engine(dtype=np.float32)
        self.calls = 0
        self.fail_at = fail_at
        self.lose_state = lose_state

    def train_batch(self, x, labels, lr):
        self.calls += 1
        if self.calls == self.fail_at:
            if self.lose_state:
                self.inner.load_state({key: np.zeros_like(v) for key, v in self.inner.state().items()})
            raise RuntimeError("PE g0-p01 died")
        return self.inner.train_batch(x, labels, lr)

    def predict(self, x):
        return self.inner.predict(x)

    def state(self):
        return self.inner.state()

    def load_state(self, state):
        self.inner.load_state(state)


class FromCheckpoint(Recovery):
    """Retries when the state survived, otherwise restores the latest checkpoint (as the actor recovery does)."""

    def __init__(self, root) -> None:
        self.root = root
        self.calls = 0

    def recover(self, trainer, state, error):
        self.calls += 1
        if not trainer.engine.lose_state:
            return Recovered()
        checkpoint = load_checkpoint(latest_checkpoint(self.root))
        trainer.engine.load_state(checkpoint.engine_state)
        return Recovered(rewind_to=checkpoint)


@pytest.mark.parametrize("lose_state", [False, True])
def test_recovery_retries_or_rewinds_without_losing_or_repeating_updates(tmp_path, lose_state):
    data = make_data(n_train=30)
    config = TrainConfig(epochs=2, batch_size=4, seed=2)
    reference = Trainer(make_engine(dtype=np.float32), data, OPTIMISER, config)
    reference_state = reference.fit()
    root = tmp_path / "checkpoints"
    engine = FlakyEngine(fail_at=11, lose_state=lose_state)
    log = MetricsLog(tmp_path / "metrics.jsonl", log_every=1)
    recovery = FromCheckpoint(root)
    trainer = Trainer(engine, data, OPTIMISER, config, [CheckpointCallback(root, every=12), log], recovery)
    state = trainer.fit()
    assert recovery.calls == 1
    assert_states_close(engine.state(), reference.engine.state(), atol=1e-6)
    assert without_timing(state.history) == without_timing(reference_state.history)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    batches = [record["global_samples"] for record in records if record["kind"] == "batch"]
    assert batches == sorted(set(batches)) and len(batches) == 16  # the rewound batches are logged once


def test_recovery_gives_up_and_reraises():
    data = make_data(n_train=8)
    engine = FlakyEngine(fail_at=1, lose_state=False)
    engine.train_batch = lambda x, labels, lr: (_ for _ in ()).throw(RuntimeError("always"))

    class Always(Recovery):
        max_attempts = 2

        def __init__(self) -> None:
            self.calls = 0

        def recover(self, trainer, state, error):
            self.calls += 1
            return Recovered()

    recovery = Always()
    with pytest.raises(RuntimeError, match="always"):
        Trainer(engine, data, OPTIMISER, TrainConfig(batch_size=4), recovery=recovery).fit()
    assert recovery.calls == 2
    with pytest.raises(RuntimeError, match="always"):
        Trainer(engine, data, OPTIMISER, TrainConfig(batch_size=4)).fit()


def test_config_and_data_validation():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="max_samples"):
        TrainConfig(max_samples=0)
    data = make_data()
    with pytest.raises(ValueError, match="train features"):
        data.check(n_steps=21, n_in=6, n_out=3)
    with pytest.raises(ValueError, match="validation labels"):
        Splits(data.train, (data.validation[0], data.validation[1] + 5), data.test).check(20, 6, 3)
    with pytest.raises(ValueError, match="lacks the split"):
        Splits.from_dict({"train": data.train})
    assert TrainState.fresh(0).epoch == 0


@pytest.mark.ray
def test_killed_pe_actor_mid_epoch_is_rebuilt_and_training_ends_like_an_uninterrupted_run(tmp_path):
    """ray.kill one PE actor of group 1 (of 2) mid-epoch: the trainer's actor recovery rebuilds the group from
    the replicas, retries the batch, and the final weights equal an uninterrupted in-process run."""
    ray = pytest.importorskip("ray")
    from pe_actors.engines.actors import ActorEngine
    from pe_actors.run.training import ActorRecovery
    from pe_actors.runtime.cluster import start_ray
    from pe_actors.runtime.packets import actor_name

    data = make_data(n_train=16)
    config = TrainConfig(epochs=2, batch_size=4, seed=4)
    reference = Trainer(make_engine(dtype=np.float32), data, OPTIMISER, config)
    reference_state = reference.fit()

    started = not ray.is_initialized()
    start_ray(None, num_pe_slots=4, dashboard_port=0)
    params = init_params(CONFIG, seed=5, dtype=np.float32)
    # A barrier timeout far longer than a recovery takes: the surviving PEs of the broken group must not sit it out.
    engine = ActorEngine(CONFIG, params, OPTIMISER, n_pes=2, n_groups=2, sub_batch=2, barrier_timeout_s=300.0)
    killed_at = []

    class Kill(Callback):
        def on_batch_end(self, trainer, state, batch) -> None:
            if state.global_samples == 8:
                ray.kill(ray.get_actor(actor_name(1, 1), namespace=engine.namespace))
                killed_at.append(time.monotonic())

    messages = []

    class Messages(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append((time.monotonic(), record.getMessage()))

    handler = Messages()
    logging.getLogger("pe_actors").addHandler(handler)
    try:
        recovery = ActorRecovery(tmp_path / "checkpoints")
        state = Trainer(engine, data, OPTIMISER, config, [Kill()], recovery).fit()
        assert len(messages) == 1
        recovered_at, text = messages[0]
        assert len(text.strip().splitlines()) == 1, text
        assert "pe-g1-p01" in text and "rebuilt group(s) [1] from the surviving replicas" in text
        # Not a speed target: a recovery that waited for the barrier timeout would take 300 s.
        assert recovered_at - killed_at[0] < 60, recovered_at - killed_at[0]
        assert_states_close(engine.state(), reference.engine.state(), atol=1e-5)
        assert [h["test_accuracy"] for h in state.history] == [h["test_accuracy"] for h in reference_state.history]
    finally:
        logging.getLogger("pe_actors").removeHandler(handler)
        engine.shutdown()
        if started:
            ray.shutdown()
