"""A training run: from a :class:`~pe_actors.run.config.RunConfig` (and optionally the caller's arrays) to a
finished run directory (:mod:`pe_actors.run.rundir`), in plain steps.

:func:`train` resumes the configuration from a checkpoint if asked, makes its :class:`~pe_actors.run.plan.Plan`
(a pure step), takes the run directory (:class:`~pe_actors.run.context.RunContext`), checks the memory the run
needs, reads the data and fits the plan to them, starts the engine from the registry, hands it to
:class:`pe_actors.training.trainer.Trainer` with the run's callbacks (:mod:`pe_actors.training.callbacks`), and
writes the curves and the summary. It rebuilds failed groups of PE actors, and logs its lines through
:mod:`pe_actors.core.logs`. ``pe-actors train`` is one caller, ``pe_actors.train`` another, ``tune`` and the PCM
sweep others.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import Checkpoint, latest_checkpoint, load_checkpoint, resolve_checkpoint
from pe_actors.core.checks import require_memory
from pe_actors.core.logs import log
from pe_actors.core.state import check_weight_shapes
from pe_actors.engines.registry import make
from pe_actors.reports.curves import plot_histories
from pe_actors.reports.figures import write_json
from pe_actors.run.config import ConfigError, RunConfig, resolve
from pe_actors.run.context import RunContext, RunError
from pe_actors.run.data import Dataset, batch_augment, load_dataset
from pe_actors.run.initialisation import describe as describe_initialisation
from pe_actors.run.initialisation import scale_to_data
from pe_actors.run.plan import Plan, describe_synapses, plan, synapses_of_run
from pe_actors.run.rundir import DEFAULT_OUT, Run, RunDir, run_dir_of, unique_run_name
from pe_actors.studies.memory import run_memory_estimate
from pe_actors.training.callbacks import (
    CheckpointCallback,
    DeadRunError,
    HealthGuard,
    MetricsLog,
    ProgressBar,
    TensorBoardLog,
)
from pe_actors.training.trainer import (
    Callback,
    Recovered,
    Recovery,
    Trainer,
    TrainState,
    best_epoch,
)

__all__ = ["RunError", "describe_synapses", "resumed", "synapses_of_run", "train"]


def train(
    config: RunConfig,
    data: Any = None,
    callbacks: Sequence[Callback] = (),
    given: dict[str, Any] | None = None,
) -> Run:
    """Train as ``config`` says and return the finished :class:`~pe_actors.run.rundir.Run`.

    ``data``: arrays instead of the configured data (see :func:`pe_actors.run.data.arrays_dataset`);
    ``callbacks``: the caller's :class:`~pe_actors.training.trainer.Callback` objects, called after the run's own;
    ``given``: for a resumed run, the settings given explicitly (default: every setting of ``config``), which may
    differ from the recorded ones only where a resumed run may change them. Bad settings or data raise a
    :class:`~pe_actors.run.config.ConfigError` naming the setting; a run that cannot finish a
    :class:`~pe_actors.run.context.RunError`; Ctrl-C or SIGTERM stop it at the next batch boundary with
    KeyboardInterrupt, after that batch's checkpoint.
    """
    config, checkpoint = resumed(config, given)
    run_plan = plan(config)
    with RunContext(config.out or DEFAULT_OUT) as context:
        return _train(run_plan, checkpoint, context, data, callbacks)


def _train(run_plan: Plan, checkpoint: Checkpoint | None, context: RunContext, data: Any,
           callbacks: Sequence[Callback]) -> Run:
    """The steps of :func:`train` once the run owns its directory."""
    config, rundir = run_plan.config, context.rundir
    if checkpoint is None and rundir.has_checkpoints():
        raise ConfigError(f"run directory {rundir.path} already holds checkpoints; continue it with --resume "
                          f"{rundir.path} or choose another --out", "out")
    check_memory(run_plan)
    if checkpoint is not None and data is None and (checkpoint.record.data_metadata or {}).get("dataset") == "arrays":
        raise ConfigError(f"checkpoint {checkpoint.path} was trained on arrays passed by the caller, which no run "
                          "keeps; resume with the same arrays: pe_actors.train(resume=..., data=(x, labels))", "data")
    dataset = load_dataset(config, run_plan.network, data)
    run_plan = run_plan.fit(dataset.splits, dataset.class_names, data_origin(run_plan, data),
                            event_data=config.shd_dir is not None)
    if checkpoint is not None:
        check_resumable(checkpoint, dataset, run_plan)
    config.to_toml(rundir.run_config, "Run config of this run; reuse it with pe-actors train --config FILE")
    params = run_plan.init_params()
    initialisation = None
    if checkpoint is None and run_plan.weights is None and scaled_to_data(config, data) \
            and run_plan.rule.input_targets is not None:
        params, initialisation = scale_to_data(run_plan.rule, run_plan.network, params, dataset.splits.train[0])
        log.info(describe_initialisation(initialisation))
    elif checkpoint is not None:
        initialisation = checkpoint.record.initialisation
    options = run_plan.engine_options(unique_run_name(rundir.path))
    engine = make(run_plan.rule.name, run_plan.backend, run_plan.network, params, run_plan.optimiser, **options)
    context.start(engine, monitor=config.monitor)
    n = len(dataset.splits.train[0])
    samples = n if config.max_samples is None else min(n, config.max_samples)
    log.info(run_plan.describe(samples, dataset.synthetic, rundir.path))
    augment = batch_augment(config, dataset)
    run_callbacks = [*own_callbacks(run_plan, rundir, run_plan.record(dataset, augment, initialisation)),
                     *callbacks]
    run_callbacks.append(context.stop)  # last: the other callbacks have finished the batch when it stops the run
    recovery = ActorRecovery(rundir.checkpoints) if run_plan.on_actors else None
    trainer = Trainer(engine, dataset.splits, run_plan.optimiser, run_plan.train, run_callbacks, recovery, augment)
    state, seconds = fit(trainer, checkpoint, context)
    context.release()
    return finish(run_plan, dataset, state, seconds, rundir)


def resumed(config: RunConfig, given: dict[str, Any] | None = None) -> tuple[RunConfig, Checkpoint | None]:
    """``config`` continued from its ``resume`` checkpoint (its recorded settings, with the ``given`` ones where a
    resumed run may change them) and the checkpoint; ``config`` and None when it resumes nothing."""
    if config.resume is None:
        return config, None
    try:
        checkpoint = load_checkpoint(resolve_checkpoint(config.resume))
        recorded = checkpoint.record.run_config
    except ValueError as error:
        raise ConfigError(str(error), "resume") from None
    if recorded is None:
        raise ConfigError(f"checkpoint {checkpoint.path} holds no run config", "resume")
    given = {name: getattr(config, name) for name in RunConfig.names()} if given is None else given
    merged = resolve({**given, "resume": config.resume}, recorded=recorded)
    if merged.out is None:
        merged = merged.replace(out=run_dir_of(checkpoint.path))
    return merged, checkpoint


def check_memory(run_plan: Plan) -> None:
    """Refuse, before anything is allocated, a run whose working set (the rule's ``run_memory``: the engine's and,
    for data the run generates, their encoded inputs) does not fit the available memory (``pe-actors memory``
    reports the same estimate); a ConfigError names the setting that sizes it."""
    config, spec, network = run_plan.config, run_plan.rule, run_plan.network
    batch = run_plan.train.batch_size
    generated = config.data is None and config.shd_dir is None and config.source is None
    parts = run_memory_estimate(spec.name, network, batch, np.dtype(config.dtype).itemsize, generated)
    # The setting that sizes it: the rule's own that is given (EventProp's dt, sizes), else the sub-batch.
    field = next((name for name in ("dt", "sizes") if name in spec.setting_names and getattr(config, name) is not None),
                 "sizes" if "sizes" in spec.setting_names else "sub_batch")
    try:
        require_memory(parts, f"network {config.network} ({config.rule}, T = {network.n_steps}, batch {batch})")
    except MemoryError as error:
        raise ConfigError(str(error), field) from None


def scaled_to_data(config: RunConfig, data: Any) -> bool:
    """Whether the run's initial input weights are scaled to its data (``data_init``; auto: for event data and the
    caller's arrays)."""
    if config.data_init != "auto":
        return config.data_init == "on"
    return data is not None or config.shd_dir is not None


def data_origin(run_plan: Plan, data: Any) -> str:
    """How messages name the run's data."""
    config = run_plan.config
    given = config.data or config.shd_dir or config.source
    return str(given) if given else "arrays" if data is not None else run_plan.rule.data.description


def check_resumable(checkpoint: Checkpoint, dataset: Dataset, run_plan: Plan) -> None:
    """A ConfigError naming ``resume`` when the checkpoint was trained on other data (another feature hash) or
    holds weights of other shapes than the plan's network."""
    trained_on = (checkpoint.record.data_metadata or {}).get("hash")
    if trained_on is not None and dataset.metadata.get("hash") not in (None, trained_on):
        raise ConfigError(
            f"checkpoint {checkpoint.path} was trained on data with hash {trained_on[:12]}..., these data "
            f"have {dataset.metadata['hash'][:12]}... (other arrays, another --data, or a stand-in of another "
            "recipe); resuming would continue on other data",
            "resume",
        )
    try:
        shapes = run_plan.rule.weight_shapes(run_plan.network)
        check_weight_shapes(checkpoint.engine_state, shapes, f"checkpoint {checkpoint.path}")
    except ValueError as error:
        raise ConfigError(str(error), "resume") from None


def own_callbacks(run_plan: Plan, rundir: RunDir, record: Any) -> list[Callback]:
    """The run's own callbacks, in order: the health guard (first, so that the epoch's line, metrics and
    checkpoint hold what it measured), the progress bar and epoch lines, the metrics log, the checkpoints
    (recording ``record``), TensorBoard if asked, and the guard's stop of a dead run (after the checkpoint)."""
    config, spec, network = run_plan.config, run_plan.rule, run_plan.network
    measure = None if spec.silence is None else (lambda p, x, y: spec.silence(p, x, y, network))
    signs = spec.health(network) if spec.health is not None else {}
    guard = HealthGuard(measure, config.dead_epochs, advice={k: v[1] for k, v in signs.items()},
                        population={k: v[0] for k, v in signs.items() if v[0]})
    return [
        guard,
        ProgressBar(disable=not config.progress),
        MetricsLog(rundir.metrics, config.log_every),
        CheckpointCallback(rundir.checkpoints, config.checkpoint_every or None, config.keep_checkpoints,
                           record.to_meta()),
        *([TensorBoardLog(rundir.tensorboard)] if config.tensorboard else []),
        guard.stop,
    ]


def fit(trainer: Trainer, checkpoint: Checkpoint | None, context: RunContext) -> tuple[TrainState, float]:
    """Train from the start or from ``checkpoint`` until the last epoch, stoppable by signals; the final state and
    the seconds it took. A non-finite loss or a write error is a RunError naming what was kept."""
    checkpoints = context.rundir.checkpoints
    state: TrainState | None = None
    if checkpoint is not None:
        try:
            state = trainer.restore(checkpoint)
        except ValueError as error:
            raise ConfigError(str(error), "resume") from None
        log.info(f"Resumed from {checkpoint.path}: epoch {state.epoch + 1}, sample {state.position}")
    start = time.perf_counter()
    with context.stoppable():
        try:
            state = trainer.fit(state)
        except KeyboardInterrupt:
            log.warning(f"\nInterrupted; continue this run with: pe-actors train --resume {context.path}")
            raise
        except FloatingPointError as error:
            last = latest_checkpoint(checkpoints)
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
            raise RunError(f"training stopped: {error}; {kept}") from None
        except DeadRunError as error:
            raise RunError(f"{error} (docs/training.md, \"No run trains dead\"; --dead-epochs 0 never stops); its "
                           f"checkpoints and metrics are in {context.path}") from None
        except OSError as error:
            # A full disk or another write error: one line naming the file; the previous checkpoint stays.
            last = latest_checkpoint(checkpoints)
            kept = f"continue from {last} with --resume {context.path}" if last else "no checkpoint was written"
            raise RunError(f"cannot write {error.filename or 'the run directory'}: {error.strerror or error}"
                           f"{disk_full(error, context.path)}; {kept}") from None
    return state, time.perf_counter() - start


def disk_full(error: OSError, where: Path) -> str:
    """", the disk holding ``where`` is full (N MB free)" when ``error`` is a full disk's (ENOSPC, or numpy's short
    write, "N requested and M written", which carries no errno), else ""."""
    if error.errno != errno.ENOSPC and "requested and" not in str(error):
        return ""
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return f", the disk holding {where} is full"
    return f", the disk holding {where} is full ({free / 2**20:.1f} MB free)"


def finish(run_plan: Plan, dataset: Dataset, state: TrainState, seconds: float, rundir: RunDir) -> Run:
    """Write the curves and the summary of a finished run, log its result (the best-validation epoch's test
    accuracy, the line scripts read) and return it."""
    if not state.history:
        raise RunError("no epoch was trained")
    config = run_plan.config
    final, best = state.history[-1], best_epoch(state.history)
    label = " (synthetic stand-in data)" if dataset.synthetic else ""
    title = f"{config.network}, {config.rule}, batch {run_plan.train.batch_size}{label}"
    try:
        plot_histories({rundir.path.name: state.history}, rundir.curves_png, title)
    except OSError as error:
        # The figure is a picture of what metrics.jsonl and curves.json hold: its loss is not the run's.
        log.warning(f"could not write {rundir.curves_png}: {error.strerror or error}; the curves are in "
                    f"{rundir.curves_json}")
    write_json(rundir.curves_json, state.history)
    write_json(rundir.summary, {"final": final, "best_validation": best, "synthetic": dataset.synthetic,
                                "seconds": seconds, "run_config": config.recorded()})
    log.info(
        f"Last epoch {final['epoch']}: test accuracy {100 * final['test_accuracy']:.2f} % "
        f"(validation {100 * final['validation_accuracy']:.2f} %); curves in {rundir.curves_png}"
    )
    # The run's result: the best-validation epoch, whose checkpoint evaluate picks.
    log.info(
        f"Test accuracy: {100 * best['test_accuracy']:.2f} %{label} at epoch {best['epoch']} of {final['epoch']}, "
        f"the best by validation ({100 * best['validation_accuracy']:.2f} %)"
    )
    return Run.read(rundir.path)


class ActorRecovery(Recovery):
    """Rebuilds failed groups of PE actors: from the surviving replicas and then the failed call
    is retried; when some weight slice has no surviving replica (G = 1), from the latest checkpoint, and training
    continues from its position. Either way no sample's update is lost or applied twice."""

    def __init__(self, checkpoints: Path) -> None:
        self.checkpoints = checkpoints

    def recover(self, trainer: Trainer, state: TrainState, error: Exception) -> Recovered | None:
        from pe_actors.runtime.cluster import PEGroupError

        if not isinstance(error, PEGroupError):
            return None
        try:
            groups = trainer.engine.recover()
        except ValueError:
            path = latest_checkpoint(self.checkpoints)
            if path is None:
                return None
            checkpoint = load_checkpoint(path)
            trainer.engine.recover(state=checkpoint.engine_state)
            log.warning(f"\n{error}; rebuilt the PE actors from checkpoint {path}, continuing from there")
            return Recovered(rewind_to=checkpoint)
        log.warning(f"\n{error}; rebuilt group(s) {groups} from the surviving replicas, retrying the batch")
        return Recovered()
