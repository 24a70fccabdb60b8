"""No run trains dead: the health guard's signs, warnings, recovery and stop, on a scripted trainer and on real
runs of both rules."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.run.context import RunError
from pe_actors.training.callbacks import DeadRunError, HealthGuard


def scripted(reports):
    """A trainer whose silence report is the next of ``reports`` at every epoch."""
    reports = iter(reports)
    trainer = SimpleNamespace(data=SimpleNamespace(validation=(np.zeros((2, 1, 1)), np.zeros(2, int)),
                                                   train=(np.zeros((4, 1, 1)), np.arange(4) % 4)),
                              engine=SimpleNamespace(params=lambda: {}))
    return trainer, (lambda params, x, labels: next(reports))


def epochs(guard, trainer, losses, accuracy=0.25):
    for epoch, loss in enumerate(losses, start=1):
        record = {"epoch": epoch, "train_loss": loss, "validation_accuracy": accuracy}
        guard.on_epoch_end(trainer, None, record)
        guard.stop.on_epoch_end(trainer, None, record)


def test_outputs_silent_by_design_that_recover_do_not_stop(caplog):
    trainer, measure = scripted([{"label_silent": 1.0}, {"label_silent": 0.95}, {"label_silent": 0.3},
                                 {"label_silent": 0.95}, {"label_silent": 0.1}])
    guard = HealthGuard(measure, patience=3, population={"label_silent": "output"})
    with caplog.at_level(logging.WARNING):
        epochs(guard, trainer, [1.5, 1.2, 1.0, 0.9, 0.8], accuracy=0.6)
    assert "population 'output': 100.0 %" in caplog.text and "label silent cleared" in caplog.text
    assert guard.dead is None


def test_a_sign_that_lasts_its_patience_stops_the_run():
    trainer, measure = scripted([{"dead_hidden": 1.0}] * 3)
    guard = HealthGuard(measure, patience=3, advice={"dead_hidden": "scale the input up"})
    with pytest.raises(DeadRunError, match=r"stayed dead for 3 epochs \(to epoch 3\): 100.0 % of the hidden .*"
                                           r"scale the input up"):
        epochs(guard, trainer, [1.4, 1.3, 1.2])


def test_a_flat_loss_at_chance_and_an_absurd_loss_are_signs():
    trainer, _ = scripted([])
    guard = HealthGuard(None, patience=2)
    with pytest.raises(DeadRunError, match="training loss did not move"):
        epochs(guard, trainer, [np.log(4), np.log(4), np.log(4)], accuracy=0.25)
    guard = HealthGuard(None, patience=2)
    with pytest.raises(DeadRunError, match=r"2.2e\+65: training loss: not finite or absurd"):
        epochs(guard, trainer, [2.2e65, 2.2e65], accuracy=0.5)
    guard = HealthGuard(None, patience=2)  # a loss that is flat but above chance in accuracy is a converged run
    epochs(guard, trainer, [0.5, 0.5, 0.5], accuracy=0.9)
    assert guard.dead is None


def sparse_task(scale: float = 1.0, n: int = 300):
    """Four classes of sparse spike rasters on e-prop's 80 channels, each class firing its own 20 channels more."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 4
    rates = np.full((4, 80), 0.002)
    for k in range(4):
        rates[k, 20 * k : 20 * k + 20] = 0.02
    return (rng.random((n, 100, 80)) < rates[labels][:, None, :]).astype(np.float32) * scale, labels


def test_eprop_on_sparse_spikes_stops_dead_unless_initialised_from_the_data(tmp_path):
    x, labels = sparse_task()
    with pytest.raises(RunError, match="population 'recurrent': 100.0 % of the validation samples have no hidden"):
        pa.train(data=(x, labels), engine="replay", epochs=6, dead_epochs=2, data_init="off", out=tmp_path / "dead",
                 progress=False)
    run = pa.train(data=(x, labels), engine="replay", epochs=3, dead_epochs=2, out=tmp_path / "alive", progress=False)
    assert run.best["test_accuracy"] > 0.9 and run.best["silence"]["hidden_silent"] == 0.0
    record = pa.load(tmp_path / "alive").checkpoint.record.initialisation
    assert record["method"] == "rate-targeted input scaling" and record["gains"]["w_in"] > 5
    assert record["firing_before"]["recurrent"] == 0.0 and 0.01 <= record["firing_after"]["recurrent"] <= 0.1


def test_initialisation_from_the_data_raises_quiet_populations_for_both_rules_and_graphs():
    from pe_actors.networks import NetworkBuilder
    from pe_actors.rules import rule
    from pe_actors.rules.eprop.config import EpropConfig
    from pe_actors.rules.eventprop.config import EventPropConfig
    from pe_actors.run.initialisation import TARGET, scale_to_data

    x, _ = sparse_task(n=64)
    cases = [(rule("eprop"), EpropConfig())]
    eventprop = EventPropConfig(sizes=(80, 30, 4), n_steps=100, dt=1.0, t_code=15.0)
    cases.append((rule("eventprop"), eventprop))
    net = NetworkBuilder(n_steps=100, dt_s=1e-3)
    net.input("x", 80)
    net.population("h", 20, "cuba_lif", tau_mem=20e-3, tau_syn=5e-3)
    net.population("o", 4, "li", tau_mem=20e-3)
    net.connect("x", "h").connect("h", "h").connect("h", "o")
    cases.append((rule("eprop"), rule("eprop").compile(net.build(["o"]))))
    raised = 0
    for spec, network in cases:
        params = spec.init_params(network, seed=0, dtype=np.float64)
        scaled, report = scale_to_data(spec, network, params, x.astype(np.float64))
        (key, population), = spec.input_targets(network).items()
        if report["firing_before"][population] < TARGET[0]:  # too quiet: raised into the band
            assert TARGET[0] <= report["firing_after"][population] <= TARGET[1], (spec.name, report)
            raised += 1
        else:  # firing enough already: kept as drawn
            assert report["gains"][key] == 1.0
        np.testing.assert_allclose(scaled[key], params[key] * report["gains"][key])
        assert all(np.array_equal(scaled[k], params[k]) for k in params if k != key)
    assert raised >= 2  # e-prop's network and the graph start silent on these rasters


def test_a_collapse_of_the_validation_accuracy_is_a_sign_and_a_recovery_clears_it(caplog):
    trainer, _ = scripted([])
    guard = HealthGuard(None, patience=3)
    with pytest.raises(DeadRunError, match=r"stayed dead for 3 epochs \(to epoch 6\): 29.0 % validation accuracy, "
                                           r"below half of the run's best \(64.0 % at epoch 3\); a lower --lr"):
        for epoch, accuracy in enumerate([0.3, 0.5, 0.64, 0.098, 0.25, 0.29], start=1):
            record = {"epoch": epoch, "train_loss": 2.0, "validation_accuracy": accuracy}
            guard.on_epoch_end(trainer, None, record)
            guard.stop.on_epoch_end(trainer, None, record)
    guard = HealthGuard(None, patience=3)
    with caplog.at_level(logging.WARNING):
        for epoch, accuracy in enumerate([0.3, 0.64, 0.2, 0.45, 0.7, 0.3], start=1):
            record = {"epoch": epoch, "train_loss": 2.0, "validation_accuracy": accuracy}
            guard.on_epoch_end(trainer, None, record)
            guard.stop.on_epoch_end(trainer, None, record)
    assert guard.dead is None and "collapsed cleared" in caplog.text
    guard = HealthGuard(None, patience=1)  # a best near chance is no collapse to fall from
    epochs(guard, trainer, [2.0, 2.0, 2.0], accuracy=0.3)
    assert guard.dead is None
