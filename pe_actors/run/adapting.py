"""An adaptation run: a trained network keeps learning online at batch 1 on a new condition (docs/adaptation.md).

:func:`adapt` works in plain steps: :func:`prepare` reads the checkpoint and checks the settings against its rule
and synapses (an :class:`Adapting`), :func:`samples` reads the new condition's adaptation and evaluation samples
and the original task's, then within a :class:`~pe_actors.run.context.RunContext` the memory per PE is reported
(``memory.json``, ``.png``), the network is placed on the PE actors (or another backend) with a fresh ADAM and
handed to :func:`pe_actors.training.adaptation.adapt`, and the curves (``adaptation.csv``, ``.json``, ``.png``)
and the adapted checkpoint are written. ``pe-actors adapt`` and ``pe_actors.adapt`` are its callers.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint, save_checkpoint
from pe_actors.core.checks import require_finite
from pe_actors.core.classify import check_labels
from pe_actors.core.engine import weights_only
from pe_actors.core.logs import log
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.settings import compose
from pe_actors.core.state import check_weight_shapes
from pe_actors.engines.registry import checkpoint_network, checkpoint_synapses, make
from pe_actors.reports.figures import pyplot, save_figure, write_csv, write_json
from pe_actors.reports.memory import PE_SRAM_BYTES, plot_pe_memory
from pe_actors.rules import PE_BACKENDS, Rule, rule, rule_names, rule_of
from pe_actors.run.config import (
    DEVICE_FIELDS,
    HELP_SYNAPSES,
    MAX_SEED,
    PCM_FIELDS,
    ConfigError,
    Placement,
    RunConfig,
    Settings,
    SynapseSettings,
    check_schedule,
    float_range,
    int_range,
    setting,
    synapse_settings,
)
from pe_actors.run.context import RunContext, RunError
from pe_actors.run.data import READERS, feature_metadata, load_splits, recorded_views, source
from pe_actors.run.plan import describe_synapses, synapses_of_run
from pe_actors.run.rundir import RunDir, run_dir_of, unique_run_name
from pe_actors.synapses import SynapseConfig
from pe_actors.training.adaptation import Adaptation, AdaptConfig, fresh_optimiser
from pe_actors.training.adaptation import adapt as adapt_online
from pe_actors.training.trainer import NonFiniteError


def default_lr(network: Any) -> float:
    """The adaptation learning rate when none is given: the rule's (``Rule.adaptation.lr``; e-prop 0.0015, EventProp
    0.003, or 0.0003 for a network trained without the loss's voltage term; docs/adaptation.md)."""
    return rule_of(network).adaptation.lr(network)


def frozen_weights(config: AdaptRunConfig, network: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The weight arrays that do not learn (``config.freeze``: "none" or names, else the rule's default) and the
    ones that do."""
    spec = rule_of(network)
    valid = tuple(spec.weight_shapes(network))
    if config.freeze is None:
        names = spec.adaptation.frozen
        return names, tuple(name for name in valid if name not in names)
    names = tuple(name.strip() for name in config.freeze.split(",") if name.strip() not in ("", "none"))
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ConfigError(f"--freeze {config.freeze!r}: {unknown} are not weights of this network; choose from "
                          f"{list(valid)} or none", "freeze")
    if set(valid) <= set(names):
        raise ConfigError(f"--freeze {config.freeze!r} freezes every weight: nothing would learn", "freeze")
    return names, tuple(name for name in valid if name not in names)


#: Adaptation samples when none are asked for (fewer when the new condition holds fewer).
DEFAULT_SAMPLES = 300
NEW, ORIGINAL = "new_condition", "original_task"


def _per_rule(value: Callable[[Rule], str]) -> str:
    """A default that depends on the checkpoint's rule, as ``--help`` states it: "e-prop 1, EventProp 0"."""
    return ", ".join(f"{rule(name).title} {value(rule(name))}" for name in rule_names())


def _help_lr() -> str:
    return ("ADAM learning rate, constant while adapting; ADAM starts fresh [default: "
            f"{_per_rule(lambda r: r.adaptation.lr_text)}].")


def _help_rehearse_every() -> str:
    return ("Rehearsal against forgetting: after every K adaptation samples, one more learning step on a sample of "
            "the original task's training split (held by the host, not in a PE's SRAM). 0: never. [default: "
            f"{_per_rule(lambda r: str(r.adaptation.rehearse_every))}]")


def _help_freeze() -> str:
    return ("Weights that do not learn while adapting, comma-separated, or none: e-prop w_in, w_rec, w_out; "
            f"EventProp w_0 (input to first layer), w_1, ... [default: "
            f"{_per_rule(lambda r: ','.join(r.adaptation.frozen) or 'none')}; e-prop's only input weights "
            "learning: the new voice is in the input, and the original task forgets least]. docs/adaptation.md, "
            "'Forgetting'.")


@dataclass(frozen=True)
class AdaptSettings(Settings):
    """The settings only an adaptation run has: the trained network, the new condition and the original task,
    how it learns, and where it writes."""

    checkpoint: Path = setting(
        default=None, kind="path", folder="exists", optional=True,
        help=(
            'The trained network: a checkpoint directory, or a run directory (its best checkpoint by '
            'validation), from any engine.'
        ),
    )
    gsc_dir: Path | None = setting(
        default=None, kind="path", folder="existing", optional=True,
        help=(
            'The new condition as a GSC-layout folder (pe-actors data synth --condition): adaptation samples '
            'are the clips in neither validation_list.txt nor testing_list.txt (or --adapt-list), evaluation '
            "clips testing_list.txt; featurised with the checkpoint's feature parameters and normalisation."
        ),
    )
    data: Path | None = setting(
        default=None, kind="path", folder="existing", optional=True,
        help=(
            'The new condition as features instead: prepared GSC features (their train split adapts, their '
            'test split evaluates), or for an EventProp checkpoint a Yin-Yang directory (pe-actors data '
            'yinyang --rotate).'
        ),
    )
    adapt_list: Path | None = setting(
        default=None, kind="path", folder="file", optional=True,
        help=(
            'With --gsc-dir: a file of clip paths (relative to the folder) to adapt on instead of the '
            'training clips, the first --per-class of each class in list order.'
        ),
    )
    per_class: int | None = setting(
        default=None, **int_range(1, optional=True),
        help=(
            'With --adapt-list: clips taken per class [default: all listed].'
        ),
    )
    original_data: Path | None = setting(
        default=None, kind="path", folder="existing", optional=True,
        help=(
            "The original task's data, whose test split measures forgetting [default: the data the checkpoint "
            'was trained on: its --data, else the offline stand-in (EventProp: Yin-Yang with the published '
            'seeds)].'
        ),
    )
    cache: Path = setting(
        default=Path("cache/standin"), kind="path", folder="any",
        help=(
            'Where the offline stand-in is cached when the original task is the stand-in.'
        ),
    )
    samples: int | None = setting(
        default=None, **int_range(1, optional=True),
        help=(
            'Adaptation samples: learning steps at batch 1, drawn without replacement in an order seeded by '
            '--seed [default: 300, or all the new condition holds when it holds fewer].'
        ),
    )
    eval_every: int = setting(
        default=10, **int_range(1),
        help=(
            "Adaptation samples between evaluations on the new condition's held-out samples and the original "
            'test set (also before the first and after the last).'
        ),
    )
    lr: float | None = setting(default=None, **float_range(0, low_open=True, optional=True), help=_help_lr)
    rehearse_every: int | None = setting(default=None, **int_range(0, optional=True), help=_help_rehearse_every)
    freeze: str | None = setting(default=None, kind="str", optional=True, help=_help_freeze)
    drift_before: float = setting(
        default=0.0, **float_range(0),
        help=(
            'Seconds of device time (drift) between placing the network on its synapses and the first '
            'adaptation sample; for pcm synapses.'
        ),
    )
    seed: int = setting(
        default=0, **int_range(0, MAX_SEED),
        help=(
            "Seed of the order of the adaptation samples (and of new devices' noise)."
        ),
    )
    out: Path = setting(
        default=Path("runs/adapt"), kind="path", folder="any",
        help=(
            'Directory for adaptation.csv/.json/.png, memory.json/.png and checkpoints/ (the adapted '
            'network).'
        ),
    )
    workers: int = setting(default=2, **int_range(1), help='Threads featurising a --gsc-dir folder.')
    progress: bool = setting(default=True, kind="bool", help='Show the progress bars.')


class AdaptRunConfigBase:
    """Every setting of an adaptation run (``pe-actors adapt --help`` explains each): the ``checkpoint``; the new
    condition as a GSC-layout folder (``gsc_dir``, optionally ``adapt_list`` and ``per_class``) or features
    (``data``); the original task (``original_data``, ``cache``); the learning (``samples``, ``eval_every``,
    ``lr``, ``rehearse_every``, ``freeze``, ``seed``; ``samples`` None: :data:`DEFAULT_SAMPLES`, or all the
    condition holds when fewer; ``rehearse_every`` and ``freeze`` None: the rule's ``adaptation`` defaults); where
    it runs (``engine``, ``pes``, ``transport``, EventProp's ``schedule``, ``address``, ``dashboard_port``); the
    synapses (``synapses``, None: the checkpoint's, and the device settings;
    ``drift_before``); and the output (``out``, ``workers``, ``progress``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.checkpoint is None:
            raise ConfigError("checkpoint is required: the run or checkpoint directory of a trained network",
                              "checkpoint")

    @classmethod
    def of(cls, config: Any[str, Any] | None = None, **given: Any) -> Any:
        """``config`` (a mapping or an AdaptRunConfig) with the settings ``given`` over it; an unknown setting is
        a TypeError naming it."""
        base = {} if config is None else dict(config) if isinstance(config, Mapping) else dataclasses.asdict(config)
        values = {**base, **given}
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise TypeError(f"unknown option {unknown[0]!r}; valid options are {sorted(cls.names())}")
        return cls(**values)




#: Every setting of an adaptation run: its own (:class:`AdaptSettings`), where the PEs run and where the weights
#: live, declared once in the training run's sections (:mod:`pe_actors.run.config`).
AdaptRunConfig = compose(
    "AdaptRunConfig",
    AdaptRunConfigBase,
    [AdaptSettings, (Placement, ("engine", "pes", "transport", "schedule", "address", "dashboard_port")),
     SynapseSettings],
    overrides={
        "synapses": {"default": None, "optional": True, "help": lambda: HELP_SYNAPSES() + " [default: the "
                     "checkpoint's]"},
        "pes": {"help": "PEs per group (EventProp: per layer)."},
    },
    module=__name__,
)


def condition_samples(checkpoint: Checkpoint, config: AdaptRunConfig, network: Any) -> tuple:
    """The new condition's adaptation pool and evaluation set, and where they came from: the train and test splits
    of ``data`` read by the rule's folder source (through its input code), or the clips of a GSC-layout folder
    featurised as the checkpoint's features were (on ``workers`` threads, with a progress bar if ``progress`` and
    a terminal shows it)."""
    if (config.gsc_dir is None) == (config.data is None):
        raise ConfigError("give exactly one of --gsc-dir DIR (a GSC-layout folder) or --data DIR (features)")
    spec = rule_of(network)
    if config.data is not None:
        if config.adapt_list is not None:
            raise ConfigError("--adapt-list selects clips of a --gsc-dir folder", "adapt_list")
        splits = load_splits(spec.name, network, config.data).splits
        pool = tuple(np.asarray(a) for a in splits.train)
        held_out = tuple(np.asarray(a) for a in splits.test)
        return pool, held_out, f"{config.data} (train split: adaptation, test split: evaluation)"
    try:
        metadata = feature_metadata(checkpoint.record)
    except ConfigError as error:
        raise ConfigError(f"{error}; a checkpoint of the {spec.title} rule on {spec.data.description} adapts on "
                          f"data its source reads ({spec.data.folder}: --data DIR)", "gsc_dir") from None
    featurise = source("gsc_folder", READERS)
    try:
        common = {"workers": config.workers, "progress": config.progress}
        pool = featurise(config.gsc_dir, metadata, split="train", clip_list=config.adapt_list,
                         per_class=config.per_class, **common)
        held_out = featurise(config.gsc_dir, metadata, split="test", **common)
    except (FileNotFoundError, ValueError) as error:
        listed = config.adapt_list is not None and str(config.adapt_list) in str(error)
        raise ConfigError(str(error), "adapt_list" if listed else "gsc_dir") from None
    what = f"the first {config.per_class} per class of {config.adapt_list}" if config.adapt_list else (
        "clips in neither list"
    )
    return pool, held_out, f"{config.gsc_dir} (adaptation: {what}; evaluation: testing_list.txt)"


def original_samples(checkpoint: Checkpoint, config: AdaptRunConfig, network: Any) -> tuple:
    """The original task's training and test sets: ``original_data`` or the data the checkpoint was trained on."""
    recorded = checkpoint.record.run_config or {}
    data = config.original_data if config.original_data is not None else recorded.get("data")
    data = Path(data) if data is not None else None
    cache = Path(recorded.get("cache") or config.cache) if config.original_data is None else config.cache
    augment, views = recorded_views(recorded) if data is None else ((), 0)
    named = recorded.get("source") if config.original_data is None else None
    try:
        splits = load_splits(rule_of(network).name, network, data, cache=cache,
                             size=recorded.get("standin_size") or "default", augment=augment, views=views,
                             source_name=named, seed=int(recorded.get("seed", 0))).splits
    except ConfigError as error:
        raise ConfigError(str(error), "original_data") from None
    return tuple(tuple(np.asarray(a) for a in getattr(splits, split)) for split in ("train", "test"))


@dataclass(frozen=True)
class Adapting:
    """What an adaptation works with once its settings are checked: its ``config`` (with the rule's defaults
    filled in), the ``checkpoint``, its rule ``spec`` and ``network``, the ``synapses`` the weights adapt on, the
    weights left ``frozen`` and ``learning``, and the learning rate ``lr``."""

    config: AdaptRunConfig
    checkpoint: Checkpoint
    spec: Rule
    network: Any
    synapses: SynapseConfig
    frozen: tuple[str, ...]
    learning: tuple[str, ...]
    lr: float


def prepare(config: AdaptRunConfig) -> Adapting:
    """Read the checkpoint and check ``config`` against its rule, network and synapses; a ConfigError names the
    setting that does not fit."""
    try:
        checkpoint = load_checkpoint(resolve_checkpoint(config.checkpoint, prefer="best"))
        spec, network = checkpoint_network(checkpoint.record, f"checkpoint {checkpoint.path}")
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(str(error), "checkpoint") from None
    recorded_rule = checkpoint.record.rule
    if recorded_rule in spec.aliases:
        log.warning(f"The checkpoint was trained with {recorded_rule} ({spec.aliases[recorded_rule]}); its weights "
                    f"adapt with {spec.title} on the PEs")
    synapses = adapting_synapses(config, checkpoint, network)
    if config.drift_before > 0 and "drift" not in synapse_settings(synapses.kind):
        raise ConfigError("drift needs --synapses pcm (or a pcm checkpoint)", "drift_before")
    try:
        spec.backend(config.engine)
    except ValueError as error:
        raise ConfigError(str(error), "engine") from None
    if config.per_class is not None and config.adapt_list is None:
        raise ConfigError("--per-class counts clips of an --adapt-list", "per_class")
    try:
        spec.group(network, config.pes)
    except ValueError as error:
        raise ConfigError(f"--pes {config.pes}: {error}", "pes") from None
    check_schedule(config.schedule, spec.name)
    if config.rehearse_every is None:
        config = dataclasses.replace(config, rehearse_every=spec.adaptation.rehearse_every)
    frozen, learning = frozen_weights(config, network)
    lr = config.lr or default_lr(network)
    return Adapting(config, checkpoint, spec, network, synapses, frozen, learning, lr)


@dataclass(frozen=True)
class Samples:
    """The samples of an adaptation: the new condition's ``pool`` and ``held_out`` evaluation set, the original
    task's training split (``rehearsal``) and test split (``original``), and a description of their ``source``."""

    pool: tuple[np.ndarray, np.ndarray]
    held_out: tuple[np.ndarray, np.ndarray]
    rehearsal: tuple[np.ndarray, np.ndarray]
    original: tuple[np.ndarray, np.ndarray]
    source: str


def samples(adapting: Adapting) -> tuple[Samples, Adapting]:
    """The samples of ``adapting``, checked against its network, and ``adapting`` with the number of adaptation
    samples filled in when none was asked for (:data:`DEFAULT_SAMPLES`, or all the condition holds)."""
    config, network = adapting.config, adapting.network
    pool, held_out, source_text = condition_samples(adapting.checkpoint, config, network)
    rehearsal, original = original_samples(adapting.checkpoint, config, network)
    checked = [("adaptation", pool), ("evaluation", held_out), ("original test", original)]
    if config.rehearse_every:
        checked.append(("original training (rehearsal)", rehearsal))
    for name, (x, labels) in checked:
        if x.ndim != 3 or x.shape[1:] != (network.n_steps, network.n_in):
            raise ConfigError(
                f"{source_text}: {name} samples have shape {x.shape}; the network needs "
                f"(N, {network.n_steps}, {network.n_in})"
            )
        try:
            require_finite(x, f"{source_text}, {name} samples")
            check_labels(labels, network.n_out)
        except ValueError as error:
            raise ConfigError(str(error), "gsc_dir" if config.gsc_dir else "data") from None
    if config.samples is not None and config.samples > len(pool[0]):
        raise ConfigError(f"{config.samples} adaptation samples asked for, but {source_text} holds {len(pool[0])}",
                          "samples")
    if config.samples is None:
        count = min(DEFAULT_SAMPLES, len(pool[0]))
        log.info(f"Found {len(pool[0])} adaptation samples in {source_text}; adapting on {count}")
        adapting = dataclasses.replace(adapting, config=dataclasses.replace(config, samples=count))
    return Samples(pool, held_out, rehearsal, original, source_text), adapting


def adapt(config: AdaptRunConfig) -> dict:
    """Adapt as ``config`` says; returns what ``adaptation.json`` holds (the curve of accuracy on the new condition
    and the original task at every evaluation point, the sample order and the settings). Bad settings or data
    raise a ConfigError naming the setting; a run that cannot finish a RunError; Ctrl-C or SIGTERM end it at the
    next sample boundary with KeyboardInterrupt, after the curve and the adapted checkpoint so far are written."""
    adapting = prepare(config)
    data, adapting = samples(adapting)
    out = Path(adapting.config.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a directory", "out")
    with RunContext(out) as context:
        if context.rundir.adaptation_json.exists() or context.rundir.has_checkpoints():
            # Another adaptation's curves and checkpoint would be replaced while pe_actors.load still found its.
            raise ConfigError(f"{out} already holds a run or an adaptation; choose another --out", "out")
        recorded = adapting.checkpoint.record.run_config or {}
        dtype = np.dtype(recorded.get("dtype") or "float32").type
        memory = report_memory(adapting.network, adapting.config.pes, adapting.synapses, dtype, context.rundir)
        engine = context.start(place(adapting))
        if adapting.config.drift_before > 0:
            engine.advance(adapting.config.drift_before)
        result, wall = learn(engine, adapting, data, context)
        # A signal while the run finishes (releasing PE actors takes seconds) waits until the results are written:
        # the adaptation is done, and nothing of it may be lost.
        with context.stoppable() as stop:
            state = engine.state()
            summary = write_results(context.rundir, adapting, result, state, data.source, memory, wall)
            context.release()
    first, last = result.curve[0], result.curve[-1]
    log.info(
        f"Adapted: new condition {100 * first[f'{NEW}_accuracy']:.2f} % -> {100 * last[f'{NEW}_accuracy']:.2f} % "
        f"after {last['samples']} samples; original task {100 * first[f'{ORIGINAL}_accuracy']:.2f} % -> "
        f"{100 * last[f'{ORIGINAL}_accuracy']:.2f} %"
    )
    if result.stopped:
        log.warning(f"Interrupted after {last['samples']} of {adapting.config.samples} samples; the curve and the "
                    f"adapted checkpoint so far are in {out}")
        raise KeyboardInterrupt
    if stop.requested:
        log.warning(f"Interrupted while finishing; the whole adaptation is written to {out}")
        raise KeyboardInterrupt
    return summary


def learn(engine: Any, adapting: Adapting, data: Samples, context: RunContext) -> tuple[Adaptation, float]:
    """The online learning of :func:`pe_actors.training.adaptation.adapt` on ``engine``, stoppable by signals at
    sample boundaries; its result and the seconds it took."""
    config = adapting.config
    rehearsing = f", rehearsing an original-task sample after every {config.rehearse_every}"
    log.info(
        f"Adapting {adapting.checkpoint.path} on {config.engine} ({config.pes} PEs, batch 1, lr {adapting.lr:g}, "
        f"{describe_synapses(adapting.synapses)}; learning {', '.join(adapting.learning)}) with {config.samples} "
        f"samples of {data.source}" + (rehearsing if config.rehearse_every else "")
    )

    def on_point(record: dict) -> None:
        if record["samples"] == 0 or record["samples"] % 100 == 0:
            log.info(f"after {record['samples']:>4} samples: new condition {100 * record[f'{NEW}_accuracy']:6.2f} %, "
                     f"original task {100 * record[f'{ORIGINAL}_accuracy']:6.2f} %")

    online = AdaptConfig(config.samples, config.eval_every, adapting.lr, config.seed, config.rehearse_every)
    start = time.perf_counter()
    with context.stoppable() as stop:
        try:
            result = adapt_online(
                engine, data.pool, {NEW: data.held_out, ORIGINAL: data.original}, online,
                reader=reader(engine, config, adapting.network, adapting.synapses), on_point=on_point,
                # A bar only where a terminal shows it; a redirected log would get carriage-return lines.
                progress=config.progress and sys.stderr.isatty(),
                rehearsal=data.rehearsal if config.rehearse_every else None, stop=lambda: stop.requested,
            )
        except NonFiniteError as error:
            raise RunError(f"{error}; nothing was written to {context.rundir.checkpoints}") from None
    return result, time.perf_counter() - start


def plot_adaptation(curve: list[dict], path: Path, title: str) -> Path:
    """Accuracy on the new condition and on the original task against adaptation samples."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    samples = [record["samples"] for record in curve]
    for key, label in ((NEW, "new condition (held out)"), (ORIGINAL, "original task (test)")):
        ax.plot(samples, [100 * r[f"{key}_accuracy"] for r in curve], marker="o", markersize=3, label=label)
    ax.set(xlabel="adaptation samples (batch 1, one learning step each)", ylabel="accuracy [%]")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return save_figure(fig, path)


def report_memory(network: Any, pes: int, synapses: SynapseConfig, dtype: type, rundir: RunDir) -> dict:
    """Bytes each PE holds while learning at batch 1 in ``dtype`` (the rule's ``memory``, read from the arrays a PE
    program allocates), against a PE's 128 KB of SRAM: printed, and written as memory.json and memory.png."""
    spec = rule_of(network)
    rows = spec.memory(network, pes, synapses, dtype)
    for row in rows:
        # A crossbar holds the device state in its devices; the rest is what the PE keeps in SRAM.
        row["sram_bytes"] = row["total_bytes"] - row["bytes_by_category"].get("devices", 0)
    largest = max(rows, key=lambda row: row["total_bytes"])
    verdict = "fits in" if largest["sram_bytes"] <= PE_SRAM_BYTES else "does NOT fit in"
    devices = largest["bytes_by_category"].get("devices", 0)
    crossbar = f"; without the device state a crossbar holds, {largest['sram_bytes'] / 1024:.1f} KB" if devices else ""
    log.info(
        f"Memory per PE while adapting at batch 1: largest {largest['label']} {largest['total_bytes'] / 1024:.1f} KB "
        f"({', '.join(f'{k} {v / 1024:.1f}' for k, v in largest['bytes_by_category'].items() if v)}){crossbar}, "
        f"which {verdict} a PE's 128 KB of SRAM"
    )
    report = {"pes": pes, "sub_batch": 1, "dtype": np.dtype(dtype).name, "pe_sram_bytes": PE_SRAM_BYTES}
    report["per_pe"] = rows
    write_json(rundir.memory_json, report)
    title = f"memory per PE while adapting, P = {pes}, k = 1"
    plot_pe_memory(rows, spec.memory_categories.resolve(), rundir.memory_png, title)
    return report


def adapting_synapses(config: AdaptRunConfig, checkpoint: Any, network: Any) -> SynapseConfig:
    """Where the adapting weights live: the checkpoint's synapses, or ``synapses`` (with the device settings); a
    kind the rule's PEs do not hold is a ConfigError."""
    spec = rule_of(network)
    if config.synapses is not None and config.synapses not in spec.pe_synapses():
        raise ConfigError(f"{spec.title} adapts {' or '.join(spec.pe_synapses())} weights", "synapses")
    recorded = checkpoint_synapses(checkpoint.record, f"checkpoint {checkpoint.path}")
    settings = {name: getattr(config, name) for name in (*DEVICE_FIELDS, *PCM_FIELDS)}
    kind = config.synapses
    if kind is None:
        device = [name for name in DEVICE_FIELDS + PCM_FIELDS if settings[name] is not None]
        if device and not recorded.devices:
            raise ConfigError(f"--{device[0].replace('_', '-')} needs --synapses quantised or pcm", device[0])
        if not device:
            return recorded
        kind = recorded.kind
    return synapses_of_run(RunConfig(synapses=kind, seed=config.seed, **settings))


def place(adapting: Adapting) -> Any:
    """The engine holding the checkpoint's network on the adaptation's synapses with a fresh ADAM that leaves the
    frozen weights as they are (to be started)."""
    config, spec, network, checkpoint = adapting.config, adapting.spec, adapting.network, adapting.checkpoint
    state = checkpoint.engine_state
    try:
        check_weight_shapes(state, spec.weight_shapes(network), f"checkpoint {checkpoint.path}")
    except ValueError as error:
        raise ConfigError(str(error), "checkpoint") from None
    l2 = float(checkpoint.record.optimiser.get("l2", OptimiserConfig.l2))
    optimiser = OptimiserConfig(lr=adapting.lr, l2=l2, lr_decay=1.0, frozen=adapting.frozen)
    backend = spec.backend(config.engine).name
    options: dict[str, Any] = {"pes": config.pes, "groups": 1, "sub_batch": 1, "synapses": adapting.synapses}
    if backend == PE_BACKENDS[1]:
        options.update(transport=config.transport, address=config.address, dashboard_port=config.dashboard_port,
                       run_name=unique_run_name(config.out, prefix="adapt-"))
    if spec.takes("schedule", backend):
        options["schedule"] = config.schedule
    engine = make(spec.name, backend, network, weights_only(state), optimiser, **options)
    if adapting.synapses.devices and adapting.synapses == checkpoint_synapses(checkpoint.record):
        engine.load_state(fresh_optimiser(state))
    return engine


def reader(engine: Any, config: AdaptRunConfig, network: Any, synapses: SynapseConfig) -> Any:
    """A function returning an off-chip engine loaded with ``engine``'s current weights (and devices), which
    predicts what the PEs predict for many samples at once; None when ``engine`` is off-chip already."""
    spec = rule_of(network)
    if spec.backend(config.engine).name not in PE_BACKENDS:
        return None
    copy = make(spec.name, spec.offchip, network, weights_only(engine.state()), synapses=synapses)

    def read() -> Any:
        copy.load_state(engine.state())
        return copy

    return read


def write_results(rundir: RunDir, adapting: Adapting, result: Adaptation, state: dict, source_text: str,
                  memory: dict, wall: float) -> dict:
    """Write adaptation.csv/.json/.png and the adapted checkpoint; returns the JSON's content."""
    config, synapses, checkpoint, lr = adapting.config, adapting.synapses, adapting.checkpoint, adapting.lr
    write_csv(rundir.adaptation_csv, result.curve)
    condition = Path(config.gsc_dir or config.data).name
    where = f"{synapses.bits}-bit {synapses.kind} synapses" if synapses.devices else f"{synapses.kind} synapses"
    if config.drift_before:
        where += f" after {config.drift_before:g} s of drift"
    title = (
        f"{run_dir_of(checkpoint.path).name} adapting to {condition}\n{config.engine}, {config.pes} PEs, "
        f"batch 1, lr {lr:g}, {where}"
    )
    plot_adaptation(result.curve, rundir.adaptation_png, title)
    summary = {
        "checkpoint": checkpoint.path, "source": source_text, "engine": config.engine, "pes": config.pes, "lr": lr,
        "samples": config.samples, "eval_every": config.eval_every, "seed": config.seed,
        "drift_before_s": config.drift_before, "rehearse_every": config.rehearse_every,
        "frozen": list(adapting.frozen), "synapses": synapses.to_dict(), "seconds": wall,
        "largest_pe_bytes": max(row["total_bytes"] for row in memory["per_pe"]), "curve": result.curve,
        "order": result.order,
    }
    write_json(rundir.adaptation_json, summary)
    last = result.curve[-1]
    record = checkpoint.record.replace(synapses=synapses.to_dict(), adaptation={
        "from_checkpoint": str(checkpoint.path), "source": source_text, "samples": last["samples"], "lr": lr,
        "seed": config.seed, "rehearse_every": config.rehearse_every, "frozen": list(adapting.frozen),
        "new_condition_accuracy": last[f"{NEW}_accuracy"], "original_task_accuracy": last[f"{ORIGINAL}_accuracy"],
    })
    meta = {**record.to_meta(), "validation_accuracy": last[f"{NEW}_accuracy"]}
    path = save_checkpoint(rundir.checkpoints, f"adapted-n{last['samples']:06d}", state, {}, meta)
    log.info(f"Wrote {rundir.adaptation_png}, adaptation.csv, adaptation.json, memory.png and {path}")
    return json.loads(rundir.adaptation_json.read_text())
