"""``pe-actors train``: train a network with e-prop (or BPTT) on prepared features or the offline stand-in, or with
EventProp on Yin-Yang, with any engine.

A thin adapter: it parses the options (flags, a ``--config`` run config, or a ``--resume`` checkpoint's run
config), builds the data, the engine and the callbacks, and hands them to :class:`pe_actors.training.trainer.Trainer`.
The run directory (``--out``) receives ``run-config.toml`` (re-usable with ``--config``), ``metrics.jsonl``,
``checkpoints/``, ``curves.png`` (train/validation/test accuracy and loss per epoch, like the paper's Figure 5)
with ``curves.json`` beside it, and ``summary.json``.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from pe_actors.core.checkpoint import latest_checkpoint, load_checkpoint, resolve_checkpoint
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.state import check_weight_shapes
from pe_actors.engines.registry import backend_name, make
from pe_actors.reports.curves import plot_histories
from pe_actors.reports.figures import write_json
from pe_actors.rules.eprop.config import NETWORKS, NetworkConfig, network_config
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eventprop.config import EVENTPROP_NETWORKS, EventPropConfig
from pe_actors.synapses import DIGITAL, SynapseConfig
from pe_actors.training.tensorboard import TensorBoardLog
from pe_actors.training.trainer import (
    Callback,
    CheckpointCallback,
    MetricsLog,
    ProgressBar,
    Recovered,
    Recovery,
    Splits,
    TrainConfig,
    Trainer,
    TrainState,
    best_epoch,
)
from pe_actors_launcher.options import (
    CONFIG_DIR,
    MAX_SEED,
    FiniteFloatRange,
    config_option,
    existing_dir,
    read_run_config,
    write_run_config,
)
from pe_actors_launcher.synapse_options import describe, synapse_config, synapse_options

ENGINES = ("actors", "inprocess", "offchip", "replay")
RULES = ("eprop", "bptt", "eventprop")
#: The run config whose values are the defaults of ``--rule eventprop`` (flags and --config still win).
EVENTPROP_RECIPE = CONFIG_DIR / "yinyang-eventprop.toml"
#: Options that only EventProp networks take.
EVENTPROP_OPTIONS = ("dt", "tau0", "tau1", "alpha_reg", "sizes", "t_code", "init_mean", "init_std")
#: Options a resumed run may change: they do not change the results beyond float rounding.
RESUME_OVERRIDABLE = frozenset(
    {
        "epochs",
        "engine",
        "transport",
        "pes",
        "address",
        "dashboard_port",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "progress",
        "monitor",
        "tensorboard",
    }
)
#: Options that are not part of the recorded run config (where the run lives, not what it computes).
NOT_RECORDED = frozenset(
    {"config_file", "resume", "out", "address", "dashboard_port", "progress", "monitor", "tensorboard"}
)
PATH_OPTIONS = frozenset({"data", "cache"})


def plain(value: Any) -> Any:
    """A run-config value as msgpack and TOML hold it (paths as strings, layer sizes as "5,120,3")."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value) if isinstance(value, Path) else value


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory holding ``checkpoint`` (``RUN/checkpoints/ckpt-...``)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def merge_resumed(ctx: click.Context, options: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """The options of a resumed run: the checkpoint's recorded run config, with the options given on the command
    line (or by --config) applied where :data:`RESUME_OVERRIDABLE` allows; others that differ are an error."""
    merged = dict(options)
    for name, value in recorded.items():
        if name not in options:
            continue
        source = ctx.get_parameter_source(name)
        given = source not in (click.core.ParameterSource.DEFAULT, None)
        if given and plain(options[name]) != value and name not in RESUME_OVERRIDABLE:
            flag = "--" + name.replace("_", "-")
            raise click.BadParameter(
                f"the resumed run was trained with {flag} {value!r}; it cannot continue with {options[name]!r} "
                f"(a resumed run may change only {sorted(n.replace('_', '-') for n in RESUME_OVERRIDABLE)})",
                param_hint=flag,
            )
        if not (given and name in RESUME_OVERRIDABLE):
            merged[name] = Path(value) if name in PATH_OPTIONS and value is not None else value
    return merged


def load_data(data: Path | None, cache: Path, standin_size: str, echo: Callable[[str], None]) -> Any:
    """The prepared data: ``data`` if given, else the offline stand-in synthesised once into ``cache``."""
    from pe_actors_datasets import ensure_standin, load_prepared

    if data is None:
        echo(f"No --data: using the offline synthetic stand-in ({standin_size}) cached in {cache}")
        start = time.perf_counter()
        data = ensure_standin(cache, size=standin_size)
        echo(f"Stand-in features ready in {data} ({time.perf_counter() - start:.0f} s)")
    try:
        return load_prepared(data)
    except (FileNotFoundError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--data") from None


def load_yinyang(data: Path | None, config: EventPropConfig, echo: Callable[[str], None]) -> dict:
    """Yin-Yang encoded as input rasters for ``config``: from ``data`` (``<split>_features.npy`` and
    ``<split>_labels.npy``, as ``pe-actors data yinyang`` writes them) or generated offline with the published
    seeds."""
    from pe_actors.rules.eventprop.encoding import encode
    from pe_actors_datasets.yinyang import YINYANG_SPLITS, yinyang_splits

    if data is None:
        sizes = ", ".join(f"{split} {size}" for split, (size, _) in YINYANG_SPLITS.items())
        echo(f"No --data: generating Yin-Yang offline with the published seeds ({sizes})")
        splits = yinyang_splits()
    else:
        splits = {}
        for split in YINYANG_SPLITS:
            paths = [data / f"{split}_{part}.npy" for part in ("features", "labels")]
            missing = [str(path) for path in paths if not path.is_file()]
            if missing:
                raise click.BadParameter(f"Yin-Yang data lacks {missing}", param_hint="--data")
            try:
                splits[split] = tuple(np.load(path, allow_pickle=False) for path in paths)
            except (OSError, ValueError) as error:
                raise click.BadParameter(f"cannot read {paths[0]}: {error}", param_hint="--data") from None
    encoded = {}
    for split, (features, labels) in splits.items():
        try:
            encoded[split] = (encode(features, config, np.uint8), np.asarray(labels))
        except ValueError as error:
            raise click.BadParameter(f"{data or 'Yin-Yang'} {split} split: {error}", param_hint="--data") from None
    return encoded


def eventprop_network(options: dict[str, Any]) -> EventPropConfig:
    """The EventProp network the options describe: a named network, with --sizes, --dt (same trial length) and
    the loss constants applied."""
    from dataclasses import replace

    config = EVENTPROP_NETWORKS[options["network"]]
    options = dict(options)
    # A resumed run's recorded config holds the lists as "5,120,3" strings.
    for key, kind in (("sizes", int), ("init_mean", float), ("init_std", float)):
        if isinstance(options[key], str):
            options[key] = tuple(kind(part) for part in options[key].split(","))
    names = ("tau0", "tau1", "alpha_reg", "t_code", "init_mean", "init_std")
    changes = {key: options[key] for key in names if options[key] is not None}
    if options["sizes"] is not None:
        sizes = tuple(options["sizes"])
        changes["sizes"] = sizes
        if len(sizes) - 1 != config.n_layers and options["init_mean"] is None and options["init_std"] is None:
            # Other depths: every matrix takes the first matrix's initial scale, the last the output one's.
            n = len(sizes) - 1
            changes["init_mean"] = (*(config.init_mean[0],) * (n - 1), config.init_mean[-1])
            changes["init_std"] = (*(config.init_std[0],) * (n - 1), config.init_std[-1])
    given = " ".join(
        f"--{key.replace('_', '-')} {plain(options[key])}" for key in EVENTPROP_OPTIONS if options[key] is not None
    )
    try:
        config = replace(config, **changes)
        return config.with_dt(options["dt"]) if options["dt"] is not None else config
    except ValueError as error:
        raise click.BadParameter(f"network {options['network']} with {given}: {error}") from None


def apply_rule_defaults(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """With ``--rule eventprop``, options left at their defaults take the values of the EventProp recipe."""
    if options["rule"] != "eventprop":
        return options
    params = {param.name: param for param in ctx.command.params}
    recipe = read_run_config(EVENTPROP_RECIPE, set(params))
    merged = dict(options)
    for name, value in recipe.items():
        if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT:
            merged[name] = params[name].type_cast_value(ctx, value)
    return merged


def check_rule_options(ctx: click.Context, options: dict[str, Any]) -> None:
    """Options that the chosen rule cannot take are usage errors naming the option."""
    eventprop = options["rule"] == "eventprop"
    networks = EVENTPROP_NETWORKS if eventprop else NETWORKS
    if options["network"] not in networks:
        raise click.BadParameter(
            f"the {options['rule']} rule trains the network(s) {sorted(networks)}, not {options['network']!r}",
            param_hint="--network",
        )
    if eventprop and options["engine"] == "replay":
        raise click.BadParameter("replay is e-prop's off-chip engine; EventProp's is offchip", param_hint="--engine")
    if options["monitor"] and (options["engine"] != "actors" or options["rule"] == "bptt"):
        raise click.BadParameter(
            "--monitor watches the PE actors' Ray metrics; use it with --engine actors", param_hint="--monitor"
        )
    if options["synapses"] != "digital" and options["rule"] != "eprop":
        raise click.BadParameter(
            f"--synapses {options['synapses']} trains e-prop in the loop; the {options['rule']} rule trains digital "
            "weights",
            param_hint="--synapses",
        )
    if not eventprop:
        for name in EVENTPROP_OPTIONS:
            if options[name] is not None:
                raise click.BadParameter(
                    f"--{name.replace('_', '-')} is an EventProp option; give it with --rule eventprop",
                    param_hint=f"--{name.replace('_', '-')}",
                )


def parse_sizes(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    """``--sizes 5,120,3`` as a tuple of positive ints."""
    if value is None:
        return None
    try:
        sizes = tuple(int(part) for part in str(value).split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers", ctx, param) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise click.BadParameter(f"{value!r} needs at least two positive layer sizes", ctx, param)
    return sizes


def parse_floats(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    """``--init-mean 1.5,0.5`` as a tuple of floats (one per weight matrix)."""
    if value is None:
        return None
    try:
        return tuple(float(part) for part in str(value).split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers", ctx, param) from None


class ActorRecovery(Recovery):
    """Rebuilds failed groups of PE actors: from the surviving replicas and then the failed call
    is retried; when some weight slice has no surviving replica (G = 1), from the latest checkpoint, and training
    continues from its position. Either way no sample's update is lost or applied twice."""

    def __init__(self, checkpoints: Path, echo: Callable[[str], None]) -> None:
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


def start_engine(engine: Any) -> Any:
    """Start ``engine`` (for the PE actors: Ray, the placement groups, the actors, the mailboxes), print what the
    PE actors' start-up took and the dashboard's URL, and turn a failed start into a usage error."""
    try:
        engine.start()
    except (ConnectionError, RuntimeError, ValueError) as error:
        engine.close()
        raise click.ClickException(f"cannot start the PE actors: {error}") from None
    startup = getattr(engine, "startup", None)
    if startup:
        click.echo(
            f"Started {startup['actors']} PE actors in {startup['seconds']:.1f} s "
            f"({startup['seconds_per_actor']:.2f} s per actor, all groups at once)"
        )
    if getattr(engine, "dashboard_url", None):
        from pe_actors.runtime.cluster import dashboard_hint

        hint = dashboard_hint()
        click.echo(f"Ray dashboard: {engine.dashboard_url}" + (f" ({hint})" if hint else ""))
    return engine


def build_engine(
    options: dict[str, Any],
    config: NetworkConfig,
    params: dict,
    optimiser: OptimiserConfig,
    run_name: str,
    synapses: SynapseConfig = DIGITAL,
) -> tuple[Any, Callable[[], None]]:
    """The started engine the options ask for (from the registry) and a function that releases it with the
    Prometheus server of ``--monitor``."""
    rule_name = "eventprop" if options["rule"] == "eventprop" else "eprop"
    backend = "bptt" if options["rule"] == "bptt" else backend_name(rule_name, options["engine"])
    engine_options: dict[str, Any] = {
        "pes": options["pes"], "groups": options["groups"], "sub_batch": options["sub_batch"], "synapses": synapses
    }
    if backend == "actors":
        engine_options.update(
            transport=options["transport"],
            run_name=run_name,
            address=options["address"],
            dashboard_port=options["dashboard_port"],
        )
    engine = start_engine(make(rule_name, backend, config, params, optimiser, **engine_options))
    monitor = None
    if options["monitor"]:
        from pe_actors.runtime.monitor import PrometheusMonitor

        try:
            monitor = PrometheusMonitor(Path(options["out"] or "runs/train") / "prometheus").start()
        except (FileNotFoundError, RuntimeError) as error:
            engine.close()
            raise click.ClickException(f"--monitor: {error}") from None
        click.echo(f"Prometheus: {monitor.url} (scraping Ray's metrics, ray_pe_* among them; it stops with the run)")

    def release() -> None:
        engine.close()
        if monitor is not None:
            monitor.stop()

    return engine, release


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


def trainer_samples(data: Splits, config: TrainConfig) -> int:
    """Training samples per epoch: the train split, or --max-samples of it."""
    n = len(data.train[0])
    return n if config.max_samples is None else min(n, config.max_samples)


def _option(name: str, *flags: str, **kwargs: Any) -> Callable:
    return click.option(*flags, name, show_default=True, **kwargs)


@click.command("train")
@config_option
@_option(
    "network",
    "--network",
    type=click.Choice(sorted({**NETWORKS, **EVENTPROP_NETWORKS})),
    default="gsc",
    help="Network to train: gsc (e-prop and BPTT) or yinyang (EventProp; the default with --rule eventprop).",
)
@_option(
    "rule",
    "--rule",
    type=click.Choice(RULES),
    default="eprop",
    help="Learning rule: eprop (online, on the PEs), bptt (the reference BPTT trainer of the same network, same "
    "ADAM/L2; ignores --engine, --pes, --transport) or eventprop (exact adjoint gradients of a feed-forward LIF "
    "network on Yin-Yang; options left at their defaults then take configs/yinyang-eventprop.toml's values).",
)
@_option(
    "engine",
    "--engine",
    type=click.Choice(ENGINES),
    default="actors",
    help="actors: one Ray actor per PE; inprocess: the same PE programs in this process; offchip: the rule's fast "
    "off-chip engine (e-prop: replay, exact gradients from a stored forward pass; EventProp: the vectorised "
    "event-driven engine); replay: e-prop's off-chip engine by its own name.",
)
@_option(
    "transport",
    "--transport",
    type=click.Choice(["shm", "ray"]),
    default="shm",
    help="Per-step spike exchange of the actors engine: a shared-memory mailbox per group (one node) or Ray's "
    "own channels (groups spread over nodes).",
)
@_option(
    "pes",
    "--pes",
    type=click.IntRange(min=1),
    default=12,
    help="PEs per group, P (the e-prop paper: 12); for EventProp, PEs per layer (at most one per neuron).",
)
@_option("groups", "--groups", type=click.IntRange(min=1), default=1, help="Groups G (network replicas) per batch.")
@_option(
    "sub_batch",
    "--sub-batch",
    type=click.IntRange(min=1),
    default=32,
    help="Samples each PE vectorises, k; the mini-batch is G x k.",
)
@_option(
    "address",
    "--address",
    default=None,
    help="Ray cluster to join: 'auto' or 'ray://HOST:PORT'. Default: start an embedded local Ray "
    "(dashboard on 127.0.0.1).",
)
@_option(
    "dashboard_port",
    "--dashboard-port",
    type=click.IntRange(min=1, max=65535),
    default=8265,
    help="Port of the embedded local Ray's dashboard on 127.0.0.1 (a free one is picked if it is taken).",
)
@_option("epochs", "--epochs", type=click.IntRange(min=1), default=8, help="Epochs to train (in total, if resumed).")
@_option("lr", "--lr", type=FiniteFloatRange(min=0, min_open=True), default=0.01, help="ADAM learning rate.")
@_option("l2", "--l2", type=FiniteFloatRange(min=0), default=0.05e-5, help="L2 coefficient: loss + l2 sum W^2.")
@_option(
    "lr_decay",
    "--lr-decay",
    type=FiniteFloatRange(min=0, max=1, min_open=True),
    default=0.3,
    help="Factor applied to the learning rate every --decay-every epochs.",
)
@_option(
    "decay_every", "--decay-every", type=click.IntRange(min=1), default=6, help="Epochs between learning-rate decays."
)
@_option(
    "seed",
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=0,
    help="Seed of the initial weights and shuffling.",
)
@_option(
    "data",
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    callback=existing_dir,
    help="Prepared feature directory (pe-actors data prepare). Default: the offline synthetic stand-in, "
    "synthesised once into --cache.",
)
@_option(
    "cache",
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cache/standin"),
    help="Where the offline stand-in's audio and features are built once and reused (without --data).",
)
@_option(
    "standin_size",
    "--standin-size",
    type=click.Choice(["default", "small"]),
    default="default",
    help="Size of the offline stand-in (small: a few speakers, for tests).",
)
@_option(
    "out",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory: run-config.toml, metrics.jsonl, checkpoints/, curves.png, summary.json. "
    "Default: runs/train, or the resumed run's directory.",
)
@_option(
    "checkpoint_every",
    "--checkpoint-every",
    type=click.IntRange(min=0),
    default=1000,
    help="Write a checkpoint every N training samples (0: only at epoch ends, which always get one).",
)
@_option(
    "keep_checkpoints",
    "--keep-checkpoints",
    type=click.IntRange(min=1),
    default=3,
    help="Keep this many newest checkpoints (plus the best by validation accuracy).",
)
@_option(
    "resume",
    "--resume",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Continue a run from a run directory (its latest checkpoint) or a checkpoint directory; the run "
    "config comes from the checkpoint, and the run ends with the weights of an uninterrupted run.",
)
@_option(
    "dtype",
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    help="Floating-point type of weights and state (the chip uses float32).",
)
@_option(
    "max_samples",
    "--max-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Train on at most N samples per epoch (a fresh random subset each epoch), for quick runs.",
)
@_option(
    "dt",
    "--dt",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: time step in ms (the chip: 1); the trial keeps its length, so T grows as dt shrinks.",
)
@_option(
    "sizes",
    "--sizes",
    default=None,
    callback=parse_sizes,
    help="EventProp: layer sizes, input first, e.g. 5,120,3 (the yinyang network) or 5,64,64,3.",
)
@_option(
    "t_code",
    "--t-code",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: ms, latest input spike of the latency code (a feature v spikes at v t_code; default 15).",
)
@_option(
    "init_mean",
    "--init-mean",
    default=None,
    callback=parse_floats,
    help="EventProp: mean of each weight matrix's initial normal distribution in units of theta, one per "
    "matrix, e.g. 1.5,0.5 (the yinyang network's).",
)
@_option(
    "init_std",
    "--init-std",
    default=None,
    callback=parse_floats,
    help="EventProp: standard deviation of each weight matrix's initial distribution, e.g. 0.8,0.4.",
)
@_option(
    "tau0",
    "--tau0",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: ms, temperature of the first-spike-time softmax (network default 0.5).",
)
@_option(
    "tau1",
    "--tau1",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: ms, time constant of the early-spike regulariser (network default 6.4).",
)
@_option(
    "alpha_reg",
    "--alpha-reg",
    type=FiniteFloatRange(min=0),
    default=None,
    help="EventProp: weight of the regulariser alpha (exp(t_label / tau1) - 1) (network default 3e-3).",
)
@synapse_options
@_option(
    "monitor",
    "--monitor",
    is_flag=True,
    help="With --engine actors: start a Prometheus server on 127.0.0.1 (the Debian package prometheus) that scrapes "
    "Ray's metrics, the ray_pe_* ones among them, with the configuration Ray writes; prints its URL; stops with "
    "the run (its data stay in RUN/prometheus).",
)
@_option(
    "tensorboard",
    "--tensorboard",
    is_flag=True,
    help="Write TensorBoard event files into RUN/tensorboard: loss, accuracy and samples/s per batch, each PE's "
    "step latency and barrier wait (actors), and the epochs' train/validation/test loss and accuracy.",
)
@_option("log_every", "--log-every", type=click.IntRange(min=1), default=10, help="Batches per metrics.jsonl line.")
@_option("progress", "--progress/--no-progress", default=True, help="Show the progress bar.")
@click.pass_context
def train(ctx: click.Context, **options: Any) -> None:
    """Train a network with e-prop, BPTT or EventProp and report validation and test accuracy after each epoch.

    E-prop and BPTT: without --data the offline stand-in of Speech Commands is synthesised once into --cache, and
    every accuracy is labelled synthetic. EventProp: Yin-Yang is generated offline with the published seeds (or
    read from --data as written by pe-actors data yinyang). The Ray dashboard URL is printed when the actors
    engine starts Ray.
    """
    checkpoint = None
    if options["resume"] is not None:
        try:
            checkpoint = load_checkpoint(resolve_checkpoint(options["resume"]))
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--resume") from None
        recorded = checkpoint.meta.get("run_config")
        if not isinstance(recorded, dict):
            raise click.BadParameter(f"checkpoint {checkpoint.path} holds no run config", param_hint="--resume")
        options = merge_resumed(ctx, options, recorded)
        if options["out"] is None:
            options["out"] = run_dir_of(checkpoint.path)
    else:
        options = apply_rule_defaults(ctx, options)
    check_rule_options(ctx, options)
    synapses = synapse_config(options, options["seed"])
    eventprop = options["rule"] == "eventprop"
    out = Path(options["out"] or "runs/train")
    if checkpoint is None and (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        raise click.BadParameter(
            f"run directory {out} already holds checkpoints; continue it with --resume {out} or choose another --out",
            param_hint="--out",
        )
    if options["rule"] == "bptt" and ctx.get_parameter_source("engine") == click.core.ParameterSource.COMMANDLINE:
        click.echo("Note: --rule bptt trains with the reference BPTT engine; --engine is ignored.")

    try:
        optimiser = OptimiserConfig(
            lr=options["lr"], l2=options["l2"], lr_decay=options["lr_decay"], decay_every=options["decay_every"]
        )
        if eventprop:
            config = eventprop_network(options)
        else:
            config = network_config(options["network"])
            if options["pes"] > config.n_rec:
                raise ValueError(f"--pes {options['pes']} exceeds the {config.n_rec} recurrent neurons")
        train_config = TrainConfig(
            epochs=options["epochs"],
            batch_size=options["groups"] * options["sub_batch"],
            seed=options["seed"],
            max_samples=options["max_samples"],
            log_every=options["log_every"],
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None

    if eventprop:
        from pe_actors_datasets import YINYANG_CLASS_NAMES

        data = Splits.from_dict(load_yinyang(options["data"], config, click.echo))
        class_names, synthetic = YINYANG_CLASS_NAMES, False
        data_metadata = {"dataset": "yinyang", "source": str(options["data"] or "generated (published seeds)")}
    else:
        prepared = load_data(options["data"], options["cache"], options["standin_size"], click.echo)
        data = Splits.from_dict(prepared.splits)
        class_names, synthetic = list(prepared.class_names), bool(prepared.synthetic)
        data_metadata = json.loads(json.dumps(prepared.metadata, default=str))
    try:
        data.check(config.n_steps, config.n_in, config.n_out)
    except ValueError as error:
        raise click.BadParameter(f"{options['data'] or 'stand-in'}: {error}", param_hint="--data") from None
    label = " (synthetic stand-in data)" if synthetic else ""

    out.mkdir(parents=True, exist_ok=True)
    recorded = {key: plain(value) for key, value in options.items() if key not in NOT_RECORDED}
    write_run_config(
        out / "run-config.toml", recorded, header="Run config of this run; reuse it with pe-actors train --config FILE"
    )
    dtype = np.dtype(options["dtype"]).type
    if eventprop:
        from pe_actors.rules.eventprop.network import init_eventprop_params

        params = init_eventprop_params(config, seed=options["seed"], dtype=dtype)
    else:
        params = init_params(config, seed=options["seed"], dtype=dtype)
    if checkpoint is not None:
        try:
            check_weight_shapes(checkpoint.engine_state, params, f"checkpoint {checkpoint.path}")
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--resume") from None
    run_name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{out.resolve().name}-{int(time.time())}")[-64:]
    engine, release = build_engine(options, config, params, optimiser, run_name, synapses)
    try:
        engine_name = "bptt" if options["rule"] == "bptt" else options["engine"]
        click.echo(
            f"Training {options['network']} with {options['rule']} on the {engine_name} engine: "
            f"P = {options['pes']}, G = {options['groups']}, k = {options['sub_batch']}, batch "
            f"{train_config.batch_size}, {trainer_samples(data, train_config)} training samples per epoch{label}; "
            f"{describe(synapses)}; run directory {out}"
        )
        meta = {
            "run_config": recorded,
            "rule": options["rule"],
            "network": config.to_dict(),
            "optimiser": {"lr": optimiser.lr, "l2": optimiser.l2, "lr_decay": optimiser.lr_decay},
            "synapses": synapses.to_dict(),
            "class_names": list(class_names),
            "synthetic": synthetic,
            "data_metadata": data_metadata,
        }
        callbacks = [
            ProgressBar(disable=not options["progress"]),
            MetricsLog(out / "metrics.jsonl", options["log_every"]),
            CheckpointCallback(
                out / "checkpoints", options["checkpoint_every"] or None, options["keep_checkpoints"], meta
            ),
            *([TensorBoardLog(out / "tensorboard")] if options["tensorboard"] else []),
            # Callers that invoke the command from Python (pe_actors.train, pe-actors tune) add their own.
            *(ctx.obj or {}).get("callbacks", []),
        ]
        stop = StopRequest()
        callbacks.append(stop)  # last: the other callbacks have finished the batch when it stops the run
        recovery = ActorRecovery(out / "checkpoints", click.echo) if engine_name == "actors" else None
        trainer = Trainer(engine, data, optimiser, train_config, callbacks, recovery)
        state: TrainState | None = None
        if checkpoint is not None:
            try:
                state = trainer.restore(checkpoint)
            except ValueError as error:
                raise click.BadParameter(str(error), param_hint="--resume") from None
            click.echo(f"Resumed from {checkpoint.path}: epoch {state.epoch + 1}, sample {state.position}")
        start = time.perf_counter()
        # SIGTERM and Ctrl-C stop the run cleanly at the next batch boundary, with the resume hint. Installed after
        # Ray has started, so they replace the handler that would print Ray's C++ signal dump.
        main = threading.current_thread() is threading.main_thread()  # Ray Tune runs trials in a thread
        previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
        try:
            state = trainer.fit(state)
        except KeyboardInterrupt:
            click.echo(f"\nInterrupted; continue this run with: pe-actors train --resume {out}", err=True)
            raise click.Abort() from None
        except FloatingPointError as error:
            last = latest_checkpoint(out / "checkpoints")
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
            raise click.ClickException(f"training stopped: {error}; {kept}") from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        seconds = time.perf_counter() - start
    finally:
        release()
    if not state.history:
        raise click.ClickException("no epoch was trained")
    final, best = state.history[-1], best_epoch(state.history)
    title = f"{options['network']}, {options['rule']}, batch {train_config.batch_size}{label}"
    plot_histories({out.name: state.history}, out / "curves.png", title)
    write_json(out / "curves.json", state.history)
    write_json(
        out / "summary.json",
        {
            "final": final,
            "best_validation": best,
            "synthetic": synthetic,
            "seconds": seconds,
            "run_config": recorded,
        },
    )
    click.echo(
        f"Last epoch {final['epoch']}: test accuracy {100 * final['test_accuracy']:.2f} % "
        f"(validation {100 * final['validation_accuracy']:.2f} %); curves in {out / 'curves.png'}"
    )
    # The run's result, the line scripts read: the best-validation epoch, whose checkpoint evaluate picks.
    click.echo(
        f"Test accuracy: {100 * best['test_accuracy']:.2f} %{label} at epoch {best['epoch']} of {final['epoch']}, "
        f"the best by validation ({100 * best['validation_accuracy']:.2f} %)"
    )
