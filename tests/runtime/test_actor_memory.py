"""A PE actor's process never loads numba when its PEs run the numpy kernel (the actor engine's choice at
sub-batch 1), which keeps its private memory near a bare Ray worker's (docs/runtime.md, "Memory per actor")."""

from __future__ import annotations

import subprocess
import sys


def test_the_pe_runtime_and_programs_import_no_compiled_code():
    probe = (
        "import sys\n"
        "import pe_actors, pe_actors.runtime.actor, pe_actors.rules.eprop.program, pe_actors.rules.eventprop.program\n"
        "import pe_actors as pa\n"
        "from pe_actors.rules.eprop.pe import PE\n"
        "import numpy as np\n"
        "c = pa.NetworkConfig(n_in=3, n_rec=4, n_out=2, n_steps=5)\n"
        "w = {'w_in': np.ones((3, 4)), 'w_rec': np.ones((4, 4)), 'w_out': np.ones((4, 2))}\n"
        "pe = PE(c, slice(0, 2), w, pa.OptimiserConfig(), kernel='numpy')\n"
        "pe.begin_sample(np.ones((1, 5, 3)))\n"
        "print('numba' in sys.modules)\n"
        "PE(c, slice(0, 2), w, pa.OptimiserConfig(), kernel='numba')\n"
        "print('numba' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
