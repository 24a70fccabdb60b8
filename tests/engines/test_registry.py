"""The engine registry: every (rule, backend) pair builds an engine that trains, predicts, reports its weights and
round-trips its state; the backends of a rule take the same learning step; bad pairs and options are named."""

from __future__ import annotations

import numpy as np
import pytest

from pe_actors.core.checkpoint import save_checkpoint
from pe_actors.core.engine import Engine
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.engines.registry import from_checkpoint, make, table
from pe_actors.rules import RULE_NAMES, rule
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.synapses import SynapseConfig

NETWORKS = {
    "eprop": NetworkConfig(n_in=4, n_rec=6, n_out=3, n_steps=12),
    "eventprop": EventPropConfig(sizes=(5, 8, 3)),
}
OPTIMISER = OptimiserConfig(lr=0.01)
PAIRS = [(row["rule"], row["backend"]) for row in table()]


def batch(rule_name: str, n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A batch the rule's network takes: e-prop real-valued inputs, EventProp Yin-Yang spike rasters."""
    network = NETWORKS[rule_name]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, network.n_out, n)
    if rule_name == "eprop":
        return rng.standard_normal((n, network.n_steps, network.n_in)), labels
    from pe_actors.rules.eventprop.encoding import encode

    return encode(rng.uniform(0.1, 0.9, (n, network.n_in - 1)), network, np.float64), labels


def build(rule_name: str, backend: str, **options) -> Engine:
    network = NETWORKS[rule_name]
    params = rule(rule_name).init_params(network, seed=3, dtype=np.float64)
    placement = {"pes": 2, "groups": 2, "sub_batch": 2}
    if backend == "actors":
        options = {"record_metrics": False, **options}
    return make(rule_name, backend, network, params, OPTIMISER, **placement, **options)


def exercise(rule_name: str, backend: str) -> dict[str, np.ndarray]:
    """Train one step, check what the protocol promises, and return the weights after the step."""
    x, labels = batch(rule_name)
    initial = rule(rule_name).init_params(NETWORKS[rule_name], seed=3, dtype=np.float64)
    with build(rule_name, backend) as engine:
        assert isinstance(engine, Engine)
        result = engine.train_batch(x, labels, 0.01)
        assert result.logits.shape == (4, NETWORKS[rule_name].n_out) and result.loss.shape == (4,)
        params = engine.params()
        assert {k: v.shape for k, v in params.items()} == {k: v.shape for k, v in initial.items()}
        assert any(not np.array_equal(params[k], initial[k]) for k in params)
        state = engine.state()
        predicted = engine.predict(x)
        engine.advance(1.0)
        assert engine.writes is None
    with build(rule_name, backend) as copy:
        copy.load_state(state)
        np.testing.assert_array_equal(copy.predict(x), predicted)
        for key, value in copy.state().items():
            np.testing.assert_array_equal(value, state[key], err_msg=key)
    return params


@pytest.mark.parametrize(("rule_name", "backend"), [p for p in PAIRS if p[1] != "actors"])
def test_every_in_process_pair_trains_and_round_trips(rule_name, backend):
    exercise(rule_name, backend)


@pytest.mark.ray
@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_the_actors_backend_of_every_rule(rule_name, local_ray):
    # EventProp's params() through the actors used to ask for e-prop's weight names.
    on_actors = exercise(rule_name, "actors")
    in_process = exercise(rule_name, "inprocess")
    for key, value in in_process.items():
        np.testing.assert_allclose(on_actors[key], value, rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_the_backends_of_a_rule_take_the_same_step(rule_name):
    backends = [b for b in rule(rule_name).backend_names if b != "actors"]
    steps = {backend: exercise(rule_name, backend) for backend in backends}
    reference = steps[backends[0]]
    for backend in backends[1:]:
        for key, value in reference.items():
            np.testing.assert_allclose(steps[backend][key], value, rtol=1e-9, atol=1e-12, err_msg=f"{backend} {key}")


def test_the_table_lists_each_rules_declared_backends():
    assert PAIRS == [(name, b) for name in RULE_NAMES for b in rule(name).backend_names]
    assert ("eprop", "replay") in PAIRS and ("eventprop", "offchip") in PAIRS and ("eventprop", "replay") not in PAIRS


def test_bad_pairs_options_and_networks_are_named():
    network = NETWORKS["eprop"]
    params = rule("eprop").init_params(network)
    with pytest.raises(ValueError, match=r"unknown learning rule 'hebb'; the rules are \['eprop', 'bptt', 'eventp"):
        make("hebb", "inprocess", network, params)
    with pytest.raises(ValueError, match=r"eventprop rule runs on the backends \['inprocess', 'actors', 'offchip'\]"):
        make("eventprop", "replay", NETWORKS["eventprop"], {})
    with pytest.raises(TypeError, match="replay backend takes no option 'transport'"):
        make("eprop", "replay", network, params, transport="shm")
    with pytest.raises(TypeError, match="eventprop rule trains a EventPropConfig, got a EpropConfig"):
        make("eventprop", "offchip", network, params)
    pcm = SynapseConfig(kind="pcm", bits=4)
    with pytest.raises(ValueError, match=r"bptt backend holds \['digital'\] synapses, not pcm"):
        make("eprop", "bptt", network, params, synapses=pcm)
    assert type(make("eprop", "bptt", network, params, synapses=SynapseConfig())).__name__ == "BPTTEngine"


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_from_checkpoint_holds_the_saved_state_on_the_rules_offchip_engine(rule_name, tmp_path):
    x, labels = batch(rule_name)
    engine = build(rule_name, "inprocess")
    engine.train_batch(x, labels, 0.01)
    meta = {"rule": rule_name, "network": NETWORKS[rule_name].to_dict(), "optimiser": {"lr": 0.01}}
    path = save_checkpoint(tmp_path, "one", engine.state(), {}, meta)
    loaded = from_checkpoint(path)
    assert type(loaded).__name__ == {"eprop": "ReplayEngine", "eventprop": "OffchipEngine"}[rule_name]
    np.testing.assert_allclose(loaded.predict(x), engine.predict(x), rtol=1e-9, atol=1e-12)
    again = from_checkpoint(path, backend="inprocess", pes=3)
    np.testing.assert_array_equal(again.predict(x), engine.predict(x))
    other = NETWORKS[rule_name].to_dict()
    meta["network"] = {**other, **({"n_rec": 9} if rule_name == "eprop" else {"sizes": [5, 9, 3]})}
    save_checkpoint(tmp_path, "two", engine.state(), {}, meta)
    with pytest.raises(ValueError, match="ckpt-two holds 'w_"):
        from_checkpoint(tmp_path / "ckpt-two")
