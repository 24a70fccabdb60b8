"""Memory accounting from the arrays a PE allocates, against the paper's Tables 1 and 6 (docs/studies.md)."""

import numpy as np
import pytest
from click.testing import CliRunner

import pe_actors as pa
from pe_actors.studies.memory import paper_table1_floats, paper_table6_floats, pe_memory
from pe_actors_launcher.cli import cli


def test_paper_table1_total_reproduced():
    floats = paper_table1_floats(80, 20, 12, 100)
    assert sum(floats.values()) == 24_980
    assert sum(floats.values()) * 4 / 1024 == pytest.approx(97.57, abs=0.01)


def test_paper_table6_gsc_is_about_680_kb():
    eprop, bptt = paper_table6_floats(80, 120, 12, 100)
    assert eprop * 4 / 1000 == pytest.approx(680, rel=0.03)
    assert bptt - eprop == 100 * (12 + 80 + 3 * 120)


@pytest.mark.parametrize("n_pes", [1, 5, 12])
def test_online_pe_holds_at_most_five_floats_per_synapse(n_pes):
    for entry in pe_memory(pa.NetworkConfig(), n_pes, sub_batch=1):
        assert entry.floats_per_synapse <= 5


def test_each_sample_of_a_sub_batch_adds_two_floats_per_synapse():
    for k in (1, 2, 4):
        (entry,) = pe_memory(pa.NetworkConfig(n_rec=20), 1, sub_batch=k)
        assert entry.floats_per_synapse == 3 + 2 * k


def test_bytes_follow_the_real_arrays():
    config = pa.NetworkConfig(n_in=80, n_rec=20, n_out=12)
    (f32,) = pe_memory(config, 1, dtype=np.float32)
    (f64,) = pe_memory(config, 1, dtype=np.float64)
    assert f64.total == 2 * f32.total
    assert f32.bytes_by_category["weights"] == 4 * (100 * 20 + 20 * 12)
    assert f32.bytes_by_category["input_buffer"] == 4 * 100 * 80
    # Ours is smaller than the paper's layout: 2 eligibility floats per synapse instead of 4 and no gradients.
    assert f32.total < 4 * 24_980
    slices = pe_memory(pa.NetworkConfig(), 12)
    assert sum(entry.neurons for entry in slices) == 120


def test_memory_command_prints_the_table():
    result = CliRunner().invoke(cli, ["memory", "--n-rec", "20"])
    assert result.exit_code == 0, result.output
    assert "97.58" in result.output and "Floats per input/recurrent synapse on a PE: 5" in result.output
    result = CliRunner().invoke(cli, ["memory", "--pes", "500"])
    assert result.exit_code != 0 and "--pes 500 exceeds" in result.output
