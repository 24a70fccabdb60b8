"""The package's C extension; everything else is declared in setup.cfg.

The e-prop PE's per-synapse loops are compiled ahead of time (pe_actors/rules/eprop/_pe_kernels.c), so that a PE
actor never loads numba (docs/runtime.md, "Memory per actor"). The extension is optional: without a C compiler the
install goes on and the PEs use the numba or numpy kernels. setuptools reads extension modules only from here
(its pyproject.toml table would move all of setup.cfg's metadata there).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pe_actors.rules.eprop._pe_kernels",
            sources=["pe_actors/rules/eprop/_pe_kernels.c"],
            # No fused multiply-add and no reassociation: the loops round exactly like numba's and numpy's.
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math"],
            optional=True,
        )
    ]
)
