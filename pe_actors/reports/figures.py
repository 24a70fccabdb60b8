"""Figures and result files the library writes: matplotlib on the Agg backend, PNGs, and JSON and CSV of numpy
values."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, tight: bool = True) -> Path:
    """Save ``fig`` as a PNG at ``path`` (120 dpi; ``tight``: lay it out tightly first) and close it."""
    plt = pyplot()
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plain(value: Any) -> Any:
    """JSON-ready form of numpy scalars and arrays, tuples and dataclass-free containers; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (numpy values converted) at ``path``."""
    Path(path).write_text(json.dumps(_plain(data), indent=2) + "\n")
    return path


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts with the same keys) as CSV with a header at ``path``."""
    if not rows:
        raise ValueError(f"no rows to write to {str(path)!r}")
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(_plain(row))
    return path
