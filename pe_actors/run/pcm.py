"""The PCM studies of e-prop (docs/synapses.md, "Results"), built on runs: :func:`sweep` trains the main recipe in
float32 and with quantised and PCM synapses at each bit width, each a normal run directory (a finished run is
reused, an interrupted one resumed), and :func:`drift` reads PCM-trained models from 1 s to 1 month after
training, with and without global drift compensation."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe_actors.core.logs import log
from pe_actors.core.settings import ConfigError, Settings, choice, flag, int_list, int_range, plain, setting
from pe_actors.reports.figures import write_csv, write_json
from pe_actors.reports.pcm import plot_drift, plot_sweep
from pe_actors.run.config import RunConfig, resolve, synapse_settings
from pe_actors.run.data import load_splits
from pe_actors.run.model import load
from pe_actors.run.rundir import RunDir
from pe_actors.run.training import train
from pe_actors.studies.pcm import DRIFT_TIMES, SWEEP_BITS, drift_study, summarise, writes_over_training
from pe_actors.training.trainer import best_epoch

__all__ = ["DRIFT_TIMES", "SWEEP_BITS", "Study", "drift", "sweep"]


@dataclass(frozen=True)
class SweepSettings(Settings):
    """What the precision sweep trains (``pe-actors pcm sweep``'s own options; a run's settings besides)."""

    bits: tuple[int, ...] = setting(default=SWEEP_BITS, **int_list(1, 16, also=(32,)),
                                    help="Bit widths per device to train; 32 is the float32 network (digital "
                                    "synapses).")
    kinds: str = setting(default="both", **choice("quantised", "pcm", "both"),
                         help="Device synapses to sweep: ideal quantised devices, PCM devices, or both.")
    engine: str = setting(default="replay", **choice("replay", "inprocess", "actors"), help="Engine of every run "
                          "(replay: e-prop's off-chip engine, the same device reads and gradients as the PEs).")
    seeds: tuple[int, ...] = setting(default=(0,), **int_list(0, distinct=True), help="Seeds to train every row "
                                     "with (comma-separated); the table gives the mean and standard deviation.")


@dataclass(frozen=True)
class DriftSettings(Settings):
    """How the drift study reads its models (``pe-actors pcm drift``'s options besides the models and the data)."""

    split: str = setting(default="test", **choice("test", "validation"), help="Split to score.")
    repeats: int = setting(default=3, **int_range(1), help="Reads per point (read noise drawn afresh); the table gives "
                           "their mean and standard deviation.")


@dataclass(frozen=True)
class Study:
    """A finished study: its ``table`` (the mean over seeds or models), every run's or model's ``rows``, and the
    ``stem`` of its files (``.csv``, ``.json``, ``.png``)."""

    table: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    stem: Path


def train_or_reuse(out: Path, settings: dict[str, Any]) -> dict:
    """The summary of the run in ``out``: reused when finished with the same ``settings`` (a run's settings),
    resumed when it was interrupted, trained otherwise; a ConfigError names ``out`` when it holds another run."""
    rundir = RunDir(out)
    if rundir.summary.is_file():
        finished = json.loads(rundir.summary.read_text())
        recorded = finished.get("run_config", {})
        for key, value in settings.items():
            if key in recorded and str(recorded[key]) != str(plain(value)):
                raise ConfigError(f"{out} holds a finished run with {flag(key)} {recorded[key]}, not {plain(value)}; "
                                  "remove it or choose another --out", "out")
        log.info(f"  reusing the finished run {out}")
        return finished
    if rundir.has_checkpoints():
        log.info(f"  resuming the interrupted run {out}")
        resume = {"resume": out, "progress": settings.get("progress", True)}
        train(RunConfig(**resume), given=resume)
    else:
        train(resolve({**settings, "out": out}), given={**settings, "out": out})
    return json.loads(rundir.summary.read_text())


def sweep_row(kind: str, bits: int, seed: int, summary: dict, out: Path) -> dict:
    """A run's row of the sweep: its best-validation epoch, its last epoch, its device writes per synapse."""
    from pe_actors.rules.eprop.config import network_config

    rundir = RunDir(out)
    best = best_epoch(json.loads(rundir.curves_json.read_text()))
    config = network_config(summary["run_config"].get("network", "gsc"))
    points = writes_over_training(rundir.metrics, config) if kind != "digital" else []
    return {"synapses": kind, "bits": bits, "seed": seed, "test_accuracy": best["test_accuracy"],
            "validation_accuracy": best["validation_accuracy"], "best_validation_epoch": best["epoch"],
            "last_epoch_test_accuracy": summary["final"]["test_accuracy"],
            "writes_per_synapse": points[-1][1] if points else None, "run": str(out)}


def sweep_jobs(bits: Sequence[int], kinds: Sequence[str], seeds: Sequence[int]) -> list[tuple[int, str, int]]:
    """(seed, synapse kind, bits) of every run: float32 (32 bits) once, each kind at every other width."""
    plan = [("digital", 32)] if 32 in bits else []
    for kind in kinds:
        plan += [(kind, b) for b in bits if b != 32]
    return [(seed, kind, width) for seed in seeds for kind, width in plan]


def sweep(
    out: Path, bits: Sequence[int] = SWEEP_BITS, kinds: Sequence[str] = ("quantised", "pcm"),
    seeds: Sequence[int] = (0,), common: dict[str, Any] | None = None, devices: dict[str, Any] | None = None,
) -> Study:
    """Train the main recipe at each of ``bits`` per device (32: float32) with each synapse kind of ``kinds``, for
    every seed of ``seeds``, with the run settings ``common`` and the device settings ``devices`` (each passed to
    the kinds that take it), one run directory per row under ``out/runs``; write pcm-sweep.csv/.json/.png and
    pcm-sweep-runs.csv into ``out``."""
    common, devices = dict(common or {}), {k: v for k, v in (devices or {}).items() if v is not None}
    rows, runs = [], {}
    jobs = sweep_jobs(bits, kinds, seeds)
    for index, (seed, kind, width) in enumerate(jobs, start=1):
        name = "float32" if kind == "digital" else f"{kind}-{width}bit"
        log.info(f"[{index}/{len(jobs)}] {name}, seed {seed}")
        settings = {**common, "seed": seed}
        if kind != "digital":
            taken = {k: v for k, v in devices.items() if k in synapse_settings(kind)}
            settings |= {"synapses": kind, "bits": width, **taken}
        run = Path(out) / "runs" / f"seed{seed}" / name
        rows.append(sweep_row(kind, width, seed, train_or_reuse(run, settings), run))
        if seed == seeds[0]:
            runs[name] = run
    table = summarise(rows)
    stem = Path(out) / "pcm-sweep"
    write_csv(stem.with_suffix(".csv"), table)
    write_csv(Path(out) / "pcm-sweep-runs.csv", rows)
    write_json(stem.with_suffix(".json"), {"table": table, "runs": rows, "engine": common.get("engine"),
                                           "devices": devices})
    seeds_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds"
    plot_sweep(table, runs, stem.with_suffix(".png"), f"main recipe, {seeds_text}, {common.get('engine')} engine")
    return Study(table, rows, stem)


def drift(
    checkpoints: Sequence[Path], out: Path, data: Path | None = None, cache: Path = Path("cache/standin"),
    standin_size: str = "default", split: str = "test", repeats: int = 3, tick: Callable[[], None] = lambda: None,
) -> Study:
    """Read the PCM-trained models of ``checkpoints`` at each of :data:`DRIFT_TIMES` after training, without and
    with global drift compensation, ``repeats`` reads per point, on ``split`` of ``data`` (default: the stand-in);
    write pcm-drift.csv/.json/.png and pcm-drift-models.csv into ``out``. ``tick`` is called after each point. A
    ConfigError names ``checkpoint`` for a model not trained on PCM synapses."""
    models = []
    for path in checkpoints:
        try:
            model = load(path)
        except ValueError as error:
            raise ConfigError(str(error), "checkpoint") from None
        if "drift" not in synapse_settings(model.synapses.kind):
            raise ConfigError(f"checkpoint {model.path} was trained with {model.synapses.kind} synapses, not pcm (or "
                              "another kind that drifts); give a run trained with --synapses pcm", "checkpoint")
        models.append(model)
    splits = load_splits(models[0].spec.name, models[0].config, data, cache=cache, size=standin_size).splits
    x, labels = getattr(splits, split)
    log.info(f"{len(models)} model(s); {len(labels)} {split} samples, {repeats} reads per point")
    rows = []
    for model in models:
        state = model.checkpoint.engine_state
        points = drift_study(model.config, state, model.synapses, x, labels, DRIFT_TIMES, repeats, tick)
        rows += [{"model": str(model.path), **row} for row in points]
    table = summarise(rows, keys=("time", "compensation"))
    stem = Path(out) / "pcm-drift"
    write_csv(stem.with_suffix(".csv"), table)
    write_csv(Path(out) / "pcm-drift-models.csv", rows)
    write_json(stem.with_suffix(".json"), {"table": table, "models": rows, "synapses": models[0].synapses.to_dict()})
    bits = sorted({model.synapses.bits for model in models})
    plot_drift(table, stem.with_suffix(".png"), f"{len(models)} model(s), {'/'.join(map(str, bits))}-bit PCM")
    return Study(table, rows, stem)
