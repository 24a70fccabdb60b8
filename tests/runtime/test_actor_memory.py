"""A PE actor's process never loads numba when its PEs run the C or the numpy kernel (the actor engine's choice:
C where built), which keeps its private memory near a bare Ray worker's (docs/runtime.md, "Memory per actor")."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pe_actors.rules.eprop.pe import auto_kernel, compiled_kernels_built


def test_the_pe_runtime_and_programs_import_no_compiled_code():
    probe = (
        "import sys\n"
        "import pe_actors, pe_actors.runtime.actor, pe_actors.rules.eprop.program, pe_actors.rules.eventprop.program\n"
        "import pe_actors as pa\n"
        "from pe_actors.rules.eprop.pe import PE\n"
        "from pe_actors.rules.eprop.pe_group import run_forward\n"
        "import numpy as np\n"
        "c = pa.NetworkConfig(n_in=3, n_rec=4, n_out=2, n_steps=5)\n"
        "w = {'w_in': np.ones((3, 4)), 'w_rec': np.ones((4, 4)), 'w_out': np.ones((4, 2))}\n"
        "for kernel in KERNELS:\n"
        "    pe = PE(c, slice(0, 4), w, pa.OptimiserConfig(), kernel=kernel)\n"
        "    run_forward([pe], np.ones((3, 5, 3)))\n"
        "    pe.gradients(np.ones((3, 2)))\n"
        "    print('numba' in sys.modules)\n"
        "PE(c, slice(0, 2), w, pa.OptimiserConfig(), kernel='numba')\n"
        "print('numba' in sys.modules)\n"
    )
    kernels = ("c", "numpy") if compiled_kernels_built() else ("numpy",)
    probe = probe.replace("KERNELS", repr(kernels))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False"] * len(kernels) + ["True"]


@pytest.mark.skipif(not compiled_kernels_built(), reason="the C kernels are not built")
def test_the_actors_pick_the_c_kernel_at_every_sub_batch():
    assert [auto_kernel(k) for k in (1, 4, 64)] == ["c", "c", "c"]


@pytest.mark.ray
def test_pe_actor_processes_leave_out_pyarrow_and_pydantic_and_other_workers_keep_them(local_ray):
    ray = pytest.importorskip("ray")
    import numpy as np

    import pe_actors as pa
    from pe_actors.engines import make
    from pe_actors.runtime.cluster import UNUSED_IN_PE

    def loaded_in(_actor, names):  # defined here, so that Ray ships it by value
        import sys

        return [name in sys.modules for name in names]

    config = pa.NetworkConfig(n_in=4, n_rec=6, n_out=2, n_steps=5)
    with make("eprop", "actors", config, pa.init_params(config), pa.OptimiserConfig(), pes=2, sub_batch=2,
              record_metrics=False) as engine:
        engine.train_batch(np.ones((2, 5, 4)), np.array([0, 1]), 1e-3)  # arrays in and out: the serializers ran
        loaded = ray.get([actor.__ray_call__.remote(loaded_in, UNUSED_IN_PE) for actor in engine.groups[0]])
    assert loaded == [[False, False], [False, False]]

    @ray.remote
    def other_worker():
        import pyarrow  # noqa: F401

        return True

    assert ray.get(other_worker.remote())  # the job's other workers are left as they are
