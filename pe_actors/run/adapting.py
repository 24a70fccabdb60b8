"""An adaptation run: a trained network keeps learning online at batch 1 on a new condition (docs/adaptation.md).

:func:`adapt` loads a checkpoint of any engine, the new condition's adaptation and evaluation samples and the
original task's test set, places the network on the PE actors (or another backend) with a fresh ADAM, hands them
to :func:`pe_actors.training.adaptation.adapt`, and writes the curves (``adaptation.csv``, ``.json``, ``.png``),
the memory per PE (``memory.json``, ``.png``) and the adapted checkpoint. ``pe-actors adapt`` and
``pe_actors.adapt`` are its callers.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from pe_actors.core.checks import require_finite
from pe_actors.core.engine import weights_only
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.state import check_weight_shapes
from pe_actors.engines.registry import checkpoint_network, checkpoint_synapses, make
from pe_actors.reports.figures import pyplot, save_figure, write_csv, write_json
from pe_actors.reports.memory import PE_SRAM_BYTES, plot_pe_memory
from pe_actors.rules import PE_BACKENDS, rule_of
from pe_actors.rules.eprop.readout import check_labels
from pe_actors.run.config import (
    DEVICE_FIELDS,
    MAX_SEED,
    PCM_FIELDS,
    SCHEDULES,
    ConfigError,
    RunConfig,
    Settings,
    check_schedule,
    choice,
    engine_names,
    float_range,
    int_range,
    setting,
)
from pe_actors.run.data import READERS, feature_metadata, load_splits, recorded_views, source
from pe_actors.run.rundir import owned as rundir_owned
from pe_actors.run.rundir import run_dir_of, unique_run_name
from pe_actors.run.training import (
    Echo,
    RunError,
    StopRequest,
    describe_synapses,
    print_line,
    start_engine,
    synapses_of_run,
)
from pe_actors.synapses import SynapseConfig, kind_names
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
                          f"{list(valid)} or none", "freeze")  # fmt: skip
    if set(valid) <= set(names):
        raise ConfigError(f"--freeze {config.freeze!r} freezes every weight: nothing would learn", "freeze")
    return names, tuple(name for name in valid if name not in names)


#: Adaptation samples when none are asked for (fewer when the new condition holds fewer).
DEFAULT_SAMPLES = 300
NEW, ORIGINAL = "new_condition", "original_task"


@dataclass(frozen=True)
class AdaptRunConfig(Settings):
    """Every setting of an adaptation run (``pe-actors adapt --help`` explains each): the ``checkpoint``; the new
    condition as a GSC-layout folder (``gsc_dir``, optionally ``adapt_list`` and ``per_class``) or features
    (``data``); the original task (``original_data``, ``cache``); the learning (``samples``, ``eval_every``,
    ``lr``, ``rehearse_every``, ``freeze``, ``seed``; ``samples`` None: :data:`DEFAULT_SAMPLES`, or all the
    condition holds when fewer; ``rehearse_every`` and ``freeze`` None: the rule's ``adaptation`` defaults); where
    it runs (``engine``, ``pes``, ``transport``, EventProp's ``schedule``, ``address``, ``dashboard_port``); the
    synapses (``synapses``, None: the checkpoint's, and the device settings;
    ``drift_before``); and the output (``out``, ``workers``, ``progress``)."""

    checkpoint: Path = setting(default=None, kind="path", optional=True)
    gsc_dir: Path | None = setting(default=None, kind="path", optional=True)
    data: Path | None = setting(default=None, kind="path", optional=True)
    adapt_list: Path | None = setting(default=None, kind="path", optional=True)
    per_class: int | None = setting(default=None, **int_range(1, optional=True))
    original_data: Path | None = setting(default=None, kind="path", optional=True)
    cache: Path = setting(default=Path("cache/standin"), kind="path")
    samples: int | None = setting(default=None, **int_range(1, optional=True))
    eval_every: int = setting(default=10, **int_range(1))
    lr: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    rehearse_every: int | None = setting(default=None, **int_range(0, optional=True))
    freeze: str | None = setting(default=None, kind="str", optional=True)
    engine: str = setting(default="actors", **choice(engine_names))
    pes: int = setting(default=12, **int_range(1))
    transport: str = setting(default="shm", **choice("shm", "ray"))
    schedule: str = setting(default="pipelined", **choice(*SCHEDULES))
    address: str | None = setting(default=None, kind="str", optional=True)
    dashboard_port: int = setting(default=8265, **int_range(1, 65535))
    synapses: str | None = setting(default=None, **choice(kind_names, optional=True))
    bits: int | None = setting(default=None, **int_range(1, 16, optional=True))
    prog_noise: float | None = setting(default=None, **float_range(0, optional=True))
    drift: float | None = setting(default=None, **float_range(0, optional=True))
    read_noise: float | None = setting(default=None, **float_range(0, optional=True))
    g_max: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    drift_compensation: bool | None = setting(default=None, kind="bool", optional=True)
    clip_sd: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    sample_seconds: float | None = setting(default=None, **float_range(0, optional=True))
    drift_before: float = setting(default=0.0, **float_range(0))
    seed: int = setting(default=0, **int_range(0, MAX_SEED))
    out: Path = setting(default=Path("runs/adapt"), kind="path")
    workers: int = setting(default=2, **int_range(1))
    progress: bool = setting(default=True, kind="bool")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.checkpoint is None:
            raise ConfigError("checkpoint is required: the run or checkpoint directory of a trained network",
                              "checkpoint")  # fmt: skip

    @classmethod
    def of(cls, config: AdaptRunConfig | Mapping[str, Any] | None = None, **given: Any) -> AdaptRunConfig:
        """``config`` (a mapping or an AdaptRunConfig) with the settings ``given`` over it; an unknown setting is
        a TypeError naming it."""
        base = {} if config is None else dict(config) if isinstance(config, Mapping) else dataclasses.asdict(config)
        values = {**base, **given}
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise TypeError(f"unknown option {unknown[0]!r}; valid options are {sorted(cls.names())}")
        return cls(**values)


def condition_samples(checkpoint: Any, config: AdaptRunConfig, network: Any) -> tuple:
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
        splits = load_splits(spec.name, network, config.data, echo=lambda _: None).splits
        pool = tuple(np.asarray(a) for a in splits.train)
        held_out = tuple(np.asarray(a) for a in splits.test)
        return pool, held_out, f"{config.data} (train split: adaptation, test split: evaluation)"
    try:
        metadata = feature_metadata(checkpoint.meta)
    except ConfigError as error:
        raise ConfigError(f"{error}; a checkpoint of the {spec.title} rule on {spec.data.description} adapts on "
                          f"data its source reads ({spec.data.folder}: --data DIR)", "gsc_dir") from None
    featurise = source("gsc_folder", READERS)
    try:
        common = {"workers": config.workers, "progress": config.progress}
        pool = featurise(config.gsc_dir, metadata, split="train", clip_list=config.adapt_list,
                         per_class=config.per_class, **common)  # fmt: skip
        held_out = featurise(config.gsc_dir, metadata, split="test", **common)
    except (FileNotFoundError, ValueError) as error:
        listed = config.adapt_list is not None and str(config.adapt_list) in str(error)
        raise ConfigError(str(error), "adapt_list" if listed else "gsc_dir") from None
    what = f"the first {config.per_class} per class of {config.adapt_list}" if config.adapt_list else (
        "clips in neither list"
    )
    return pool, held_out, f"{config.gsc_dir} (adaptation: {what}; evaluation: testing_list.txt)"


def original_samples(checkpoint: Any, config: AdaptRunConfig, network: Any, echo: Echo) -> tuple:
    """The original task's training and test sets: ``original_data`` or the data the checkpoint was trained on."""
    recorded = checkpoint.meta.get("run_config", {})
    data = config.original_data if config.original_data is not None else recorded.get("data")
    data = Path(data) if data is not None else None
    cache = Path(recorded.get("cache") or config.cache) if config.original_data is None else config.cache
    standin_size = recorded.get("standin_size") or "default"
    augment, views = recorded_views(recorded) if data is None else ((), 0)
    named = recorded.get("source") if config.original_data is None else None
    try:
        splits = load_splits(rule_of(network).name, network, data, cache, standin_size,
                             lambda line: echo(line, err=True), augment=augment, views=views, source_name=named,
                             seed=int(recorded.get("seed", 0))).splits  # fmt: skip
    except ConfigError as error:
        raise ConfigError(str(error), "original_data") from None
    return tuple(tuple(np.asarray(a) for a in getattr(splits, split)) for split in ("train", "test"))


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


def report_memory(network: Any, pes: int, synapses: SynapseConfig, dtype: type, out_dir: Path, echo: Echo) -> dict:
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
    echo(
        f"Memory per PE while adapting at batch 1: largest {largest['label']} {largest['total_bytes'] / 1024:.1f} KB "
        f"({', '.join(f'{k} {v / 1024:.1f}' for k, v in largest['bytes_by_category'].items() if v)}){crossbar}, "
        f"which {verdict} a PE's 128 KB of SRAM"
    )
    report = {"pes": pes, "sub_batch": 1, "dtype": np.dtype(dtype).name, "pe_sram_bytes": PE_SRAM_BYTES}
    report["per_pe"] = rows
    write_json(out_dir / "memory.json", report)
    title = f"memory per PE while adapting, P = {pes}, k = 1"
    plot_pe_memory(rows, spec.memory_categories.resolve(), out_dir / "memory.png", title)
    return report


def adapting_synapses(config: AdaptRunConfig, checkpoint: Any, network: Any) -> SynapseConfig:
    """Where the adapting weights live: the checkpoint's synapses, or ``synapses`` (with the device settings); a
    kind the rule's PEs do not hold is a ConfigError."""
    spec = rule_of(network)
    if config.synapses is not None and config.synapses not in spec.pe_synapses():
        raise ConfigError(f"{spec.title} adapts {' or '.join(spec.pe_synapses())} weights", "synapses")
    recorded = checkpoint_synapses(checkpoint.meta, f"checkpoint {checkpoint.path}")
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


def place(checkpoint: Any, config: AdaptRunConfig, network: Any, synapses: SynapseConfig, lr: float, echo: Echo,
          frozen: tuple[str, ...] = ()) -> Any:  # fmt: skip
    """The started engine holding the checkpoint's network on ``synapses`` with a fresh ADAM that leaves the
    weights ``frozen`` as they are."""
    spec = rule_of(network)
    state = checkpoint.engine_state
    try:
        check_weight_shapes(state, spec.weight_shapes(network), f"checkpoint {checkpoint.path}")
    except ValueError as error:
        raise ConfigError(str(error), "checkpoint") from None
    recorded = checkpoint.meta.get("optimiser", {})
    l2 = float(recorded.get("l2", OptimiserConfig.l2))
    optimiser = OptimiserConfig(lr=lr, l2=l2, lr_decay=1.0, frozen=frozen)
    backend = spec.backend(config.engine).name
    options: dict[str, Any] = {"pes": config.pes, "groups": 1, "sub_batch": 1, "synapses": synapses}
    if backend == PE_BACKENDS[1]:
        options.update(transport=config.transport, address=config.address, dashboard_port=config.dashboard_port,
                       run_name=unique_run_name(config.out, prefix="adapt-"))  # fmt: skip
    check_schedule(config.schedule, spec.name)
    if spec.takes("schedule", backend):
        options["schedule"] = config.schedule
    engine = start_engine(make(spec.name, backend, network, weights_only(state), optimiser, **options), echo)
    if synapses.devices and synapses == checkpoint_synapses(checkpoint.meta):
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


def adapt(config: AdaptRunConfig, echo: Echo = print_line) -> dict:
    """Adapt as ``config`` says; returns what ``adaptation.json`` holds (the curve of accuracy on the new condition
    and the original task at every evaluation point, the sample order and the settings). Bad settings or data
    raise a ConfigError naming the setting; a run that cannot finish a RunError."""
    try:
        checkpoint = load_checkpoint(resolve_checkpoint(config.checkpoint, prefer="best"))
        spec, network = checkpoint_network(checkpoint.meta, f"checkpoint {checkpoint.path}")
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(str(error), "checkpoint") from None
    recorded_rule = checkpoint.meta.get("rule", spec.name)
    if recorded_rule in spec.aliases:
        echo(f"The checkpoint was trained with {recorded_rule} ({spec.aliases[recorded_rule]}); its weights adapt "
             f"with {spec.title} on the PEs", err=True)  # fmt: skip
    synapses = adapting_synapses(config, checkpoint, network)
    if config.drift_before > 0 and synapses.kind != "pcm":
        raise ConfigError("drift needs --synapses pcm (or a pcm checkpoint)", "drift_before")
    try:
        spec.backend(config.engine)
    except ValueError as error:
        raise ConfigError(f"{error}; {spec.title}'s off-chip engine is {spec.offchip} (--engine offchip names "
                          "it for any rule)", "engine") from None  # fmt: skip
    if config.per_class is not None and config.adapt_list is None:
        raise ConfigError("--per-class counts clips of an --adapt-list", "per_class")
    try:
        spec.group(network, config.pes)
    except ValueError as error:
        raise ConfigError(f"--pes {config.pes}: {error}", "pes") from None
    if config.rehearse_every is None:
        config = dataclasses.replace(config, rehearse_every=spec.adaptation.rehearse_every)
    frozen, learning = frozen_weights(config, network)
    pool, held_out, source_text = condition_samples(checkpoint, config, network)
    rehearsal, original = original_samples(checkpoint, config, network, echo)
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
                          "samples")  # fmt: skip
    if config.samples is None:
        samples = min(DEFAULT_SAMPLES, len(pool[0]))
        echo(f"Found {len(pool[0])} adaptation samples in {source_text}; adapting on {samples}")
        config = dataclasses.replace(config, samples=samples)
    lr = config.lr or default_lr(network)
    online = AdaptConfig(config.samples, config.eval_every, lr, config.seed, config.rehearse_every)
    out_dir = Path(config.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {str(out_dir)!r} exists and is not a directory", "out")
    with rundir_owned(out_dir):
        dtype = np.dtype(checkpoint.meta.get("run_config", {}).get("dtype") or "float32").type
        memory = report_memory(network, config.pes, synapses, dtype, out_dir, echo)
        engine = place(checkpoint, config, network, synapses, lr, echo, frozen)
        with engine:
            if config.drift_before > 0:
                engine.advance(config.drift_before)
            rehearsing = f", rehearsing an original-task sample after every {config.rehearse_every}"
            echo(
                f"Adapting {checkpoint.path} on {config.engine} ({config.pes} PEs, batch 1, lr {lr:g}, "
                f"{describe_synapses(synapses)}; learning {', '.join(learning)}) with {config.samples} samples of "
                f"{source_text}" + (rehearsing if config.rehearse_every else "")
            )
            start = time.perf_counter()

            def on_point(record: dict) -> None:
                if record["samples"] == 0 or record["samples"] % 100 == 0:
                    echo(
                        f"after {record['samples']:>4} samples: new condition "
                        f"{100 * record[f'{NEW}_accuracy']:6.2f} %, original task "
                        f"{100 * record[f'{ORIGINAL}_accuracy']:6.2f} %",
                        err=True,
                    )

            # SIGTERM and Ctrl-C end the adaptation at the next sample boundary, with the curve and the adapted
            # checkpoint so far written; installed after Ray started, they replace its C++ signal dump.
            stop = StopRequest()
            main = threading.current_thread() is threading.main_thread()
            signals = (signal.SIGTERM, signal.SIGINT) if main else ()
            previous = {sig: signal.signal(sig, stop.handler) for sig in signals}
            try:
                result = adapt_online(
                    engine,
                    pool,
                    {NEW: held_out, ORIGINAL: original},
                    online,
                    reader=reader(engine, config, network, synapses),
                    on_point=on_point,
                    # A bar only where a terminal shows it; a redirected log would get carriage-return lines.
                    progress=config.progress and sys.stderr.isatty(),
                    rehearsal=rehearsal if config.rehearse_every else None,
                    stop=lambda: stop.requested,
                )
            except NonFiniteError as error:
                raise RunError(f"{error}; nothing was written to {out_dir / 'checkpoints'}") from None
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            wall = time.perf_counter() - start
            state = engine.state()
        summary = write_results(out_dir, checkpoint, result, state, config, synapses, lr, source_text, memory, wall,
                                echo, frozen)  # fmt: skip
        first, last = result.curve[0], result.curve[-1]
        echo(
            f"Adapted: new condition {100 * first[f'{NEW}_accuracy']:.2f} % -> {100 * last[f'{NEW}_accuracy']:.2f} % "
            f"after {last['samples']} samples; original task {100 * first[f'{ORIGINAL}_accuracy']:.2f} % -> "
            f"{100 * last[f'{ORIGINAL}_accuracy']:.2f} %"
        )
    if result.stopped:
        echo(f"Interrupted after {last['samples']} of {config.samples} samples; the curve and the adapted "
             f"checkpoint so far are in {config.out}", err=True)  # fmt: skip
        raise KeyboardInterrupt
    return summary


def write_results(
    out_dir: Path, checkpoint: Any, result: Adaptation, state: dict, config: AdaptRunConfig, synapses: SynapseConfig,
    lr: float, source_text: str, memory: dict, wall: float, echo: Echo, frozen: tuple[str, ...] = (),
) -> dict:  # fmt: skip
    """Write adaptation.csv/.json/.png and the adapted checkpoint; returns the JSON's content."""
    write_csv(out_dir / "adaptation.csv", result.curve)
    condition = Path(config.gsc_dir or config.data).name
    where = f"{synapses.bits}-bit {synapses.kind} synapses" if synapses.devices else f"{synapses.kind} synapses"
    if config.drift_before:
        where += f" after {config.drift_before:g} s of drift"
    title = (
        f"{run_dir_of(checkpoint.path).name} adapting to {condition}\n{config.engine}, {config.pes} PEs, "
        f"batch 1, lr {lr:g}, {where}"
    )
    plot_adaptation(result.curve, out_dir / "adaptation.png", title)
    summary = {
        "checkpoint": checkpoint.path,
        "source": source_text,
        "engine": config.engine,
        "pes": config.pes,
        "lr": lr,
        "samples": config.samples,
        "eval_every": config.eval_every,
        "seed": config.seed,
        "drift_before_s": config.drift_before,
        "rehearse_every": config.rehearse_every,
        "frozen": list(frozen),
        "synapses": synapses.to_dict(),
        "seconds": wall,
        "largest_pe_bytes": max(row["total_bytes"] for row in memory["per_pe"]),
        "curve": result.curve,
        "order": result.order,
    }
    write_json(out_dir / "adaptation.json", summary)
    last = result.curve[-1]
    keep = ("rule", "network", "optimiser", "class_names", "synthetic", "data_metadata", "run_config")
    meta = {key: checkpoint.meta[key] for key in keep if key in checkpoint.meta}
    meta.update(
        {
            "synapses": synapses.to_dict(),
            "validation_accuracy": last[f"{NEW}_accuracy"],
            "adaptation": {
                "from_checkpoint": str(checkpoint.path),
                "source": source_text,
                "samples": last["samples"],
                "lr": lr,
                "seed": config.seed,
                "rehearse_every": config.rehearse_every,
                "frozen": list(frozen),
                "new_condition_accuracy": last[f"{NEW}_accuracy"],
                "original_task_accuracy": last[f"{ORIGINAL}_accuracy"],
            },
        }
    )
    path = save_checkpoint(out_dir / "checkpoints", f"adapted-n{last['samples']:06d}", state, {}, meta)
    echo(f"Wrote {out_dir / 'adaptation.png'}, adaptation.csv, adaptation.json, memory.png and {path}")
    import json

    return json.loads((out_dir / "adaptation.json").read_text())
