"""Worker processes of the data pools: one BLAS thread each, and they die with the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from pe_actors_datasets.features import pin_blas_threads

#: prctl option that delivers a signal to this process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux; elsewhere nothing), and exit now if
    the parent ``parent`` is already gone (it died before the request was made)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            return
    if os.getppid() != parent:
        os._exit(1)


def init_worker(parent: int) -> None:
    """Initializer of the feature and synthesis pools: die with ``parent`` (a killed ``data prepare`` leaves no
    workers behind) and pin BLAS to one thread."""
    die_with_parent(parent)
    pin_blas_threads()
