"""EventProp engines agree: the off-chip engine, the PE program on in-process PEs, and the PE actors over both
transports, for 1-3 PEs per layer, uneven splits, groups and sub-batches (float64, 1e-12)."""

from __future__ import annotations

import numpy as np
import pytest

import pe_actors as pa
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
SPLITS = {
    TWO: [1, 2, 3, [[5, 7], 2]],
    THREE: [1, 2, 3, [2, [3, 2, 2], 1]],
    SILENT: [1, 2, 3, [[5, 7], [2, 1]]],
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


@pytest.mark.parametrize("config", [TWO, THREE, SILENT], ids=["5-12-3", "5-9-7-3", "crossing-silent"])
def test_pe_program_equals_offchip_gradients(config):
    params = pa.init_eventprop_params(config, 0)
    spikes, labels = batch(config, 6, 0)
    reference, loss, first = pa.eventprop_gradients(params, spikes, labels, config)
    assert all(np.abs(reference[key]).max() > 0 for key in reference)
    if config.alpha_silent:
        assert (first[np.arange(len(labels)), labels] == config.n_steps).any(), "no silent label output"
    for n_pes in SPLITS[config]:
        for sub_batch in (None, 1, 4):
            grads, got_loss, got_first = pa.eventprop_gradients(
                params, spikes, labels, config, engine="pes", n_pes=n_pes, sub_batch=sub_batch
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


@pytest.mark.parametrize("config", [TWO, SILENT], ids=["5-12-3", "crossing-silent"])
def test_in_process_training_equals_offchip_training(config):
    params = pa.init_eventprop_params(config, 2)
    offchip = OffchipEngine(config, params, OPTIMISER)
    pes = GroupEngine(EventPropGroup(config, [3, 2]), params, OPTIMISER, sub_batch=3)
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


def test_bad_splits_name_the_layer():
    with pytest.raises(ValueError, match="layer 2 .3 neurons."):
        layer_splits(TWO, [2, 4])
    with pytest.raises(ValueError, match="one entry per LIF layer"):
        layer_splits(TWO, [2])
    assert [len(s) for s in layer_splits(TWO, 12)] == [12, 3]
