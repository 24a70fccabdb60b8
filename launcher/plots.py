"""Shared helpers of the report commands: the output directory, matplotlib on the Agg backend, JSON and CSV.

Every report command writes a PNG and a JSON (or CSV) beside it into its ``--out`` directory; these helpers keep
the file handling in one place. matplotlib is imported lazily and switched to the non-interactive Agg backend, so
reports work on machines without a display.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np


def out_option(default: str = "reports") -> Any:
    """The ``--out DIR`` option shared by the report commands (created if missing)."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help="Directory for the PNG and its JSON/CSV (created if missing).",
    )


def prepare_out(out_dir: Path) -> Path:
    """Create ``out_dir`` (and parents) and return it; a ValueError names it when it is a file."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {str(out_dir)!r} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Save ``fig`` as a PNG at ``path`` (tight layout, 120 dpi) and close it."""
    plt = pyplot()
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
