"""The Python examples of docs/architecture.md run as written (in a temporary working directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_document_has_examples():
    assert len(blocks()) >= 2


@pytest.mark.ray
@pytest.mark.parametrize("index", range(len(blocks())))
def test_example_runs_as_written(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks()[index], f"{DOC}:example {index}", "exec"), namespace)  # noqa: S102 - our own docs
    if "run" in namespace:
        run = namespace["run"]
        assert (tmp_path / run.path / "summary.json").is_file()
        assert 0.0 <= run.best["test_accuracy"] <= 1.0
    if "weights" in namespace:
        assert set(namespace["weights"]) == {"w_in", "w_rec", "w_out"}
