"""EventProp on PE actors: both transports and both schedules against the off-chip engine, with 2 groups and an
uneven split (5-12-3 on 3 PEs per group: two hidden PEs of 5 and 7 neurons and one output PE; 6 actors)."""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import pe_actors as pa  # noqa: E402
from pe_actors.engines.actors import ActorEngine  # noqa: E402
from pe_actors.rules.eventprop.encoding import encode  # noqa: E402
from pe_actors.rules.eventprop.offchip import OffchipEngine  # noqa: E402
from pe_actors_datasets.yinyang import yinyang  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

CONFIG = pa.EventPropConfig(sizes=(5, 12, 3))
OPTIMISER = pa.OptimiserConfig(lr=0.01)


@pytest.mark.parametrize(
    ("transport", "schedule"), [("shm", "pipelined"), ("ray", "pipelined"), ("shm", "layered"), ("ray", "layered")]
)
def test_eventprop_actors_equal_offchip_engine(transport, schedule):
    params = pa.init_eventprop_params(CONFIG, 4)
    offchip = OffchipEngine(CONFIG, params, OPTIMISER)
    engine = ActorEngine(
        CONFIG, params, OPTIMISER, n_pes=[[5, 7], 1], n_groups=2, sub_batch=2, transport=transport,
        record_metrics=False, schedule=schedule,
    )
    with engine:
        assert engine.n_pes == 3
        for seed, size in ((0, 4), (1, 3)):
            features, labels = yinyang(size, 300 + seed)
            spikes = encode(features, CONFIG)
            want = offchip.train_batch(spikes, labels, 0.01)
            got = engine.train_batch(spikes, labels, 0.01)
            np.testing.assert_allclose(got.logits, want.logits, rtol=1e-12)
            np.testing.assert_allclose(got.loss, want.loss, rtol=1e-12)
        state, reference = engine.state(), offchip.state()
        assert set(state) == set(reference)
        for key in reference:
            np.testing.assert_allclose(state[key], reference[key], rtol=1e-12, atol=1e-14, err_msg=key)
        replica = engine.replica_state(1)
        for key in state:
            np.testing.assert_array_equal(replica[key], state[key])
        np.testing.assert_allclose(engine.predict(spikes), offchip.predict(spikes), rtol=1e-12)
