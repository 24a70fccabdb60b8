"""``pe-actors adapt``: on-chip adaptation of a trained network to a new condition, online at batch 1.

A thin adapter: it loads a checkpoint of any engine, the new condition's adaptation and evaluation samples and
the original task's test set, places the network on the PE actors (or ``--engine``), hands them to
:func:`pe_actors.training.adaptation.adapt`, and writes the curves, the memory per PE and the adapted checkpoint
(docs/adaptation.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from pe_actors.core.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from pe_actors.core.checks import require_finite
from pe_actors.core.engine import weights_only
from pe_actors.core.optimiser import OptimiserConfig
from pe_actors.core.state import check_weight_shapes
from pe_actors.engines.registry import backend_name, make, synapses_of
from pe_actors.reports.figures import pyplot, save_figure, write_csv, write_json
from pe_actors.rules.eprop.config import NetworkConfig
from pe_actors.rules.eprop.readout import check_labels
from pe_actors.rules.eprop.recipes import CHIP_BATCH1
from pe_actors.rules.eventprop.config import EventPropConfig
from pe_actors.run.config import MAX_SEED, ConfigError
from pe_actors.run.data import load_splits
from pe_actors.run.rundir import run_dir_of
from pe_actors.synapses import SynapseConfig
from pe_actors.training.adaptation import Adaptation, AdaptConfig, adapt, fresh_optimiser
from pe_actors.training.trainer import NonFiniteError
from pe_actors_launcher.evaluate import feature_metadata, prepared_features
from pe_actors_launcher.memory import PE_SRAM_BYTES, plot_pe_memory
from pe_actors_launcher.options import FiniteFloatRange, existing_dir
from pe_actors_launcher.plots import prepare_out
from pe_actors_launcher.synapse_options import DEVICE_OPTIONS, PCM_OPTIONS, describe, synapse_config, synapse_options

#: The chip's recipe: online learning at batch 1 (its learning rate is adaptation's default for e-prop).
#: EventProp's batch-1 learning rate, measured on Yin-Yang rotated by 30 degrees over 5000 samples: 0.0001 learns
#: slowly, 0.0003 learns most, 0.0005 and above forget the original task faster than they learn the rotation and
#: end below where they started (docs/adaptation.md).
EVENTPROP_LR = 0.0003
NEW, ORIGINAL = "new_condition", "original_task"


def condition_samples(
    checkpoint: Any,
    gsc_dir: Path | None,
    data: Path | None,
    adapt_list: Path | None,
    per_class: int | None,
    config: Any,
    eventprop: bool,
    workers: int = 1,
    progress: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """The new condition's adaptation pool and evaluation set, and where they came from (a folder's clips are
    featurised on ``workers`` processes, with a progress bar if ``progress``)."""
    if (gsc_dir is None) == (data is None):
        raise click.UsageError("give exactly one of --gsc-dir DIR (a GSC-layout folder) or --data DIR (features)")
    if eventprop:
        if gsc_dir is not None:
            raise click.BadParameter(
                "an EventProp checkpoint adapts on Yin-Yang data (pe-actors data yinyang --rotate ...), not on a "
                "GSC folder",
                param_hint="--gsc-dir",
            )
        splits = _yinyang(data, config, "--data")
        return splits.train, splits.test, f"{data} (train split: adaptation, test split: evaluation)"
    if data is not None:
        if adapt_list is not None:
            raise click.BadParameter("--adapt-list selects clips of a --gsc-dir folder", param_hint="--adapt-list")
        prepared = prepared_features(data)
        pool = tuple(np.asarray(a) for a in prepared.splits["train"])
        held_out = tuple(np.asarray(a) for a in prepared.splits["test"])
        return pool, held_out, f"{data} (train split: adaptation, test split: evaluation)"
    from pe_actors_datasets import featurize_folder

    metadata = feature_metadata(checkpoint.meta)
    try:
        common = {"workers": workers, "progress": progress}
        pool = featurize_folder(gsc_dir, metadata, split="train", clip_list=adapt_list, per_class=per_class, **common)
        held_out = featurize_folder(gsc_dir, metadata, split="test", **common)
    except (FileNotFoundError, ValueError) as error:
        hint = "--adapt-list" if adapt_list is not None and str(adapt_list) in str(error) else "--gsc-dir"
        raise click.BadParameter(str(error), param_hint=hint) from None
    what = f"the first {per_class} per class of {adapt_list}" if adapt_list else "clips in neither list"
    return pool, held_out, f"{gsc_dir} (adaptation: {what}; evaluation: testing_list.txt)"


def original_samples(checkpoint: Any, original: Path | None, cache: Path, config: Any, eventprop: bool):
    """The original task's training and test sets: ``original`` or the data the checkpoint was trained on."""
    recorded = checkpoint.meta.get("run_config", {})
    data = original if original is not None else recorded.get("data")
    data = Path(data) if data is not None else None
    if eventprop:
        splits = _yinyang(data, config, "--original-data")
        return splits.train, splits.test
    standin_size = recorded.get("standin_size") or "default"
    cache = Path(recorded.get("cache") or cache) if original is None else cache
    try:
        splits = load_splits("eprop", config, data, cache, standin_size, lambda line: click.echo(line, err=True)).splits
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--original-data") from None
    return tuple(tuple(np.asarray(a) for a in getattr(splits, split)) for split in ("train", "test"))


def _yinyang(data: Path | None, config: Any, hint: str) -> Any:
    """The Yin-Yang splits in ``data`` (or generated), encoded for ``config``; a usage error names ``hint``."""
    try:
        return load_splits("eventprop", config, data, echo=lambda _: None).splits
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint=hint) from None


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


def _memory_rows(config: Any, eventprop: bool, pes: int, synapses: SynapseConfig, dtype: type) -> list[dict]:
    if eventprop:
        from pe_actors.studies.memory import eventprop_pe_memory
        from pe_actors_datasets.yinyang import yinyang

        rows = eventprop_pe_memory(config, *yinyang(1, 0), n_pes=pes, dtype=dtype)
        return [{**row, "label": f"L{row['layer']} PE {row['pe']}"} for row in rows]
    from pe_actors.studies.memory import pe_memory

    return [entry.as_row() for entry in pe_memory(config, pes, 1, dtype, synapses)]


def report_memory(config: Any, eventprop: bool, pes: int, synapses: SynapseConfig, dtype: type, out_dir: Path) -> dict:
    """Bytes each PE holds while learning at batch 1 in ``dtype`` (read from the arrays a PE program allocates),
    against a PE's 128 KB of SRAM: printed, and written as memory.json and memory.png."""
    if eventprop:
        from pe_actors.rules.eventprop.program import MEMORY_CATEGORIES
    else:
        from pe_actors.rules.eprop.pe import MEMORY_CATEGORIES
    rows = _memory_rows(config, eventprop, pes, synapses, dtype)
    for row in rows:
        # A crossbar holds the device state in its devices; the rest is what the PE keeps in SRAM.
        row["sram_bytes"] = row["total_bytes"] - row["bytes_by_category"].get("devices", 0)
    largest = max(rows, key=lambda row: row["total_bytes"])
    verdict = "fits in" if largest["sram_bytes"] <= PE_SRAM_BYTES else "does NOT fit in"
    devices = largest["bytes_by_category"].get("devices", 0)
    crossbar = f"; without the device state a crossbar holds, {largest['sram_bytes'] / 1024:.1f} KB" if devices else ""
    click.echo(
        f"Memory per PE while adapting at batch 1: largest {largest['label']} {largest['total_bytes'] / 1024:.1f} KB "
        f"({', '.join(f'{k} {v / 1024:.1f}' for k, v in largest['bytes_by_category'].items() if v)}){crossbar}, "
        f"which {verdict} a PE's 128 KB of SRAM"
    )
    report = {"pes": pes, "sub_batch": 1, "dtype": np.dtype(dtype).name, "pe_sram_bytes": PE_SRAM_BYTES}
    report["per_pe"] = rows
    write_json(out_dir / "memory.json", report)
    plot_pe_memory(rows, MEMORY_CATEGORIES, out_dir / "memory.png", f"memory per PE while adapting, P = {pes}, k = 1")
    return report


def _opt(*flags: str, **kwargs: Any):
    return click.option(*flags, show_default=True, **kwargs)


@click.command("adapt")
@_opt(
    "--checkpoint",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The trained network: a checkpoint directory, or a run directory (its best checkpoint by validation), "
    "from any engine.",
)
@_opt(
    "--gsc-dir",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    help="The new condition as a GSC-layout folder (pe-actors data synth --condition): adaptation samples are the "
    "clips in neither validation_list.txt nor testing_list.txt (or --adapt-list), evaluation clips testing_list.txt; "
    "featurised with the checkpoint's feature parameters and normalisation.",
)
@_opt(
    "--data",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    help="The new condition as features instead: prepared GSC features (their train split adapts, their test "
    "split evaluates), or for an EventProp checkpoint a Yin-Yang directory (pe-actors data yinyang --rotate).",
)
@_opt(
    "--adapt-list",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --gsc-dir: a file of clip paths (relative to the folder) to adapt on instead of the training "
    "clips, the first --per-class of each class in list order.",
)
@_opt(
    "--per-class",
    type=click.IntRange(min=1),
    default=None,
    help="With --adapt-list: clips taken per class [default: all listed].",
)
@_opt(
    "--original-data",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    default=None,
    help="The original task's data, whose test split measures forgetting [default: the data the checkpoint was "
    "trained on: its --data, else the offline stand-in (EventProp: Yin-Yang with the published seeds)].",
)
@_opt(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cache/standin"),
    help="Where the offline stand-in is cached when the original task is the stand-in.",
)
@_opt(
    "--samples",
    type=click.IntRange(min=1),
    default=300,
    help="Adaptation samples: learning steps at batch 1, drawn without replacement in an order seeded by --seed.",
)
@_opt(
    "--eval-every",
    type=click.IntRange(min=1),
    default=10,
    help="Adaptation samples between evaluations on the new condition's held-out samples and the original test "
    "set (also before the first and after the last).",
)
@_opt(
    "--lr",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="ADAM learning rate, constant while adapting; ADAM starts fresh [default: e-prop the chip recipe's "
    f"(configs/gsc-chip-batch1.toml), EventProp {EVENTPROP_LR}].",
)
@_opt(
    "--rehearse-every",
    type=click.IntRange(min=0),
    default=0,
    help="Rehearsal against forgetting: after every K adaptation samples, one more learning step on a sample of "
    "the original task's training split (held by the host, not in a PE's SRAM). 0: never.",
)
@_opt(
    "--engine",
    type=click.Choice(["actors", "inprocess", "offchip", "replay"]),
    default="actors",
    help="Where the network learns: actors (one Ray actor per PE, the chip's runtime), inprocess (the same PE "
    "programs in this process, same results), or offchip/replay (the rule's fast off-chip engine: not on-chip "
    "learning).",
)
@_opt("--pes", type=click.IntRange(min=1), default=12, help="PEs per group (EventProp: per layer).")
@_opt(
    "--transport",
    type=click.Choice(["shm", "ray"]),
    default="shm",
    help="Per-step spike exchange of the actors engine (shared-memory mailbox, or Ray's channels).",
)
@_opt("--address", default=None, help="Ray cluster to join ('auto' or 'ray://HOST:PORT'); default: a local Ray.")
@_opt(
    "--dashboard-port",
    type=click.IntRange(min=1, max=65535),
    default=8265,
    help="Port of the local Ray's dashboard on 127.0.0.1.",
)
@synapse_options
@_opt(
    "--drift-before",
    type=FiniteFloatRange(min=0),
    default=0.0,
    help="Seconds of device time (drift) between placing the network on its synapses and the first adaptation "
    "sample; for pcm synapses.",
)
@_opt(
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=0,
    help="Seed of the order of the adaptation samples (and of new devices' noise).",
)
@_opt(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/adapt"),
    help="Directory for adaptation.csv/.json/.png, memory.json/.png and checkpoints/ (the adapted network).",
)
@_opt(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    help="Processes featurising a --gsc-dir folder (BLAS pinned to one thread each).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@click.pass_context
def adapt_command(ctx: click.Context, **options: Any) -> None:
    """Adapt a trained network to a new condition by learning online at batch 1 on the PEs (one learning step per
    sample, each synapse keeping its eligibility trace), evaluating the new condition and the original task
    before adapting and every --eval-every samples.

    The weights of the checkpoint are placed on the synapses the checkpoint was trained with, or on --synapses
    (float weights programmed into new devices, --drift-before seconds of drift later). The last line printed is
    "Adapted: new condition A % -> B % after N samples; original task C % -> D %".
    """
    try:
        checkpoint = load_checkpoint(resolve_checkpoint(options["checkpoint"], prefer="best"))
        eventprop = checkpoint.meta.get("rule") == "eventprop"
        network = EventPropConfig if eventprop else NetworkConfig
        config = network.from_dict(checkpoint.meta["network"])
    except (ValueError, KeyError, TypeError) as error:
        raise click.BadParameter(str(error), param_hint="--checkpoint") from None
    if checkpoint.meta.get("rule") == "bptt":
        click.echo("The checkpoint was trained with BPTT; its weights adapt with e-prop on the PEs", err=True)
    synapses = _synapses(ctx, options, checkpoint, eventprop)
    if options["drift_before"] > 0 and synapses.kind != "pcm":
        raise click.BadParameter("drift needs --synapses pcm (or a pcm checkpoint)", param_hint="--drift-before")
    engine_name = options["engine"]
    if eventprop and engine_name == "replay":
        raise click.BadParameter("replay is e-prop's off-chip engine; EventProp's is offchip", param_hint="--engine")
    if options["per_class"] is not None and options["adapt_list"] is None:
        raise click.BadParameter("--per-class counts clips of an --adapt-list", param_hint="--per-class")
    if not eventprop and options["pes"] > config.n_rec:
        raise click.BadParameter(
            f"{options['pes']} PEs exceed the {config.n_rec} recurrent neurons", param_hint="--pes"
        )
    pool, held_out, source = condition_samples(
        checkpoint,
        options["gsc_dir"],
        options["data"],
        options["adapt_list"],
        options["per_class"],
        config,
        eventprop,
        workers=options["workers"],
        progress=not options["no_progress"] and sys.stderr.isatty(),
    )
    rehearsal, original = original_samples(checkpoint, options["original_data"], options["cache"], config, eventprop)
    checked = [("adaptation", pool), ("evaluation", held_out), ("original test", original)]
    if options["rehearse_every"]:
        checked.append(("original training (rehearsal)", rehearsal))
    for name, (x, labels) in checked:
        if x.ndim != 3 or x.shape[1:] != (config.n_steps, config.n_in):
            raise click.BadParameter(
                f"{source}: {name} samples have shape {x.shape}; the network needs (N, {config.n_steps}, {config.n_in})"
            )
        try:
            require_finite(x, f"{source}, {name} samples")
            check_labels(labels, config.n_out)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--gsc-dir" if options["gsc_dir"] else "--data") from None
    if options["samples"] > len(pool[0]):
        raise click.BadParameter(
            f"{options['samples']} adaptation samples asked for, but {source} holds {len(pool[0])}",
            param_hint="--samples",
        )
    lr = options["lr"] or (EVENTPROP_LR if eventprop else CHIP_BATCH1["lr"])
    adapt_config = AdaptConfig(
        options["samples"], options["eval_every"], lr, options["seed"], options["rehearse_every"]
    )
    out_dir = prepare_out(options["out"])
    dtype = np.dtype(checkpoint.meta.get("run_config", {}).get("dtype") or "float32").type
    memory = report_memory(config, eventprop, options["pes"], synapses, dtype, out_dir)
    engine = _place(checkpoint, config, eventprop, synapses, options, lr)
    with engine:
        if options["drift_before"] > 0:
            engine.advance(options["drift_before"])
        click.echo(
            f"Adapting {checkpoint.path} on {engine_name} ({options['pes']} PEs, batch 1, lr {lr:g}, "
            f"{describe(synapses)}) with {options['samples']} samples of {source}"
            + (
                f", rehearsing an original-task sample after every {options['rehearse_every']}"
                if options["rehearse_every"]
                else ""
            )
        )
        reader = _reader(engine, engine_name, config, eventprop, synapses)
        start = time.perf_counter()
        try:
            result = adapt(
                engine,
                pool,
                {NEW: held_out, ORIGINAL: original},
                adapt_config,
                reader=reader,
                on_point=_echo_point,
                # A bar only where a terminal shows it; a redirected log would get carriage-return lines.
                progress=not options["no_progress"] and sys.stderr.isatty(),
                rehearsal=rehearsal if options["rehearse_every"] else None,
            )
        except NonFiniteError as error:
            raise click.ClickException(f"{error}; nothing was written to {out_dir / 'checkpoints'}") from None
        wall = time.perf_counter() - start
        state = engine.state()
    _write_results(out_dir, checkpoint, result, state, options, synapses, lr, source, memory, wall)
    first, last = result.curve[0], result.curve[-1]
    click.echo(
        f"Adapted: new condition {100 * first[f'{NEW}_accuracy']:.2f} % -> {100 * last[f'{NEW}_accuracy']:.2f} % "
        f"after {last['samples']} samples; original task {100 * first[f'{ORIGINAL}_accuracy']:.2f} % -> "
        f"{100 * last[f'{ORIGINAL}_accuracy']:.2f} %"
    )


def _synapses(ctx: click.Context, options: dict, checkpoint: Any, eventprop: bool) -> SynapseConfig:
    given = ctx.get_parameter_source("synapses") != click.core.ParameterSource.DEFAULT
    if eventprop and given and options["synapses"] != "digital":
        raise click.BadParameter("EventProp adapts digital weights", param_hint="--synapses")
    try:
        recorded = synapses_of(checkpoint.meta, f"checkpoint {checkpoint.path}")
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--checkpoint") from None
    if not given:
        device = [name for name in DEVICE_OPTIONS + PCM_OPTIONS if options.get(name) is not None]
        if device and recorded.kind == "digital":
            flag = "--" + device[0].replace("_", "-")
            raise click.BadParameter(f"{flag} needs --synapses quantised or pcm", param_hint=flag)
        if not device:
            return recorded
        options = {**options, "synapses": recorded.kind}
    return synapse_config(options, seed=options["seed"])


def _place(checkpoint, config, eventprop: bool, synapses: SynapseConfig, options: dict, lr: float):
    """The started engine holding the checkpoint's network on ``synapses`` with a fresh ADAM."""
    from pe_actors.rules.eprop.gradients import init_params
    from pe_actors.rules.eventprop.network import init_eventprop_params
    from pe_actors.run.training import RunError, start_engine

    state = checkpoint.engine_state
    reference = init_eventprop_params(config) if eventprop else init_params(config)
    try:
        check_weight_shapes(state, reference, f"checkpoint {checkpoint.path}")
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--checkpoint") from None
    recorded = checkpoint.meta.get("optimiser", {})
    optimiser = OptimiserConfig(lr=lr, l2=float(recorded.get("l2", OptimiserConfig.l2)), lr_decay=1.0)
    rule_name = "eventprop" if eventprop else "eprop"
    backend = backend_name(rule_name, options["engine"])
    engine_options = {"pes": options["pes"], "groups": 1, "sub_batch": 1, "synapses": synapses}
    if backend == "actors":
        engine_options.update(
            transport=options["transport"],
            address=options["address"],
            dashboard_port=options["dashboard_port"],
            run_name=f"adapt-{Path(options['out']).name}"[:64],
        )
    try:
        engine = start_engine(make(rule_name, backend, config, weights_only(state), optimiser, **engine_options),
                              click.echo)  # fmt: skip
    except RunError as error:
        raise click.ClickException(str(error)) from None
    same_devices = synapses.kind != "digital" and synapses == synapses_of(checkpoint.meta)
    if same_devices:
        engine.load_state(fresh_optimiser(state))
    return engine


def _reader(engine: Any, engine_name: str, config: Any, eventprop: bool, synapses: SynapseConfig):
    """A function returning an off-chip engine loaded with ``engine``'s current weights (and devices), which
    predicts what the PEs predict for many samples at once; None when ``engine`` is off-chip already."""
    if engine_name in ("offchip", "replay"):
        return None
    rule_name = "eventprop" if eventprop else "eprop"
    copy = make(rule_name, backend_name(rule_name, "offchip"), config, weights_only(engine.state()), synapses=synapses)

    def read() -> Any:
        copy.load_state(engine.state())
        return copy

    return read


def _echo_point(record: dict) -> None:
    if record["samples"] == 0 or record["samples"] % 100 == 0:
        click.echo(
            f"after {record['samples']:>4} samples: new condition {100 * record[f'{NEW}_accuracy']:6.2f} %, "
            f"original task {100 * record[f'{ORIGINAL}_accuracy']:6.2f} %",
            err=True,
        )


def _write_results(
    out_dir: Path,
    checkpoint: Any,
    result: Adaptation,
    state: dict,
    options: dict,
    synapses: SynapseConfig,
    lr: float,
    source: str,
    memory: dict,
    wall: float,
) -> None:
    write_csv(out_dir / "adaptation.csv", result.curve)
    condition = Path(options["gsc_dir"] or options["data"]).name
    where = "digital synapses" if synapses.kind == "digital" else f"{synapses.bits}-bit {synapses.kind} synapses"
    if options["drift_before"]:
        where += f" after {options['drift_before']:g} s of drift"
    title = (
        f"{run_dir_of(checkpoint.path).name} adapting to {condition}\n{options['engine']}, {options['pes']} PEs, "
        f"batch 1, lr {lr:g}, {where}"
    )
    plot_adaptation(result.curve, out_dir / "adaptation.png", title)
    summary = {
        "checkpoint": checkpoint.path,
        "source": source,
        "engine": options["engine"],
        "pes": options["pes"],
        "lr": lr,
        "samples": options["samples"],
        "eval_every": options["eval_every"],
        "seed": options["seed"],
        "drift_before_s": options["drift_before"],
        "rehearse_every": options["rehearse_every"],
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
                "source": source,
                "samples": last["samples"],
                "lr": lr,
                "seed": options["seed"],
                "rehearse_every": options["rehearse_every"],
                "new_condition_accuracy": last[f"{NEW}_accuracy"],
                "original_task_accuracy": last[f"{ORIGINAL}_accuracy"],
            },
        }
    )
    path = save_checkpoint(out_dir / "checkpoints", f"adapted-n{last['samples']:06d}", state, {}, meta)
    click.echo(f"Wrote {out_dir / 'adaptation.png'}, adaptation.csv, adaptation.json, memory.png and {path}")
