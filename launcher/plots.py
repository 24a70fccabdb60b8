"""Shared helpers of the report commands: the output directory, matplotlib on the Agg backend, JSON and CSV.

Every report command writes a PNG and a JSON (or CSV) beside it into its ``--out`` directory; these helpers keep
the file handling in one place. matplotlib is imported lazily and switched to the non-interactive Agg backend, so
reports work on machines without a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def out_option(default: str = "runs/reports") -> Any:
    """The ``--out DIR`` option shared by the report commands (created if missing)."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help="Directory for the PNG and its JSON/CSV (created if missing).",
    )


def prepare_out(out_dir: Path) -> Path:
    """Create ``out_dir`` (and parents) and return it; a ValueError names it when it is a file."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {str(out_dir)!r} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def network_options(command: Any) -> Any:
    """Decorate a report command with ``--network`` and the size overrides ``--n-in/--n-rec/--n-out/--steps``."""
    from pe_actors.rules import rule, rule_names

    options = [
        click.option(
            "--network",
            type=click.Choice(sorted({name for r in rule_names() for name in rule(r).networks.resolve()})),
            default="gsc",
            show_default=True,
            help="Network whose sizes and constants to start from.",
        ),
        click.option("--n-in", type=click.IntRange(min=1), help="Input neurons (default: the network's)."),
        click.option("--n-rec", type=click.IntRange(min=1), help="Recurrent ALIF neurons (default: the network's)."),
        click.option("--n-out", type=click.IntRange(min=1), help="Output neurons (default: the network's)."),
        click.option("--steps", type=click.IntRange(min=1), help="Time steps per sample, T (default: the network's)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def rule_options(what: str) -> Any:
    from pe_actors.rules import rule_names

    """Decorate a report command with ``--rule eprop|eventprop`` and EventProp's ``--dt``; ``what`` says what the
    command reports for EventProp (the end of the --rule help)."""

    def decorate(command: Any) -> Any:
        command = click.option(
            "--dt",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="EventProp: time step in ms (default the network's 1 ms; the trial keeps its 30 ms).",
        )(command)
        return click.option(
            "--rule",
            type=click.Choice(rule_names()),
            default="eprop",
            show_default=True,
            help=f"eprop: the network of --network; eventprop: the yinyang network, {what} (--pes is then PEs per "
            "layer, --dt its time step; the size options do not apply).",
        )(command)

    return decorate


def rule_network(rule_name: str, network: str, dt: float | None, pes: int) -> Any:
    """The network ``network`` of rule ``rule_name`` (its first when it has none of that name) as a run builds it
    (``Rule.network_of``), with the rule's ``dt`` if given; a click.BadParameter names what does not fit."""
    from pe_actors.rules import rule
    from pe_actors.run.config import ConfigError, resolve
    from pe_actors.run.plan import check_rule_settings

    networks = rule(rule_name).networks.resolve()
    name = network if network in networks else next(iter(networks))
    try:
        config = resolve({"rule": rule_name, "network": name, "dt": dt, "pes": pes})
        check_rule_settings(config)
        return rule(rule_name).network_of(config)
    except (ConfigError, TypeError) as error:
        raise click.BadParameter(str(error), param_hint=f"--{getattr(error, 'field', None) or 'rule'}") from None


def resolve_network(rule_name: str, network: str, n_in: int | None, n_rec: int | None, n_out: int | None,
                    steps: int | None):
    """The network of rule ``rule_name`` named ``network`` with the given sizes replaced (a network description
    with ``with_sizes``); a click.BadParameter on bad values."""
    from pe_actors.rules import rule

    networks = rule(rule_name).networks.resolve()
    if network not in networks:
        raise click.BadParameter(f"the {rule_name} rule has the networks {sorted(networks)}", param_hint="--network")
    sizes = {key: value for key, value in {"n_in": n_in, "n_rec": n_rec, "n_out": n_out, "n_steps": steps}.items()
             if value is not None}
    if not sizes:
        return networks[network]
    if not hasattr(networks[network], "with_sizes"):
        raise click.BadParameter(f"the {rule_name} rule's networks take no size options", param_hint="--n-rec")
    try:
        return networks[network].with_sizes(**sizes)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
