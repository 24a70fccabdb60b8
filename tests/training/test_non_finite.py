"""NaN and Inf never enter training or evaluation silently: inputs are checked where they enter, a non-finite loss
or gradient stops training with the batch named, and nothing after the last good checkpoint is written."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import pe_actors as pa
from pe_actors.core.checkpoint import list_checkpoints
from pe_actors.core.engine import BatchResult
from pe_actors.core.optimiser import Adam
from pe_actors.training.trainer import CheckpointCallback, NonFiniteError, Splits, TrainConfig, Trainer
from pe_actors_launcher.cli import cli

CONFIG = pa.NetworkConfig(n_in=4, n_rec=6, n_out=3, n_steps=10)


def split(n, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, CONFIG.n_steps, CONFIG.n_in)).astype(np.float32), rng.integers(0, 3, n)


def test_splits_name_the_split_and_sample_with_nan_or_inf():
    train, validation, test = split(20, 0), split(6, 1), split(6, 2)
    train[0][13, 4, 2] = np.nan
    with pytest.raises(ValueError, match="train sample 13 holds NaN or Inf"):
        Splits(train, validation, test).check(CONFIG.n_steps, CONFIG.n_in, CONFIG.n_out)
    train[0][13, 4, 2] = 0.0
    test[0][5, 0, 0] = np.inf
    with pytest.raises(ValueError, match="test sample 5 holds NaN or Inf"):
        Splits(train, validation, test).check(CONFIG.n_steps, CONFIG.n_in, CONFIG.n_out)


@pytest.mark.parametrize("engine", ["online", "replay"])
def test_engines_refuse_non_finite_inputs(engine):
    params = pa.init_params(CONFIG, 0, np.float64)
    x, labels = split(4, 3)
    x[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match="x sample 2 holds NaN or Inf"):
        pa.eprop_gradients(params, x, labels, CONFIG, engine=engine)
    with pytest.raises(ValueError, match="x sample 2 holds NaN or Inf"):
        pa.InProcessEngine(CONFIG, params, pa.OptimiserConfig()).train_batch(x, labels, 0.01)


def test_adam_refuses_a_non_finite_gradient_and_changes_nothing():
    adam = Adam((3, 2), np.float64, pa.OptimiserConfig())
    weights = np.ones((3, 2))
    adam.step(weights, np.full((3, 2), 0.1), 0.01)
    before = (weights.copy(), adam.m.copy(), adam.v.copy(), adam.n)
    grad = np.full((3, 2), 0.1)
    grad[1, 1] = np.inf
    with pytest.raises(FloatingPointError, match="non-finite gradient"):
        adam.step(weights, grad, 0.01)
    np.testing.assert_array_equal(weights, before[0])
    np.testing.assert_array_equal(adam.m, before[1])
    assert adam.n == before[3]


class NaNAfter:
    """An in-process engine whose loss turns NaN at train_batch call ``at``."""

    def __init__(self, at):
        self.inner = pa.InProcessEngine(CONFIG, pa.init_params(CONFIG, 1, np.float64), pa.OptimiserConfig())
        self.calls, self.at = 0, at

    def train_batch(self, x, labels, lr):
        self.calls += 1
        result = self.inner.train_batch(x, labels, lr)
        return BatchResult(result.logits, result.loss * np.nan) if self.calls >= self.at else result

    def predict(self, x):
        return self.inner.predict(x)

    def state(self):
        return self.inner.state()

    def load_state(self, state):
        self.inner.load_state(state)


def test_a_non_finite_loss_stops_training_naming_the_batch_and_keeps_the_last_checkpoint(tmp_path):
    data = Splits(split(16, 4), split(4, 5), split(4, 6))
    checkpoints = CheckpointCallback(tmp_path, every=4)
    trainer = Trainer(NaNAfter(at=3), data, pa.OptimiserConfig(), TrainConfig(epochs=1, batch_size=4), [checkpoints])
    with pytest.raises(NonFiniteError, match=r"epoch 1, samples 8-11 .* the loss is nan"):
        trainer.fit()
    written = list_checkpoints(tmp_path)
    # Checkpoints every 4 samples: after samples 4 and 8, none at or after the bad batch (samples 8-11).
    assert [int(path.name.rsplit("-s", 1)[1]) for path in written] == [4, 8]


def test_evaluate_refuses_non_finite_samples(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        cli, ["train", "--rule", "eventprop", "--epochs", "1", "--max-samples", "32", "--no-progress", "--out", out]
    )
    assert result.exit_code == 0, result.output
    from pe_actors_datasets.yinyang import write_yinyang

    data = tmp_path / "yinyang"
    write_yinyang(data)
    features = np.load(data / "test_features.npy")
    features[7, 1] = np.nan
    np.save(data / "test_features.npy", features)
    result = CliRunner().invoke(cli, ["evaluate", "--checkpoint", out, "--data", data])
    assert result.exit_code == 2 and "feature row 7 holds NaN or Inf" in result.output, result.output
    assert "Traceback" not in result.output


class NaNGradient(NaNAfter):
    """An engine whose learning step meets a non-finite gradient at call ``at`` (as ADAM reports it)."""

    def train_batch(self, x, labels, lr):
        self.calls += 1
        if self.calls >= self.at:
            raise FloatingPointError("non-finite gradient (3 entries): no update")
        return self.inner.train_batch(x, labels, lr)


def test_a_non_finite_gradient_stops_training_naming_the_batch(tmp_path):
    data = Splits(split(16, 4), split(4, 5), split(4, 6))
    trainer = Trainer(NaNGradient(at=2), data, pa.OptimiserConfig(), TrainConfig(epochs=1, batch_size=4))
    with pytest.raises(NonFiniteError, match=r"epoch 1, samples 4-7 .*non-finite gradient"):
        trainer.fit()
