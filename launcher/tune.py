"""``pe-actors tune``: hyper-parameter search with Ray Tune on the fast off-chip engines.

The search space is a TOML file: a ``[space]`` table of ``pe-actors train`` options sampled per trial and a
``[fixed]`` table of options every trial shares (keys are option names, as in a run config)::

    rule = "eventprop"                      # optional: the rule of every trial (default: eprop)
    [space]
    lr = { loguniform = [0.001, 0.02] }     # also: uniform = [a, b], randint = [a, b], choice = [...]
    tau0 = { choice = [0.25, 0.5, 1.0] }
    [fixed]
    epochs = 20

Every trial is a ``pe-actors train`` run (e-prop on the replay engine, EventProp on the vectorised off-chip
engine) in its own directory; it reports each epoch's validation accuracy to Ray Tune, whose scheduler (ASHA by
default) stops the weak trials early. The results go to ``--out``: ``tune.csv`` (a row per trial: its options,
its best validation accuracy and that epoch's test accuracy), ``tune.png``, and ``best.toml``, the best trial's
options as a run config that ``pe-actors train --config`` accepts.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

from pe_actors.core.logs import quiet
from pe_actors.reports.figures import pyplot, save_figure, write_csv, write_json
from pe_actors.rules import run_rule_names
from pe_actors.run.config import ConfigError, RunConfig, resolve, write_toml
from pe_actors.run.data import load_dataset
from pe_actors.run.plan import plan
from pe_actors_launcher.options import standin_options
from pe_actors_launcher.plots import prepare_out

#: Distributions a ``[space]`` entry may name, and how many numbers each takes (None: a list of values).
DISTRIBUTIONS = {"loguniform": 2, "uniform": 2, "randint": 2, "choice": None}
#: Options a trial sets itself (where it runs and what it prints), which a space file may not give.
RESERVED = frozenset({"out", "resume", "engine", "progress", "config", "config_file", "address", "dashboard_port"})
#: The metric trials report each epoch and the scheduler maximises.
METRIC = "validation_accuracy"


def _bad(message: str) -> click.BadParameter:
    return click.BadParameter(message, param_hint="--space")


def read_space(path: Path, valid: set[str]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(rule, space, fixed) of the space file ``path``; errors name the file and the key."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise _bad(f"cannot read search space {path}: {error}") from None
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


def plot_trials(rows: list[dict], space: dict[str, Any], path: Path, title: str) -> Path:
    """Best validation accuracy of each trial against each searched option (log axes for loguniform ones)."""
    plt = pyplot()
    names = list(space)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    best = max(rows, key=lambda row: row[METRIC])
    for ax, name in zip(axes[0], names, strict=True):
        kind = next(iter(space[name]))
        values = [row[name] for row in rows]
        scores = [100 * row[METRIC] for row in rows]
        if kind == "choice" and not all(isinstance(v, (int, float)) for v in values):
            labels = sorted({str(v) for v in values})
            values = [labels.index(str(v)) for v in values]
            ax.set_xticks(range(len(labels)), labels)
        ax.scatter(values, scores, color="tab:blue")
        ax.scatter([values[rows.index(best)]], [100 * best[METRIC]], color="tab:red", label="best", zorder=3)
        if kind == "loguniform":
            ax.set_xscale("log")
        ax.set(xlabel=name.replace("_", "-"), ylabel="best validation accuracy [%]")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


@click.command("tune")
@click.option(
    "--space",
    "space_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Search-space TOML: [space] options sampled per trial, [fixed] options shared, optional rule = ... "
    "(see configs/tune/).",
)
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True, help="Trials to sample.")
@click.option(
    "--scheduler",
    type=click.Choice(["asha", "fifo"]),
    default="asha",
    show_default=True,
    help="asha stops weak trials early at epochs 1, 2, 4, ... (reduction factor 2); fifo runs every trial out.",
)
@click.option("--concurrent", type=click.IntRange(min=1), default=2, show_default=True, help="Trials running at once.")
@standin_options
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the search.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/tune"),
    show_default=True,
    help="Report directory: tune.csv, tune.json, tune.png, best.toml, and the trials under trials/.",
)
def tune(
    space_path: Path,
    trials: int,
    scheduler: str,
    concurrent: int,
    data: Path | None,
    cache: Path,
    standin_size: str,
    seed: int,
    out_dir: Path,
) -> None:
    """Search hyper-parameters with Ray Tune (ASHA by default) on the rule's off-chip engine; writes a table, a
    PNG and the best trial's options as a run config."""
    valid = set(RunConfig.names())
    rule, space, fixed = read_space(space_path, valid)
    try:
        out_dir = prepare_out(out_dir).resolve()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--out") from None
    # Paths absolute, as trials run in directories of their own.
    base: dict[str, Any] = {"rule": rule, "engine": "offchip", **fixed}
    if data is not None:
        base["data"] = str(Path(data).resolve())
    else:
        base.update(cache=str(Path(cache).resolve()), standin_size=standin_size)
    # The [fixed] values are checked like every run's settings, before Ray or any trial starts; the rule's data
    # are made once here (the stand-in is synthesised into the cache), not in every trial.
    try:
        run_plan = plan(resolve(base))
        load_dataset(run_plan.config, run_plan.network)
    except (ConfigError, TypeError) as error:
        raise click.BadParameter(f"{space_path} [fixed]: {error}", param_hint="--space") from None
    epochs = run_plan.config.epochs
    from pe_actors.runtime.cluster import start_ray

    start_ray(None, num_pe_slots=1)
    import ray
    from ray import tune as ray_tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    chosen = (
        ASHAScheduler(time_attr="training_iteration", max_t=epochs, grace_period=1, reduction_factor=2)
        if scheduler == "asha"
        else FIFOScheduler()
    )
    tuner = ray_tune.Tuner(
        ray_tune.with_resources(ray_tune.with_parameters(run_trial, base=base), {"cpu": 1}),
        param_space=search_space(space),
        tune_config=ray_tune.TuneConfig(
            metric=METRIC,
            mode="max",
            num_samples=trials,
            scheduler=chosen,
            max_concurrent_trials=concurrent,
            search_alg=BasicVariantGenerator(random_state=seed),
        ),
        run_config=ray_tune.RunConfig(name="trials", storage_path=str(out_dir), verbose=1),
    )
    click.echo(
        f"Searching {', '.join(space)} over {trials} trials ({scheduler}, {rule} on the {base['engine']} engine)"
    )
    grid = tuner.fit()
    rows = []
    for index, result in enumerate(grid):
        # Every row has the same columns; a trial that failed (a diverging one stops with a non-finite loss) keeps
        # what it reported before, and the search has gone on to its end.
        history = result.metrics_dataframe
        row = {"trial": index, **result.config, METRIC: float("nan"), "test_accuracy": float("nan"),
               "best_epoch": None, "epochs": 0, "status": "failed" if result.error is not None else "finished",
               "error": "" if result.error is None else str(result.error).strip().splitlines()[-1]}  # fmt: skip
        if history is not None and not history.empty:
            best = history.iloc[::-1].loc[history[METRIC].iloc[::-1].idxmax()]
            row |= {METRIC: float(best[METRIC]), "test_accuracy": float(best["test_accuracy"]),
                    "best_epoch": int(best["epoch"]), "epochs": int(history["epoch"].max())}  # fmt: skip
        elif result.error is None:
            row |= {"status": "failed", "error": "reported no epoch"}
        rows.append(row)
    ray.shutdown()
    finished = [row for row in rows if row["status"] == "finished"]
    failed = len(rows) - len(finished)
    if failed:
        click.echo(f"{failed} of {len(rows)} trials failed; the first: {next(r['error'] for r in rows if r['error'])}")
    if not finished:
        raise click.ClickException(f"every trial failed; the first error: {rows[0]['error']}")
    best = max(finished, key=lambda row: row[METRIC])
    write_csv(out_dir / "tune.csv", rows)
    write_json(out_dir / "tune.json", {"rule": rule, "space": space, "fixed": fixed, "trials": rows, "best": best})
    plot_trials(finished, space, out_dir / "tune.png", f"{rule}: {len(rows)} trials, {scheduler}")
    chosen_options = {"rule": rule, **fixed, **{key: best[key] for key in space}}
    write_toml(
        out_dir / "best.toml",
        {key: value for key, value in chosen_options.items() if key != "data"},
        header=f"Best of {len(rows)} trials of pe-actors tune --space {space_path} (validation accuracy "
        f"{100 * best[METRIC]:.2f} % at epoch {best['best_epoch']}); train it with pe-actors train --config FILE",
    )
    click.echo(
        f"{'trial':<6}" + "".join(f"{key:>14}" for key in space) + f"{'best val %':>12}{'test %':>9}{'epochs':>8}"
    )
    for row in rows:
        cells = "".join(f"{row[key]:>14.4g}" if isinstance(row[key], float) else f"{row[key]!s:>14}" for key in space)
        click.echo(
            f"{row['trial']:<6}{cells}{100 * row[METRIC]:>12.2f}{100 * row['test_accuracy']:>9.2f}{row['epochs']:>8}"
        )
    click.echo(
        f"Best trial {best['trial']}: validation {100 * best[METRIC]:.2f} % "
        f"(test {100 * best['test_accuracy']:.2f} %); its options in {out_dir / 'best.toml'}"
    )
