"""Input checks shared by the engines and the trainer: no NaN or Inf enters training or evaluation silently."""

from __future__ import annotations

import numpy as np


def first_non_finite(x: np.ndarray, chunk: int = 1024) -> int | None:
    """Index of the first sample (along axis 0) of ``x`` holding NaN or Inf, or None. Checked in chunks, so a
    memory-mapped split is not read into memory at once; integer arrays, and arrays that say they hold only finite
    values (``all_finite``, as event rasters do), are always finite."""
    if getattr(x, "all_finite", False):
        return None
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


def available_memory_bytes() -> int | None:
    """The memory the kernel says new allocations can get without swapping (MemAvailable), or None where
    /proc/meminfo does not say."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def require_memory(parts: dict[str, float], what: str) -> None:
    """Raise a MemoryError naming ``what``, the estimate by part (bytes) and the available memory when the
    estimate does not fit, before anything is allocated (a run must not train for a minute and then ask numpy
    for hundreds of GiB)."""
    available = available_memory_bytes()
    needed = sum(parts.values())
    if available is None or needed <= available:
        return
    detail = ", ".join(f"{name} {size / 2**30:.1f} GiB" for name, size in parts.items())
    raise MemoryError(
        f"{what} needs about {needed / 2**30:.1f} GiB ({detail}), but this machine has "
        f"{available / 2**30:.1f} GiB available"
    )
