"""The test bed's own errors (scripts/testbed.py), which need no root: a command for a test bed that does not
exist says so and lists the ones there are, instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "scripts" / "testbed.py"


@pytest.mark.parametrize("command", [["kill", "0"], ["run", "0", "--", "true"], ["restart", "1"], ["down"]])
def test_a_command_for_a_test_bed_that_does_not_exist_names_it(command):
    done = subprocess.run([sys.executable, str(TOOL), "--bed", "petb199", *command],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("testbed: no test bed 'petb199' made by this tool")


def test_without_any_test_bed_the_error_says_how_to_make_one(testbed_tool, tmp_path, monkeypatch):
    testbed = testbed_tool
    monkeypatch.setattr(testbed, "ROOT", tmp_path / "petb")
    monkeypatch.delenv(testbed.BED_VARIABLE, raising=False)
    with pytest.raises(testbed.TestBedError, match=r"there is none: `testbed.py up` makes one"):
        testbed.TestBed.load()
    for name in ("petb3", "petb4"):  # two made: which one must be said
        (tmp_path / "petb" / name).mkdir(parents=True)
        (tmp_path / "petb" / name / "state.json").write_text("{}")
    with pytest.raises(testbed.TestBedError, match=r"name the test bed with --bed: the test beds are petb3, petb4"):
        testbed.TestBed.load()
    with pytest.raises(testbed.TestBedError, match=r"no test bed 'other'"):
        testbed.down("other")  # a name this tool did not make is never touched
