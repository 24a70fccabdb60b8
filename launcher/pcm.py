"""``pe-actors pcm``: the phase-change-memory reports (docs/synapses.md, "Results").

``pcm sweep`` trains the main recipe once in float32 and then with quantised and PCM synapses at each bit width,
each run a normal run directory made by ``pe-actors train`` (so every row can be rerun, evaluated or resumed on
its own; a finished run is reused, an interrupted one resumed); ``pcm drift`` reads a PCM-trained model after
1 s to 1 month of drift, with and without global drift compensation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pe_actors.reports.figures import pyplot, save_figure, write_csv, write_json
from pe_actors.run.config import RunConfig
from pe_actors.studies.pcm import DRIFT_TIMES, SWEEP_BITS, drift_study, summarise, writes_over_training
from pe_actors.training.trainer import best_epoch
from pe_actors_launcher.options import FiniteFloatRange, library_errors, standin_options
from pe_actors_launcher.plots import prepare_out

#: The device options ``pcm sweep`` passes on to every device run, and the ones it passes on to PCM runs only.
#: The device settings of quantised and pcm synapses (the others are pcm's only).
DEVICE_OPTIONS = ("g_max", "clip_sd", "sample_seconds")


def parse_bits(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``--bits 32,8,4`` as a tuple; 32 means float32, the others lie in 1..16."""
    try:
        bits = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers", ctx, param) from None
    bad = [b for b in bits if b != 32 and not 1 <= b <= 16]
    if bad or not bits:
        raise click.BadParameter(f"bit widths must be 32 (float32) or lie in 1..16, got {value!r}", ctx, param)
    return bits


def parse_seeds(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """``--seeds 0,1,2`` as a tuple of distinct non-negative integers."""
    try:
        seeds = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers", ctx, param) from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise click.BadParameter(f"seeds must be distinct integers >= 0, got {value!r}", ctx, param)
    return seeds


def run_training(settings: dict[str, Any]) -> None:
    """A training run of the library with ``settings`` (train's options); its errors are this command's."""
    from pe_actors.run import training
    from pe_actors.run.config import resolve

    with library_errors():
        config = resolve(settings) if settings.get("resume") is None else RunConfig(**settings)
        training.train(config, given=settings)


def train_or_reuse(out: Path, settings: dict[str, Any], echo: Any) -> dict:
    """The summary of the run in ``out``: reused when finished with the same ``settings`` (train's options),
    resumed when it was interrupted, trained otherwise."""
    from pe_actors.run.config import flag, plain

    summary = out / "summary.json"
    if summary.is_file():
        finished = json.loads(summary.read_text())
        recorded = finished.get("run_config", {})
        for key, value in settings.items():
            if key in recorded and str(recorded[key]) != str(plain(value)):
                raise click.BadParameter(
                    f"{out} holds a finished run with {flag(key)} {recorded[key]}, not {plain(value)}; remove it or "
                    "choose another --out",
                    param_hint="--out",
                )
        echo(f"  reusing the finished run {out}")
        return finished
    progress = {"progress": settings.get("progress", True)}
    if (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        echo(f"  resuming the interrupted run {out}")
        run_training({"resume": out, **progress})
    else:
        run_training({**settings, "out": out})
    return json.loads(summary.read_text())


def sweep_row(kind: str, bits: int, seed: int, summary: dict, out: Path) -> dict:
    from pe_actors.rules.eprop.config import network_config

    final = summary["final"]
    best = best_epoch(json.loads((out / "curves.json").read_text()))
    config = network_config(summary["run_config"].get("network", "gsc"))
    points = writes_over_training(out / "metrics.jsonl", config) if kind != "digital" else []
    return {
        "synapses": kind,
        "bits": bits,
        "seed": seed,
        "test_accuracy": best["test_accuracy"],
        "validation_accuracy": best["validation_accuracy"],
        "best_validation_epoch": best["epoch"],
        "last_epoch_test_accuracy": final["test_accuracy"],
        "writes_per_synapse": points[-1][1] if points else None,
        "run": str(out),
    }


def plot_sweep(rows: list[dict], runs: dict[str, Path], path: Path, title: str) -> Path:
    """Left: test accuracy against bits per device (mean and standard deviation over the seeds), quantised and PCM,
    float32 as a line. Right: device writes per synapse over training of each PCM run of ``runs``."""
    from pe_actors.rules.eprop.config import network_config

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    float_rows = [row for row in rows if row["synapses"] == "digital"]
    widths = sorted({row["bits"] for row in rows if row["synapses"] != "digital"}, reverse=True)
    for kind, style in (("quantised", "s--"), ("pcm", "o-")):
        ours = sorted((r for r in rows if r["synapses"] == kind), key=lambda r: -r["bits"])
        if ours:
            where = [widths.index(r["bits"]) for r in ours]
            accuracy = [100 * r["test_accuracy"] for r in ours]
            spread = [100 * r["test_accuracy_sd"] for r in ours]
            left.errorbar(where, accuracy, yerr=spread, fmt=style, capsize=3, label=kind)
    if float_rows:
        reference = 100 * float_rows[0]["test_accuracy"]
        left.axhline(reference, color="black", linewidth=1, label=f"float32 ({reference:.1f} %)")
        left.axhline(reference - 2, color="grey", linewidth=0.8, linestyle=":", label="float32 - 2 points")
    left.set_xticks(range(len(widths)), [str(b) for b in widths])
    left.set(xlabel="bits per device", ylabel="test accuracy [%]")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    left.set_title(title, fontsize=9)
    config = network_config("gsc")
    for name, run in runs.items():
        if not name.startswith("pcm"):
            continue
        points = writes_over_training(run / "metrics.jsonl", config)
        if points:
            right.plot([p[0] for p in points], [p[1] for p in points], label=name)
    right.set(xlabel="training samples", ylabel="device writes per synapse (both devices)")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    right.set_title("writes per synapse over training (first programming included)", fontsize=9)
    return save_figure(fig, path)


@click.group("pcm")
def pcm() -> None:
    """E-prop with phase-change-memory synapses: precision sweep and drift (docs/synapses.md)."""


@pcm.command("sweep")
@click.option(
    "--bits",
    default=",".join(map(str, SWEEP_BITS)),
    show_default=True,
    callback=parse_bits,
    help="Bit widths per device to train; 32 is the float32 network (digital synapses).",
)
@click.option(
    "--kinds",
    type=click.Choice(["quantised", "pcm", "both"]),
    default="both",
    show_default=True,
    help="Device synapses to sweep: ideal quantised devices, PCM devices, or both.",
)
@click.option(
    "--engine",
    type=click.Choice(["replay", "inprocess", "actors"]),
    default="replay",
    show_default=True,
    help="Engine of every run (replay: e-prop's off-chip engine, the same device reads and gradients as the PEs).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs per run [default: the recipe's].")
@click.option(
    "--seeds",
    default="0",
    show_default=True,
    callback=parse_seeds,
    help="Seeds to train every row with (comma-separated); the table gives the mean and standard deviation.",
)
@click.option("--max-samples", type=click.IntRange(min=1), default=None, help="Training samples per epoch.")
@standin_options
@click.option("--prog-noise", type=FiniteFloatRange(min=0), default=None, help="pcm: programming-noise scale.")
@click.option("--drift", type=FiniteFloatRange(min=0), default=None, help="pcm: drift-exponent scale.")
@click.option("--read-noise", type=FiniteFloatRange(min=0), default=None, help="pcm: read-noise scale.")
@click.option("--g-max", type=FiniteFloatRange(min=0, min_open=True), default=None, help="g_max in uS.")
@click.option("--clip-sd", type=FiniteFloatRange(min=0, min_open=True), default=None, help="Clip range in initial sd.")
@click.option(
    "--sample-seconds", type=FiniteFloatRange(min=0), default=None, help="Device seconds per training sample."
)
@click.option("--progress/--no-progress", default=True, help="Show each run's progress bars.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/pcm-sweep"),
    show_default=True,
    help="Report directory: pcm-sweep.csv/.json/.png and one run directory per row under runs/.",
)
def sweep(
    bits: tuple[int, ...],
    kinds: str,
    engine: str,
    epochs: int | None,
    seeds: tuple[int, ...],
    max_samples: int | None,
    data: Path | None,
    cache: Path,
    standin_size: str,
    progress: bool,
    out_dir: Path,
    **devices: float | None,
) -> None:
    """Test accuracy of the main recipe against bits per device (float32, quantised, PCM) on the same data and
    seeds (each run's result: its best-validation epoch, as train reports and evaluate picks; the last epoch's
    beside it), and device writes per synapse; PNG, CSV (the mean over seeds; pcm-sweep-runs.csv: every run) and
    JSON."""
    try:
        out_dir = prepare_out(out_dir)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    common: dict[str, Any] = {"engine": engine, "cache": cache, "standin_size": standin_size}
    for name, value in (("epochs", epochs), ("max_samples", max_samples), ("data", data)):
        if value is not None:
            common[name] = value
    device_settings: dict[str, dict[str, Any]] = {"quantised": {}, "pcm": {}}
    for name, value in devices.items():
        if value is None:
            continue
        for kind in ("quantised", "pcm") if name in DEVICE_OPTIONS else ("pcm",):
            device_settings[kind][name] = value
    plan = [("digital", 32)] if 32 in bits else []
    for kind in ("quantised", "pcm") if kinds == "both" else (kinds,):
        plan += [(kind, b) for b in bits if b != 32]
    rows, runs = [], {}
    jobs = [(seed, kind, width) for seed in seeds for kind, width in plan]
    for index, (seed, kind, width) in enumerate(jobs, start=1):
        name = "float32" if kind == "digital" else f"{kind}-{width}bit"
        click.echo(f"[{index}/{len(jobs)}] {name}, seed {seed}")
        settings = {**common, "seed": seed}
        if kind != "digital":
            settings |= {"synapses": kind, "bits": width, **device_settings[kind]}
        run = out_dir / "runs" / f"seed{seed}" / name
        summary = train_or_reuse(run, {**settings, "progress": progress}, click.echo)
        rows.append(sweep_row(kind, width, seed, summary, run))
        if seed == seeds[0]:
            runs[name] = run
    table = summarise(rows)
    stem = out_dir / "pcm-sweep"
    write_csv(stem.with_suffix(".csv"), table)
    write_csv(out_dir / "pcm-sweep-runs.csv", rows)
    write_json(stem.with_suffix(".json"), {"table": table, "runs": rows, "engine": engine, "devices": devices})
    seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds"
    plot_sweep(table, runs, stem.with_suffix(".png"), f"main recipe, {seeds_text}, {engine} engine")
    click.echo(f"{'synapses':<10}{'bits':>5}{'test % (best val)':>18}{'last epoch %':>16}{'writes/synapse':>16}")
    for row in table:
        writes = "-" if row["writes_per_synapse"] is None else f"{row['writes_per_synapse']:.1f}"
        click.echo(
            f"{row['synapses']:<10}{row['bits']:>5}{100 * row['test_accuracy']:>11.2f} ± "
            f"{100 * row['test_accuracy_sd']:<4.2f}{100 * row['last_epoch_test_accuracy']:>9.2f} ± "
            f"{100 * row['last_epoch_test_accuracy_sd']:<4.2f}{writes:>14}"
        )
    click.echo(f"Sweep in {stem.with_suffix('.png')}, {stem.with_suffix('.csv')}")


def plot_drift(rows: list[dict], path: Path, title: str) -> Path:
    """Accuracy against time since the end of training (log axis), without and with drift compensation (error bars:
    the spread over models, or over reads for one model); the models as training left them (0 s) as a line."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for compensation, style, name in ((False, "o-", "no compensation"), (True, "s-", "global drift compensation")):
        points = [r for r in rows if r["compensation"] == compensation and r["seconds"] > 0]
        spread = [100 * (r["accuracy_sd"] if r["n"] > 1 else r["read_sd"]) for r in points]
        ax.errorbar([r["seconds"] for r in points], [100 * r["accuracy"] for r in points], yerr=spread, fmt=style,
                    capsize=3, label=name)
    start = next((r for r in rows if r["seconds"] == 0 and not r["compensation"]), None)
    if start is not None:
        ax.axhline(100 * start["accuracy"], color="black", linewidth=1, label=f"0 s ({100 * start['accuracy']:.1f} %)")
    ax.set_xscale("log")
    ticks = [r for r in rows if r["seconds"] > 0 and not r["compensation"]]
    ax.set_xticks([r["seconds"] for r in ticks], [r["time"] for r in ticks])
    ax.set(xlabel="time since the end of training", ylabel="test accuracy [%]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


@pcm.command("drift")
@click.option(
    "--checkpoint",
    "checkpoint_paths",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    multiple=True,
    help="A run trained with --synapses pcm (its best checkpoint by validation accuracy, as evaluate picks) or "
    "a checkpoint directory; repeat it for several models (for example one per seed), averaged in the table.",
)
@standin_options
@click.option(
    "--split", type=click.Choice(["test", "validation"]), default="test", show_default=True, help="Split to score."
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Reads per point (read noise drawn afresh); the table gives their mean and standard deviation.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/pcm-drift"),
    show_default=True,
    help="Report directory: pcm-drift.csv/.json/.png.",
)
def drift(
    checkpoint_paths: tuple[Path, ...],
    data: Path | None,
    cache: Path,
    standin_size: str,
    split: str,
    repeats: int,
    out_dir: Path,
) -> None:
    """Accuracy of PCM-trained models 0 s, 1 s, 1 min, 1 h, 1 day and 1 month after training, without and with
    global drift compensation; PNG, CSV (the mean over models; pcm-drift-models.csv: every model) and JSON."""
    from pe_actors.core.checkpoint import load_checkpoint, resolve_checkpoint
    from pe_actors.engines.registry import checkpoint_synapses
    from pe_actors.rules.eprop.config import NetworkConfig
    from pe_actors.run.config import ConfigError
    from pe_actors.run.data import load_splits

    models = []
    for path in checkpoint_paths:
        try:
            checkpoint = load_checkpoint(resolve_checkpoint(path, prefer="best"))
            config = NetworkConfig.from_dict(checkpoint.meta["network"])
            synapses = checkpoint_synapses(checkpoint.meta, f"checkpoint {checkpoint.path}")
            if synapses.kind != "pcm":
                raise ValueError(f"checkpoint {checkpoint.path} was trained with {synapses.kind} synapses, not pcm")
        except (ValueError, KeyError, TypeError) as error:
            raise click.BadParameter(str(error), param_hint="--checkpoint") from None
        models.append((checkpoint, config, synapses))
    try:
        out_dir = prepare_out(out_dir)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    try:
        x, labels = getattr(load_splits("eprop", models[0][1], data, cache=cache, size=standin_size).splits, split)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--data") from None
    click.echo(f"{len(models)} model(s); {len(labels)} {split} samples, {repeats} reads per point")
    rows = []
    with click.progressbar(length=2 * len(DRIFT_TIMES) * len(models), label="reading the devices") as bar:
        for checkpoint, config, synapses in models:
            state = checkpoint.engine_state
            points = drift_study(config, state, synapses, x, labels, DRIFT_TIMES, repeats, lambda: bar.update(1))
            rows += [{"model": str(checkpoint.path), **row} for row in points]
    table = summarise(rows, keys=("time", "compensation"))
    stem = out_dir / "pcm-drift"
    write_csv(stem.with_suffix(".csv"), table)
    write_csv(out_dir / "pcm-drift-models.csv", rows)
    write_json(stem.with_suffix(".json"), {"table": table, "models": rows, "synapses": models[0][2].to_dict()})
    bits = sorted({m[2].bits for m in models})
    plot_drift(table, stem.with_suffix(".png"), f"{len(models)} model(s), {'/'.join(map(str, bits))}-bit PCM")
    across = len(models) > 1
    over = "models" if across else "reads"
    click.echo(f"{'time':<9}{'no compensation %':>19}{'compensated %':>17}   (± over {over})")
    for label, _ in DRIFT_TIMES:
        plain, compensated = (next(r for r in table if r["time"] == label and r["compensation"] == c) for c in (0, 1))
        spread = "accuracy_sd" if across else "read_sd"
        click.echo(
            f"{label:<9}{100 * plain['accuracy']:>12.2f} ± {100 * plain[spread]:<4.2f}"
            f"{100 * compensated['accuracy']:>10.2f} ± {100 * compensated[spread]:.2f}"
        )
    click.echo(f"Drift in {stem.with_suffix('.png')}, {stem.with_suffix('.csv')}")
