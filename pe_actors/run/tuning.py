"""Hyper-parameter search with Ray Tune on the fast off-chip engines (``pe-actors tune``, or :func:`tune`).

The search space is a TOML file: a ``[space]`` table of run settings sampled per trial and a ``[fixed]`` table of
settings every trial shares (keys are option names, as in a run config)::

    rule = "eventprop"                      # optional: the rule of every trial (default: eprop)
    [space]
    lr = { loguniform = [0.001, 0.02] }     # also: uniform = [a, b], randint = [a, b], choice = [...]
    tau0 = { choice = [0.25, 0.5, 1.0] }
    [fixed]
    epochs = 20

Every trial is a training run of the library on the rule's off-chip engine in its own directory; it reports each
epoch's validation accuracy to Ray Tune, whose scheduler (ASHA by default) stops the weak trials early. The results
go to ``out``: ``tune.csv`` (a row per trial: its options, its best validation accuracy and that epoch's test
accuracy), ``tune.json``, ``tune.png``, and ``best.toml``, the best trial's options as a run config that
``pe-actors train --config`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe_actors.core.logs import log, quiet
from pe_actors.core.settings import Settings, choice, int_range, load_toml, setting
from pe_actors.reports.figures import write_csv, write_json
from pe_actors.reports.tuning import plot_trials
from pe_actors.rules import run_rule_names
from pe_actors.run.config import ConfigError, RunConfig, resolve, write_toml
from pe_actors.run.context import RunError
from pe_actors.run.data import load_dataset
from pe_actors.run.plan import plan

#: Distributions a ``[space]`` entry may name, and how many numbers each takes (None: a list of values).
DISTRIBUTIONS = {"loguniform": 2, "uniform": 2, "randint": 2, "choice": None}
#: Options a trial sets itself (where it runs and what it prints), which a space file may not give.
RESERVED = frozenset({"out", "resume", "engine", "progress", "config", "config_file", "address", "dashboard_port"})
#: The metric trials report each epoch and the scheduler maximises.
METRIC = "validation_accuracy"


def _bad(message: str) -> ConfigError:
    return ConfigError(message, "space")


def read_space(path: Path, valid: set[str] | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(rule, space, fixed) of the space file ``path`` whose keys are among ``valid`` (default: every run
    setting); a ConfigError names the file and the key."""
    valid = set(RunConfig.names()) if valid is None else valid
    raw = load_toml(path, "search space", "space")
    unknown = sorted(set(raw) - {"rule", "space", "fixed"})
    if unknown:
        raise _bad(f"{path}: unknown top-level key(s) {unknown}; use rule, [space], [fixed]")
    rule = raw.get("rule", RunConfig.rule)
    if rule not in run_rule_names():
        raise _bad(f"{path}: rule must be one of {list(run_rule_names())}, got {rule!r}")
    tables = {}
    for table in ("space", "fixed"):
        entries = {key.replace("-", "_"): value for key, value in raw.get(table, {}).items()}
        for key in entries:
            if key not in valid or key in RESERVED:
                hint = "the trial sets it" if key in RESERVED else "not a pe-actors train option"
                raise _bad(f"{path}: [{table}] key {key.replace('_', '-')!r}: {hint}")
        tables[table] = entries
    if not tables["space"]:
        raise _bad(f"{path}: the [space] table is empty; nothing to search")
    for key, spec in tables["space"].items():
        name = key.replace("_", "-")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise _bad(
                f"{path}: [space] {name} must be one of {{loguniform = [a, b]}}, {{uniform = [a, b]}}, "
                f"{{randint = [a, b]}}, {{choice = [...]}}; got {spec!r}"
            )
        kind, values = next(iter(spec.items()))
        count = DISTRIBUTIONS[kind]
        if not isinstance(values, list) or not values or (count is not None and len(values) != count):
            raise _bad(f"{path}: [space] {name}: {kind} takes {count or 'a list of'} values")
        if kind == "loguniform" and not 0 < values[0] < values[1]:
            raise _bad(f"{path}: [space] {name}: loguniform needs 0 < a < b")
    return rule, tables["space"], tables["fixed"]


def search_space(space: dict[str, Any]) -> dict[str, Any]:
    """The Ray Tune sampling objects of a checked ``[space]`` table."""
    from ray import tune

    samplers = {"loguniform": tune.loguniform, "uniform": tune.uniform, "randint": tune.randint}
    out = {}
    for key, spec in space.items():
        kind, values = next(iter(spec.items()))
        out[key] = tune.choice(values) if kind == "choice" else samplers[kind](*values)
    return out


def run_trial(sampled: dict[str, Any], base: dict[str, Any]) -> None:
    """One trial: a training run of the library with the base and sampled options in the trial's directory,
    reporting each epoch to Ray Tune."""
    from ray import tune

    from pe_actors.run import training
    from pe_actors.training.trainer import Callback

    class Report(Callback):
        def on_epoch_end(self, trainer, state, record) -> None:
            tune.report({key: record[key] for key in ("epoch", METRIC, "test_accuracy", "train_loss")})

    out = Path(tune.get_context().get_trial_dir()) / "run"
    config = resolve({**base, **sampled, "progress": False, "out": out})
    with quiet():  # Ray Tune reports the trials
        training.train(config, callbacks=[Report()])


@dataclass(frozen=True)
class SearchSettings(Settings):
    """How a search runs (``pe-actors tune``'s options besides the data and the report directory)."""

    space: Path | None = setting(default=None, kind="path", folder="file", optional=True,
                                 help="Search-space TOML: [space] options sampled per trial, [fixed] options shared, "
                                 "optional rule = ... (see configs/tune/).")
    trials: int = setting(default=8, **int_range(1), help="Trials to sample.")
    scheduler: str = setting(default="asha", **choice("asha", "fifo"), help="asha stops weak trials early at epochs "
                             "1, 2, 4, ... (reduction factor 2); fifo runs every trial out.")
    concurrent: int = setting(default=2, **int_range(1), help="Trials running at once.")
    seed: int = setting(default=0, **int_range(0), help="Seed of the search.")


@dataclass(frozen=True)
class Search:
    """A finished search: its ``rule``, ``space`` and ``fixed`` settings, a row per trial (its sampled settings,
    its best validation accuracy and that epoch's test accuracy, its epochs and status), the ``best`` finished
    trial's row, and the directory ``out`` of its files."""

    rule: str
    space: dict[str, Any]
    fixed: dict[str, Any]
    rows: list[dict[str, Any]]
    best: dict[str, Any]
    out: Path


def trial_base(rule: str, fixed: dict[str, Any], data: Path | None, cache: Path, standin_size: str) -> dict:
    """The settings every trial shares, checked like every run's before Ray or any trial starts; the rule's data
    are made here once (the stand-in synthesised into the cache), not in every trial. Paths are absolute, as
    trials run in directories of their own."""
    base: dict[str, Any] = {"rule": rule, "engine": "offchip", **fixed}
    if data is not None:
        base["data"] = str(Path(data).resolve())
    else:
        base.update(cache=str(Path(cache).resolve()), standin_size=standin_size)
    try:
        run_plan = plan(resolve(base))
        load_dataset(run_plan.config, run_plan.network)
    except (ConfigError, TypeError) as error:
        raise ConfigError(f"[fixed]: {error}", "space") from None
    return {**base, "epochs": run_plan.config.epochs}


def run_search(base: dict[str, Any], space: dict[str, Any], trials: int, scheduler: str, concurrent: int,
               seed: int, out: Path) -> Any:
    """Ray Tune's results of ``trials`` trials of ``space`` over ``base`` (on a local Ray of its own)."""
    from pe_actors.runtime.cluster import start_ray

    start_ray(None, num_pe_slots=1)
    import ray
    from ray import tune as ray_tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    chosen = (
        ASHAScheduler(time_attr="training_iteration", max_t=base["epochs"], grace_period=1, reduction_factor=2)
        if scheduler == "asha"
        else FIFOScheduler()
    )
    tuner = ray_tune.Tuner(
        ray_tune.with_resources(ray_tune.with_parameters(run_trial, base=base), {"cpu": 1}),
        param_space=search_space(space),
        tune_config=ray_tune.TuneConfig(metric=METRIC, mode="max", num_samples=trials, scheduler=chosen,
                                        max_concurrent_trials=concurrent,
                                        search_alg=BasicVariantGenerator(random_state=seed)),
        run_config=ray_tune.RunConfig(name="trials", storage_path=str(out), verbose=1),
    )
    try:
        return [trial_row(index, result) for index, result in enumerate(tuner.fit())]
    finally:
        ray.shutdown()


def trial_row(index: int, result: Any) -> dict[str, Any]:
    """A trial's row: every row has the same columns; a trial that failed (a diverging one stops with a
    non-finite loss) keeps what it reported before, and the search goes on to its end."""
    history = result.metrics_dataframe
    row = {"trial": index, **result.config, METRIC: float("nan"), "test_accuracy": float("nan"),
           "best_epoch": None, "epochs": 0, "status": "failed" if result.error is not None else "finished",
           "error": "" if result.error is None else str(result.error).strip().splitlines()[-1]}
    if history is not None and not history.empty:
        best = history.iloc[::-1].loc[history[METRIC].iloc[::-1].idxmax()]
        row |= {METRIC: float(best[METRIC]), "test_accuracy": float(best["test_accuracy"]),
                "best_epoch": int(best["epoch"]), "epochs": int(history["epoch"].max())}
    elif result.error is None:
        row |= {"status": "failed", "error": "reported no epoch"}
    return row


def tune(
    space_path: Path | str, trials: int = 8, scheduler: str = "asha", concurrent: int = 2, data: Path | None = None,
    cache: Path = Path("cache/standin"), standin_size: str = "default", seed: int = 0, out: Path = Path("runs/tune"),
) -> Search:
    """Search the settings of ``space_path`` with Ray Tune (``scheduler``: asha or fifo) over ``trials`` trials,
    ``concurrent`` at once, on the rule's off-chip engine, and write the files of the module docstring into
    ``out``. Bad files or settings are a ConfigError naming ``space``; a search whose every trial failed is a
    RunError."""
    space_path = Path(space_path)
    rule, space, fixed = read_space(space_path)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        base = trial_base(rule, fixed, data, cache, standin_size)
    except ConfigError as error:
        raise ConfigError(f"{space_path} {error}", "space") from None
    log.info(f"Searching {', '.join(space)} over {trials} trials ({scheduler}, {rule} on the {base['engine']} engine)")
    rows = run_search(base, space, trials, scheduler, concurrent, seed, out)
    finished = [row for row in rows if row["status"] == "finished"]
    if len(finished) < len(rows):
        log.warning(f"{len(rows) - len(finished)} of {len(rows)} trials failed; the first: "
                    f"{next(r['error'] for r in rows if r['error'])}")
    if not finished:
        raise RunError(f"every trial failed; the first error: {rows[0]['error']}")
    best = max(finished, key=lambda row: row[METRIC])
    write_csv(out / "tune.csv", rows)
    write_json(out / "tune.json", {"rule": rule, "space": space, "fixed": fixed, "trials": rows, "best": best})
    plot_trials(finished, space, METRIC, out / "tune.png", f"{rule}: {len(rows)} trials, {scheduler}")
    chosen = {"rule": rule, **fixed, **{key: best[key] for key in space}}
    write_toml(out / "best.toml", {key: value for key, value in chosen.items() if key != "data"},
               header=f"Best of {len(rows)} trials of pe-actors tune --space {space_path} (validation accuracy "
               f"{100 * best[METRIC]:.2f} % at epoch {best['best_epoch']}); train it with pe-actors train --config "
               "FILE")
    return Search(rule, space, fixed, rows, best, out)
