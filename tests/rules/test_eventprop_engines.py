"""EventProp engines agree: the off-chip engine and the PE program on in-process PEs on both schedules (a round
per time step, or a round per layer), for 1-3 PEs per layer, uneven splits and sub-batches (float64, 1e-12); the
PE actors are tested in tests/engines/test_eventprop_actors.py."""

from __future__ import annotations

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.engines import make
from pe_actors.rules.eventprop.config import SCHEDULES
from pe_actors.rules.eventprop.encoding import encode
from pe_actors.rules.eventprop.offchip import OffchipEngine
from pe_actors.rules.eventprop.program import EventPropGroup, layer_splits
from pe_actors.runtime.group import GroupEngine
from pe_actors_datasets.yinyang import yinyang

TWO = pa.EventPropConfig(sizes=(5, 12, 3))
THREE = pa.EventPropConfig(sizes=(5, 9, 7, 3), init_mean=(1.5, 1.5, 1.5), init_std=(0.8, 0.5, 0.5))
#: The recipe's loss: crossing times and the silent label output's voltage term (some label outputs silent).
SILENT = pa.EventPropConfig(
    sizes=(5, 12, 3), t_code=27.0, init_mean=(1.5, 1.0), init_std=(0.8, 0.4), loss_time="crossing", alpha_silent=1.0
)
#: The hidden voltage term as well, in two hidden layers.
HIDDEN = pa.EventPropConfig(
    sizes=(5, 9, 7, 3), t_code=27.0, init_mean=(1.5, 2.0, 1.5), init_std=(0.8, 0.6, 0.5), loss_time="crossing",
    alpha_silent=1.0, alpha_hidden=0.5, alpha_rate=2.0, rate_upper=40.0,
)
SPLITS = {
    TWO: [1, 2, 3, [[5, 7], 2]],
    THREE: [1, 2, 3, [2, [3, 2, 2], 1]],
    SILENT: [1, 2, 3, [[5, 7], [2, 1]]],
    HIDDEN: [1, 2, [[4, 5], [3, 4], 3]],
}
OPTIMISER = pa.OptimiserConfig(lr=0.01, l2=1e-5)


def batch(config, n, seed):
    features, labels = yinyang(n, 200 + seed)
    return encode(features, config), labels


def assert_close(got, want, tol=1e-12):
    assert set(got) == set(want)
    for key in want:
        scale = max(np.abs(want[key]).max(), 1e-300)
        assert np.abs(np.asarray(got[key]) - want[key]).max() <= tol * scale, key


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("config", [TWO, THREE, SILENT, HIDDEN],
                         ids=["5-12-3", "5-9-7-3", "crossing-silent", "hidden-silent"])
def test_pe_program_equals_offchip_gradients(config, schedule):
    params = pa.init_eventprop_params(config, 0)
    spikes, labels = batch(config, 6, 0)
    reference, loss, first = pa.eventprop_gradients(params, spikes, labels, config)
    assert all(np.abs(reference[key]).max() > 0 for key in reference)
    if config.alpha_silent:
        assert (first[np.arange(len(labels)), labels] == config.n_steps).any(), "no silent label output"
    for n_pes in SPLITS[config]:
        for sub_batch in (None, 1, 4):
            grads, got_loss, got_first = pa.eventprop_gradients(
                params, spikes, labels, config, engine="pes", n_pes=n_pes, sub_batch=sub_batch, schedule=schedule
            )
            assert_close(grads, reference)
            assert got_loss == pytest.approx(loss, rel=1e-12)
            np.testing.assert_array_equal(got_first, first)


def test_error_packets_are_sparse():
    """Backward packets carry only the lower layer's spike steps: never a dense row per step."""
    config = THREE
    group = EventPropGroup(config, 2)
    params = pa.init_eventprop_params(config, 1)
    engine = GroupEngine(group, params, None, None)
    spikes, labels = batch(config, 4, 1)
    sent = []
    for program in engine.programs:
        original = program._error_packet

        def spy(i, original=original):
            packet = original(i)
            sent.append(len(packet[0]))
            return packet

        program._error_packet = spy
    engine.gradients(spikes, labels)
    hidden_spikes = sum(int(np.count_nonzero(p.s_tape)) for p in engine.programs if p.layer < config.n_layers)
    assert 0 < sum(sent) <= hidden_spikes * 2  # two PEs per layer each send their share of every spike's error
    assert max(sent) < 4 * config.sizes[1]


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("config", [TWO, SILENT], ids=["5-12-3", "crossing-silent"])
def test_in_process_training_equals_offchip_training(config, schedule):
    params = pa.init_eventprop_params(config, 2)
    offchip = OffchipEngine(config, params, OPTIMISER)
    pes = GroupEngine(EventPropGroup(config, [3, 2], schedule), params, OPTIMISER, sub_batch=3)
    for seed in range(4):
        spikes, labels = batch(config, 7, seed)
        want = offchip.train_batch(spikes, labels, 0.01)
        got = pes.train_batch(spikes, labels, 0.01)
        np.testing.assert_allclose(got.logits, want.logits, rtol=1e-12)
        np.testing.assert_allclose(got.loss, want.loss, rtol=1e-12)
    assert_close(pes.state(), offchip.state(), tol=1e-11)
    np.testing.assert_allclose(pes.predict(spikes), offchip.predict(spikes), rtol=1e-12)
    pes.load_state(offchip.state())
    assert_close(pes.state(), offchip.state(), tol=0)


def test_layered_rounds_carry_the_pipelined_packets():
    """The layered schedule posts, in one round per layer, exactly the spikes and the error events that the
    pipelined schedule posts step by step (same (sample, step, neuron) entries, same values to float rounding),
    in 2 L + 2 rounds instead of 2 T + 1."""
    config = THREE
    params = pa.init_eventprop_params(config, 1)
    spikes, labels = batch(config, 5, 3)
    posted = {}
    for schedule in SCHEDULES:
        group = EventPropGroup(config, 2, schedule)
        engine = GroupEngine(group, params, None, None)
        sent: dict[str, dict] = {}
        for program in engine.programs:
            original = program.step

            def spy(phase, t, inbox, original=original, program=program, sent=sent, schedule=schedule):
                outbox = original(phase, t, inbox)
                for name, packet in outbox.items():
                    events = sent.setdefault(name, {})
                    if name.startswith("spikes"):
                        raster = np.asarray(packet).reshape(len(spikes), -1, program.size)
                        steps = [t] if schedule == "pipelined" else range(config.n_steps)
                        for step_index, step in enumerate(steps):
                            for sample, neuron in zip(*np.nonzero(raster[:, step_index]), strict=True):
                                events[(sample, step, program.neurons.start + neuron)] = 1.0
                    elif name.startswith("errors"):
                        indices, values = packet
                        width = config.sizes[program.layer - 1]
                        for index, value in zip(indices, values, strict=True):
                            rows, neuron = divmod(int(index), width)
                            sample, step = (rows, t) if schedule == "pipelined" else divmod(rows, config.n_steps)
                            events[(sample, step, neuron)] = events.get((sample, step, neuron), 0.0) + value
                return outbox

            program.step = spy
        engine.gradients(spikes, labels)
        posted[schedule] = sent
        assert len(group.phases(True)) == (2 * config.n_layers + 2 if schedule == "layered" else 4)
    pipelined, layered = posted["pipelined"], posted["layered"]
    channels = {"spikes_1", "spikes_2", "first_spikes", "output_error", "errors_1", "errors_2"}
    assert set(pipelined) == set(layered) == channels
    for name in ("spikes_1", "spikes_2", "errors_1", "errors_2"):
        assert pipelined[name], name
        assert set(layered[name]) == set(pipelined[name]), name
        for key, value in pipelined[name].items():
            assert layered[name][key] == pytest.approx(value, rel=1e-12, abs=1e-15), (name, key)


def test_bad_schedule_is_named():
    with pytest.raises(ValueError, match="schedule must be one of"):
        EventPropGroup(TWO, 1, "bulk")
    with pytest.raises(TypeError, match="takes no option 'schedule'"):
        make("eprop", "inprocess", pa.NetworkConfig(n_in=4, n_rec=6, n_out=2, n_steps=5), {}, schedule="layered")


def test_bad_splits_name_the_layer():
    with pytest.raises(ValueError, match="layer 2 .3 neurons."):
        layer_splits(TWO, [2, 4])
    with pytest.raises(ValueError, match="one entry per LIF layer"):
        layer_splits(TWO, [2])
    assert [len(s) for s in layer_splits(TWO, 12)] == [12, 3]
