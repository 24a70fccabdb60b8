"""The run: a validated run configuration (:mod:`~pe_actors.run.config`), one data entry point
(:mod:`~pe_actors.run.data`), the run directory (:mod:`~pe_actors.run.rundir`) and a training run from start to
summary (:mod:`~pe_actors.run.training`), for ``pe_actors.train``, ``pe-actors train``, tune and the sweeps."""
