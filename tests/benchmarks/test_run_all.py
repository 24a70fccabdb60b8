"""benchmarks/run_all.py builds the README's performance table from the benchmarks' JSON results: the rows and
ratios come from the files, a missing benchmark is named, and the README's marked block is replaced in place."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py"


@pytest.fixture
def run_all(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("run_all", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    return module


def write(run_all, name, payload):
    (run_all.RESULTS / f"{name}.json").write_text(json.dumps(payload))


def test_the_table_holds_the_measured_rates_and_ratios(run_all):
    write(run_all, "engines", {"rows": [
        {"engine": "replay", "batch": 64, "samples_per_s": 9000.0},
        {"engine": "torch BPTT", "batch": 64, "samples_per_s": 1000.0},
        {"engine": "numpy PE", "batch": 64, "samples_per_s": 100.0},
        {"engine": "numba PE", "batch": 64, "samples_per_s": 1500.0},
        {"engine": "c PE", "batch": 64, "samples_per_s": 1800.0},
    ], "matmul_floor": [{"batch": 64, "samples_per_s": 12000.0}]})
    write(run_all, "synapses", {"rows": [
        {"engine": "replay", "synapses": "digital", "batch": 64, "samples_per_s": 8000.0},
        {"engine": "replay", "synapses": "pcm 4 bit", "batch": 64, "samples_per_s": 2000.0},
    ]})
    text = run_all.table(quick=True)
    assert "| e-prop replay engine, batch 64 (both cores) | 9,000 | 9.00x torch BPTT | `bench_engines.py` |" in text
    assert "0.75x of it reached by replay" in text
    assert "| one PE, online kernel compiled at install, sub-batch 64 | 1,800 | 1.80x torch BPTT |" in text
    assert "| replay, batch 64, pcm 4 bit synapses | 2,000 | 0.25x digital | `bench_synapses.py` |" in text
    assert ("No results from: `bench_eventprop.py`, `bench_inprocess.py`, `bench_exchange.py`, `bench_adapt.py`, "
            "`bench_field.py`.") in text
    assert "cores" in text.splitlines()[0] and "--quick" in text.splitlines()[0]


def test_the_readme_block_is_replaced_and_the_rest_kept(run_all, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n{run_all.START}\nold table\n{run_all.END}\nafter\n")
    run_all.write_readme("new table", readme)
    assert readme.read_text() == f"# title\n\nbefore\n{run_all.START}\nnew table\n{run_all.END}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        run_all.write_readme("new table", readme)
    assert readme.read_text() == "no markers\n"


def test_the_project_readme_has_the_markers(run_all):
    text = (SCRIPT.parents[1] / "README.md").read_text()
    assert text.count(run_all.START) == 1 and text.count(run_all.END) == 1


def test_the_field_rows_give_each_engine_at_the_grids_corners(run_all):
    rows = [{"engine": engine, "hidden": hidden, "n_steps": steps, "samples_per_s": rate}
            for engine, hidden, steps, rate in (
                ("snntorch BPTT", 128, 100, 400.0), ("snntorch BPTT", 512, 1000, 4.0),
                ("snntorch BPTT", 256, 100, 200.0),
                ("e-prop replay", 128, 100, 2000.0), ("e-prop replay", 512, 1000, 10.0),
                ("e-prop replay", 256, 100, 900.0))]
    rows.append({"engine": "e-prop PE", "hidden": 128, "n_steps": 100, "samples_per_s": 200.0})
    rows.append({"engine": "e-prop PE", "hidden": 512, "n_steps": 1000, "samples_per_s": None, "error": "slow"})
    write(run_all, "field", {"rows": rows})
    text = run_all.table(quick=False)
    assert ("| e-prop replay at 700-128-20 T 100 / 700-512-20 T 1000, batch 32, one core | 2,000 / 10 | "
            "5.00x / 2.50x snnTorch BPTT | `bench_field.py` |") in text
    assert "| e-prop PE at 700-128-20 T 100 / 700-512-20 T 1000, batch 32, one core | 200 / - | 0.50x / - " in text


def test_the_adapt_rows_give_the_time_per_sample_of_both_ways(run_all):
    write(run_all, "adapt", {"pes": 12, "rows": [
        {"engine": "in-process PEs", "how": "call per sample", "ms_per_sample": 50.0},
        {"engine": "PE actors", "how": "call per sample", "ms_per_sample": 125.0},
        {"engine": "PE actors", "how": "sequence", "ms_per_sample": 62.5}]})
    text = run_all.table(quick=False)
    assert "| batch-1 learning (adapt) on 12 PE actors, a driver call per sample | 8.0 | 1.00x" in text
    assert "| batch-1 learning (adapt) on 12 PE actors, the PEs learning sequences | 16.0 | 0.50x the time" in text
