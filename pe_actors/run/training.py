"""A training run: from a :class:`~pe_actors.run.config.RunConfig` (and optionally the caller's arrays) to a
finished run directory (:mod:`pe_actors.run.rundir`).

:func:`train` builds the network and its initial weights, the data, the engine (from the registry, with Ray and
the PE actors started and released by it), the callbacks (progress bar, metrics log, checkpoints, TensorBoard,
the caller's, and a stop request that SIGTERM and Ctrl-C set), and hands them to
:class:`pe_actors.training.trainer.Trainer`; it resumes from a checkpoint, rebuilds failed groups of PE actors,
and writes the curves and the summary. ``pe-actors train`` is one caller, ``pe_actors.train`` another, ``tune``
and the PCM sweep others.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import latest_checkpoint, load_checkpoint, resolve_checkpoint
from pe_actors.core.checks import require_memory
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.state import check_weight_shapes
from pe_actors.engines.registry import make
from pe_actors.reports.curves import plot_histories
from pe_actors.reports.figures import write_json
from pe_actors.rules import PE_BACKENDS, rule, rule_and_backend, rule_names
from pe_actors.run import rundir
from pe_actors.run.config import (
    DEVICE_FIELDS,
    PCM_FIELDS,
    SYNAPSE_SETTINGS,
    ConfigError,
    RunConfig,
    check_schedule,
    flag,
    resolve,
    rule_settings,
    synapse_settings,
)
from pe_actors.run.data import Dataset, batch_augment, fit_network, load_dataset
from pe_actors.synapses import SynapseConfig, kind_names
from pe_actors.training.silence import SilenceGuard
from pe_actors.training.tensorboard import TensorBoardLog
from pe_actors.training.trainer import (
    Callback,
    CheckpointCallback,
    MetricsLog,
    ProgressBar,
    Recovered,
    Recovery,
    TrainConfig,
    Trainer,
    TrainState,
    best_epoch,
)

Echo = Callable[..., None]


class RunError(RuntimeError):
    """A run that started could not finish (a non-finite loss, PE actors that would not start, no epoch)."""


def print_line(message: str, err: bool = False) -> None:
    import sys

    print(message, file=sys.stderr if err else sys.stdout, flush=True)


def network_of(config: RunConfig) -> Any:
    """The network description ``config`` names, built by its rule (``Rule.network_of``: e-prop's named network,
    EventProp's with ``sizes``, ``dt`` and the loss constants applied); a ConfigError names what does not fit."""
    return rule(config.rule).network_of(config)


def check_rule_settings(config: RunConfig) -> None:
    """Settings that the chosen rule cannot take are ConfigErrors naming the setting: a network, engine or
    synapse kind it does not have, a setting of another rule, a schedule its PEs do not take."""
    spec = rule(config.rule)
    networks = spec.networks.resolve()
    if config.network not in networks:
        raise ConfigError(
            f"the {config.rule} rule trains the network(s) {sorted(networks)}, not {config.network!r}", "network"
        )
    try:
        _, backend = rule_and_backend(config.rule, config.engine)
    except ValueError as error:
        raise ConfigError(f"{error}; {spec.title}'s off-chip engine is {spec.offchip} (--engine offchip names "
                          "it for any rule)", "engine") from None  # fmt: skip
    if config.monitor and backend != PE_BACKENDS[1]:
        raise ConfigError("--monitor watches the PE actors' Ray metrics; use it with --engine actors", "monitor")
    if not spec.backend(backend).holds(config.synapses):
        kinds = " or ".join(spec.backend(backend).synapse_kinds())
        raise ConfigError(
            f"--synapses {config.synapses} needs another engine or rule; the {config.rule} rule trains {kinds} "
            f"weights on {backend}",
            "synapses",
        )
    check_schedule(config.schedule, config.rule)
    for name in rule_settings():
        if name not in spec.settings and getattr(config, name) is not None:
            owner = next(rule(n) for n in rule_names() if name in rule(n).settings)
            raise ConfigError(f"{flag(name)} is {owner.option_phrase()}; give it with --rule {owner.name}", name)


def synapses_of_run(config: RunConfig) -> SynapseConfig:
    """Where the weights of the run live; a device setting given for synapses that do not take it is a ConfigError
    naming it."""
    allowed = synapse_settings(config.synapses)
    for name in DEVICE_FIELDS + PCM_FIELDS:
        if getattr(config, name) is not None and name not in allowed:
            takers = " or ".join(kind for kind in kind_names() if name in synapse_settings(kind))
            raise ConfigError(f"{flag(name)} applies to --synapses {takers}, not {config.synapses}", name)
    given = {key: getattr(config, name) for key, name in SYNAPSE_SETTINGS.items() if getattr(config, name) is not None}
    try:
        return SynapseConfig(kind=config.synapses, seed=config.seed, **given)
    except ValueError as error:
        raise ConfigError(str(error), "synapses") from None


def describe_synapses(config: SynapseConfig) -> str:
    """One line naming the synapses, for the start of a run."""
    if not config.devices:
        return f"{config.kind} synapses"
    text = f"{config.kind} synapses, {config.bits} bits per device, g_max {config.g_max:g} uS"
    if "drift" in synapse_settings(config.kind):
        text += (
            f", noise scales programming {config.prog_noise:g} / drift {config.drift:g} / read {config.read_noise:g}"
            f", drift compensation {'on' if config.drift_compensation else 'off'}"
        )
    return text


class ActorRecovery(Recovery):
    """Rebuilds failed groups of PE actors: from the surviving replicas and then the failed call
    is retried; when some weight slice has no surviving replica (G = 1), from the latest checkpoint, and training
    continues from its position. Either way no sample's update is lost or applied twice."""

    def __init__(self, checkpoints: Path, echo: Echo) -> None:
        self.checkpoints = checkpoints
        self.echo = echo

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
            self.echo(f"\n{error}; rebuilt the PE actors from checkpoint {path}, continuing from there")
            return Recovered(rewind_to=checkpoint)
        self.echo(f"\n{error}; rebuilt group(s) {groups} from the surviving replicas, retrying the batch")
        return Recovered()


class StopRequest(Callback):
    """SIGTERM (a scheduler, ``kill``) or Ctrl-C stops the run at the next batch boundary, after that batch's
    checkpoint and metrics are written, so that a signal never lands inside a checkpoint write (an exception raised
    there from a signal handler can surface as an unrelated error); a second signal stops at once."""

    def __init__(self) -> None:
        self.requested = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_batch_end(self, trainer: Trainer, state: TrainState, batch: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer: Trainer, state: TrainState, record: dict[str, Any]) -> None:
        if self.requested:
            raise KeyboardInterrupt


def start_engine(engine: Any, echo: Echo = print_line) -> Any:
    """Start ``engine`` (for the PE actors: Ray, the placement groups, the actors, the mailboxes) and print what
    the PE actors' start-up took and the dashboard's URL; a failed start is a RunError."""
    try:
        engine.start()
    except (ConnectionError, RuntimeError, ValueError) as error:
        engine.close()
        raise RunError(f"cannot start the PE actors: {error}") from None
    startup = getattr(engine, "startup", None)
    if startup:
        echo(
            f"Started {startup['actors']} PE actors in {startup['seconds']:.1f} s "
            f"({startup['seconds_per_actor']:.2f} s per actor, all groups at once)"
        )
    if getattr(engine, "dashboard_url", None):
        from pe_actors.runtime.cluster import dashboard_hint

        hint = dashboard_hint()
        echo(f"Ray dashboard: {engine.dashboard_url}" + (f" ({hint})" if hint else ""))
    return engine


def build_engine(
    config: RunConfig, network: Any, params: dict, optimiser: OptimiserConfig, run_name: str,
    synapses: SynapseConfig, echo: Echo = print_line,
) -> tuple[Any, Callable[[], None]]:  # fmt: skip
    """The started engine ``config`` asks for (from the registry) and a function that releases it with the
    Prometheus server of ``monitor``."""
    spec, backend = rule_and_backend(config.rule, config.engine)
    options: dict[str, Any] = {
        "pes": config.pes, "groups": config.groups, "sub_batch": config.sub_batch, "synapses": synapses
    }  # fmt: skip
    if backend == PE_BACKENDS[1]:
        options.update(transport=config.transport, run_name=run_name, address=config.address,
                       dashboard_port=config.dashboard_port)  # fmt: skip
    if spec.takes("schedule", backend):
        options["schedule"] = config.schedule
    engine = start_engine(make(spec.name, backend, network, params, optimiser, **options), echo)
    monitor = None
    if config.monitor:
        from pe_actors.runtime.monitor import PrometheusMonitor

        try:
            monitor = PrometheusMonitor(Path(config.out or rundir.DEFAULT_OUT) / "prometheus").start()
        except (FileNotFoundError, RuntimeError) as error:
            engine.close()
            raise RunError(f"--monitor: {error}") from None
        echo(f"Prometheus: {monitor.url} (scraping Ray's metrics, ray_pe_* among them; it stops with the run)")

    def release() -> None:
        engine.close()
        if monitor is not None:
            monitor.stop()

    return engine, release


def check_memory(config: RunConfig, network: Any, batch: int) -> None:
    """Refuse, before anything is allocated, a run whose engine working set (for EventProp also its encoded
    Yin-Yang rasters) does not fit the available memory (the rule's ``run_memory``, which ``pe-actors memory``
    reports too); a ConfigError names the setting that sizes it."""
    spec = rule(config.rule)
    generated = config.data is None and config.shd_dir is None and config.source is None
    parts = spec.run_memory(network, batch, np.dtype(config.dtype).itemsize, generated)
    # The setting that sizes it: the rule's own that is given (EventProp's dt, sizes), else the sub-batch.
    field = next((name for name in ("dt", "sizes") if name in spec.settings and getattr(config, name) is not None),
                 "sizes" if "sizes" in spec.settings else "sub_batch")  # fmt: skip
    try:
        require_memory(parts, f"network {config.network} ({config.rule}, T = {network.n_steps}, batch {batch})")
    except MemoryError as error:
        raise ConfigError(str(error), field) from None


def resumed(config: RunConfig, given: dict[str, Any] | None = None) -> tuple[RunConfig, Any]:
    """``config`` continued from its ``resume`` checkpoint (its recorded settings, with the ``given`` ones where a
    resumed run may change them) and the checkpoint; ``config`` and None when it resumes nothing."""
    if config.resume is None:
        return config, None
    try:
        checkpoint = load_checkpoint(resolve_checkpoint(config.resume))
    except ValueError as error:
        raise ConfigError(str(error), "resume") from None
    recorded = checkpoint.meta.get("run_config")
    if not isinstance(recorded, dict):
        raise ConfigError(f"checkpoint {checkpoint.path} holds no run config", "resume")
    given = {name: getattr(config, name) for name in RunConfig.names()} if given is None else given
    merged = resolve({**given, "resume": config.resume}, recorded=recorded)
    if merged.out is None:
        merged = merged.replace(out=rundir.run_dir_of(checkpoint.path))
    return merged, checkpoint


def train(
    config: RunConfig,
    data: Any = None,
    callbacks: Sequence[Callback] = (),
    echo: Echo = print_line,
    given: dict[str, Any] | None = None,
) -> rundir.Run:
    """Train as ``config`` says and return the finished :class:`~pe_actors.run.rundir.Run`.

    ``data``: arrays instead of the configured data (see :func:`pe_actors.run.data.arrays_dataset`);
    ``callbacks``: the caller's :class:`~pe_actors.training.trainer.Callback` objects, called after the run's own;
    ``echo(message, err=False)``: where progress lines go; ``given``: for a resumed run, the settings given
    explicitly (default: every setting of ``config``), which may differ from the recorded ones only where a resumed
    run may change them. Bad settings or data raise a :class:`~pe_actors.run.config.ConfigError` naming the
    setting; a run that cannot finish a :class:`RunError`; Ctrl-C or SIGTERM stop it at the next batch boundary
    with KeyboardInterrupt, after that batch's checkpoint.
    """
    config, checkpoint = resumed(config, given)
    check_rule_settings(config)
    synapses = synapses_of_run(config)
    out = Path(config.out or rundir.DEFAULT_OUT)
    with rundir.owned(out):
        return _train_owned(config, checkpoint, synapses, out, data, callbacks, echo)


def _train_owned(
    config: RunConfig, checkpoint: Any, synapses: SynapseConfig, out: Path, data: Any,
    callbacks: Sequence[Callback], echo: Echo,
) -> rundir.Run:  # fmt: skip
    """The training run of :func:`train` once it owns its run directory ``out``."""
    spec = rule(config.rule)
    checkpoints = out / rundir.CHECKPOINTS
    if checkpoint is None and checkpoints.is_dir() and any(checkpoints.iterdir()):
        raise ConfigError(
            f"run directory {out} already holds checkpoints; continue it with --resume {out} or choose another --out",
            "out",
        )
    try:
        optimiser = OptimiserConfig(lr=config.lr, l2=config.l2, lr_decay=config.lr_decay,
                                    decay_every=config.decay_every)  # fmt: skip
        network = network_of(config)
        train_config = TrainConfig(
            epochs=config.epochs,
            batch_size=config.groups * config.sub_batch,
            seed=config.seed,
            max_samples=config.max_samples,
            log_every=config.log_every,
        )
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error)) from None
    check_memory(config, network, train_config.batch_size)
    dataset: Dataset = load_dataset(config, network, data, echo)
    if config.shd_dir is not None:
        network = fit_network(network, dataset)
    try:
        dataset.splits.check(network.n_steps, network.n_in, network.n_out)
    except ValueError as error:
        where = config.data or config.shd_dir or config.source or (
            "arrays" if data is not None else spec.data.description
        )
        raise ConfigError(f"{where}: {error}", "data") from None
    if len(dataset.class_names) != network.n_out:
        # labels below n_out pass the split check, but a layer of another size would train the wrong outputs
        names = ", ".join(map(str, dataset.class_names[:6])) + (", ..." if len(dataset.class_names) > 6 else "")
        raise ConfigError(
            f"the network's output layer has {network.n_out} neurons but the data have {len(dataset.class_names)} "
            f"classes ({names})",
            "sizes" if "sizes" in spec.settings else "network",
        )
    if checkpoint is not None:
        trained_on = (checkpoint.meta.get("data_metadata") or {}).get("hash")
        if trained_on is not None and dataset.metadata.get("hash") not in (None, trained_on):
            raise ConfigError(
                f"checkpoint {checkpoint.path} was trained on features with hash {trained_on[:12]}..., these data "
                f"have {dataset.metadata['hash'][:12]}... (another --data, or a stand-in of another recipe); "
                "resuming would continue on other data",
                "resume",
            )
    label = " (synthetic stand-in data)" if dataset.synthetic else ""

    out.mkdir(parents=True, exist_ok=True)
    recorded = config.recorded()
    config.to_toml(out / rundir.RUN_CONFIG, "Run config of this run; reuse it with pe-actors train --config FILE")
    dtype = np.dtype(config.dtype).type
    params = spec.init_params(network, seed=config.seed, dtype=dtype)
    if checkpoint is not None:
        try:
            check_weight_shapes(checkpoint.engine_state, spec.weight_shapes(network), f"checkpoint {checkpoint.path}")
        except ValueError as error:
            raise ConfigError(str(error), "resume") from None
    run_name = rundir.unique_run_name(out)
    engine, release = build_engine(config, network, params, optimiser, run_name, synapses, echo)
    try:
        engine_name = rule_and_backend(config.rule, config.engine)[1] if config.rule in spec.aliases else config.engine
        n = len(dataset.splits.train[0])
        train_samples = n if train_config.max_samples is None else min(n, train_config.max_samples)
        echo(
            f"Training {config.network} with {config.rule} on the {engine_name} engine: "
            f"P = {config.pes}, G = {config.groups}, k = {config.sub_batch}, batch "
            f"{train_config.batch_size}, {train_samples} training samples per "
            f"epoch{label}; {describe_synapses(synapses)}; run directory {out}"
        )
        augment = batch_augment(config, dataset, echo)
        meta = {
            "run_config": recorded,
            "rule": config.rule,
            "network": network.to_dict(),
            "optimiser": {"lr": optimiser.lr, "l2": optimiser.l2, "lr_decay": optimiser.lr_decay},
            "synapses": synapses.to_dict(),
            "class_names": list(dataset.class_names),
            "synthetic": dataset.synthetic,
            "data_metadata": dataset.metadata,
            "augmentation": augment.describe() if augment is not None else None,
        }
        measure = spec.silence
        run_callbacks = [
            # First, so that the epoch's line, metrics and checkpoint hold what it measured.
            *([SilenceGuard(lambda p, x, y: measure(p, x, y, network), echo)] if measure else []),
            ProgressBar(disable=not config.progress),
            MetricsLog(out / rundir.METRICS, config.log_every),
            CheckpointCallback(checkpoints, config.checkpoint_every or None, config.keep_checkpoints, meta),
            *([TensorBoardLog(out / "tensorboard")] if config.tensorboard else []),
            *callbacks,
        ]
        stop = StopRequest()
        run_callbacks.append(stop)  # last: the other callbacks have finished the batch when it stops the run
        recovery = ActorRecovery(checkpoints, echo) if engine_name == PE_BACKENDS[1] else None
        trainer = Trainer(engine, dataset.splits, optimiser, train_config, run_callbacks, recovery, augment)
        state: TrainState | None = None
        if checkpoint is not None:
            try:
                state = trainer.restore(checkpoint)
            except ValueError as error:
                raise ConfigError(str(error), "resume") from None
            echo(f"Resumed from {checkpoint.path}: epoch {state.epoch + 1}, sample {state.position}")
        start = time.perf_counter()
        # SIGTERM and Ctrl-C stop the run cleanly at the next batch boundary, with the resume hint. Installed after
        # Ray has started, so they replace the handler that would print Ray's C++ signal dump.
        main = threading.current_thread() is threading.main_thread()  # Ray Tune runs trials in a thread
        previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
        try:
            state = trainer.fit(state)
        except KeyboardInterrupt:
            echo(f"\nInterrupted; continue this run with: pe-actors train --resume {out}", err=True)
            raise
        except FloatingPointError as error:
            last = latest_checkpoint(checkpoints)
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
            raise RunError(f"training stopped: {error}; {kept}") from None
        except OSError as error:
            # A full disk or another write error: one line naming the file; the previous checkpoint stays.
            last = latest_checkpoint(checkpoints)
            kept = f"continue from {last} with --resume {out}" if last else "no checkpoint was written"
            raise RunError(f"cannot write {error.filename or 'the run directory'}: {error.strerror or error}; "
                           f"{kept}") from None  # fmt: skip
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        seconds = time.perf_counter() - start
    finally:
        release()
    if not state.history:
        raise RunError("no epoch was trained")
    final, best = state.history[-1], best_epoch(state.history)
    title = f"{config.network}, {config.rule}, batch {train_config.batch_size}{label}"
    plot_histories({out.name: state.history}, out / rundir.CURVES_PNG, title)
    write_json(out / rundir.CURVES_JSON, state.history)
    write_json(
        out / rundir.SUMMARY,
        {"final": final, "best_validation": best, "synthetic": dataset.synthetic, "seconds": seconds,
         "run_config": recorded},
    )  # fmt: skip
    echo(
        f"Last epoch {final['epoch']}: test accuracy {100 * final['test_accuracy']:.2f} % "
        f"(validation {100 * final['validation_accuracy']:.2f} %); curves in {out / rundir.CURVES_PNG}"
    )
    # The run's result, the line scripts read: the best-validation epoch, whose checkpoint evaluate picks.
    echo(
        f"Test accuracy: {100 * best['test_accuracy']:.2f} %{label} at epoch {best['epoch']} of {final['epoch']}, "
        f"the best by validation ({100 * best['validation_accuracy']:.2f} %)"
    )
    return rundir.Run.read(out)
