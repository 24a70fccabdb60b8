"""The upper floors ask the rule: the plan of a run is a pure step, BPTT is a backend of e-prop (and ``--rule bptt``
its alias), the sections of a run's settings compose one configuration, and no code above the rules compares a
rule's name."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import pe_actors as pa
from pe_actors.core.settings import ConfigError
from pe_actors.run.config import SECTIONS, RunConfig, resolve, rule_sections
from pe_actors.run.plan import plan

ROOT = Path(__file__).resolve().parents[2]


def test_a_plan_is_made_without_data_ray_or_disk(tmp_path):
    out = tmp_path / "never-made"
    config = resolve({"rule": "eventprop", "dt": 0.5, "sizes": (5, 16, 3), "out": out, "engine": "inprocess"})
    made = plan(config)
    assert not out.exists()
    assert made.rule.name == "eventprop" and made.backend == "inprocess"
    assert made.network.sizes == (5, 16, 3) and made.network.n_steps == 60  # the 30-ms trial at dt 0.5 ms
    assert made.engine_options("r")["schedule"] == "pipelined" and made.train.batch_size == 32
    alias = plan(resolve({"rule": "bptt", "engine": "actors"}))
    assert (alias.rule.name, alias.backend, alias.engine_name) == ("eprop", "bptt", "bptt")
    with pytest.raises(ConfigError, match="--dt is an EventProp option; give it with --rule eventprop"):
        plan(resolve({"dt": 0.5}))
    with pytest.raises(ConfigError, match="the eventprop rule runs on the backends"):
        plan(resolve({"rule": "eventprop", "engine": "replay"}))


def test_bptt_is_a_backend_of_e_prop_and_the_rule_name_its_alias(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((60, 100, 80)).astype(np.float32)
    labels = rng.integers(0, 12, 60)
    common = {"data": (x, labels), "epochs": 1, "sub_batch": 16, "progress": False}
    by_engine = pa.train(engine="bptt", out=tmp_path / "engine", **common)
    by_alias = pa.train(rule="bptt", out=tmp_path / "alias", **common)
    a, b = pa.load(by_engine.path).state, pa.load(by_alias.path).state
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert by_engine.summary["run_config"]["rule"] == "eprop" and by_alias.summary["run_config"]["rule"] == "bptt"


def test_the_sections_compose_the_run_configuration_once():
    declared = [name for section in [*SECTIONS.values(), *rule_sections().values()] for name in section.names()]
    assert len(declared) == len(set(declared))
    assert set(RunConfig.names()) == set(declared)
    config = RunConfig(pes=4, dt=0.5, rule="eventprop", network="yinyang")
    assert config.section("placement").pes == 4 and config.section("eventprop").dt == 0.5
    assert RunConfig.section_of("lr") == "optimiser" and RunConfig.section_of("dt") == "eventprop"


def test_no_code_above_the_rules_compares_a_rules_name():
    pattern = re.compile(r"""(==|!=)\s*["'](eprop|eventprop|bptt)["']|["'](eprop|eventprop|bptt)["']\s*(==|!=)""")
    offenders = []
    for folder in ("pe_actors", "launcher"):
        for path in (ROOT / folder).rglob("*.py"):
            if "rules" in path.relative_to(ROOT).parts[:2]:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
