"""Input checks shared by the engines and the trainer: no NaN or Inf enters training or evaluation silently."""

from __future__ import annotations

import numpy as np


def first_non_finite(x: np.ndarray, chunk: int = 1024) -> int | None:
    """Index of the first sample (along axis 0) of ``x`` holding NaN or Inf, or None. Checked in chunks, so a
    memory-mapped split is not read into memory at once; integer arrays are always finite."""
    if not np.issubdtype(np.asarray(x[:0]).dtype, np.floating):
        return None
    for start in range(0, len(x), chunk):
        part = np.asarray(x[start : start + chunk])
        bad = ~np.isfinite(part).reshape(len(part), -1).all(axis=1)
        if bad.any():
            return start + int(np.argmax(bad))
    return None


def require_finite(x: np.ndarray, what: str) -> None:
    """Raise a ValueError naming ``what`` and the sample when ``x`` holds NaN or Inf."""
    index = first_non_finite(x)
    if index is not None:
        raise ValueError(f"{what} sample {index} holds NaN or Inf")
