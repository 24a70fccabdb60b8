"""Options shared by ``pe-actors train`` and ``pe-actors evaluate``: run-config files, validators, TOML output.

A run config is a TOML file whose keys are option names (``sub-batch`` or ``sub_batch``). ``--config FILE`` is an
eager option: its callback reads the file into ``ctx.default_map`` before the other options are parsed, so file
values go through the same click type conversion and validation as flags, and flags given on the command line
win over the file. A bare name (``--config gsc-paper-batch100``) is a recipe of the library (the files in the
repository's ``configs/`` hold the same recipes).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pe_actors.run.config import ConfigError, all_recipes, flag, read_toml, recipe
from pe_actors.run.training import RunError


def config_values(value: str, valid: set[str]) -> tuple[str, dict[str, Any]]:
    """The source and the settings of ``--config value``: a recipe's name (``gsc-paper-batch100``, also with
    ``.toml``; :func:`pe_actors.run.config.all_recipes`) or a TOML file whose keys lie in ``valid``. Bad files are
    usage errors naming the file."""
    name = value[: -len(".toml")] if value.endswith(".toml") else value
    if not Path(value).is_file() and name in all_recipes():
        # The recipe's values as they are: each option's type takes its setting's values (a tuple of scales too).
        return f"recipe {name}", recipe(name)
    if not Path(value).is_file():
        raise click.BadParameter(
            f"no run-config file {value!r}; give a TOML file or one of {sorted(all_recipes())}", param_hint="--config"
        )
    try:
        return value, read_toml(Path(value), valid)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--config") from None


def load_config_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """Eager ``--config`` callback: merge the file's values into ``ctx.default_map`` (flags still win)."""
    if value is None:
        return None
    skip = {param.name, "resume"}
    valid = {p.name for p in ctx.command.params if p.name not in skip and not getattr(p, "is_eager", False)}
    path, values = config_values(value, valid)
    check_value_types(path, values, {p.name: p for p in ctx.command.params})
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return Path(path)


def check_value_types(path: Path | str, values: dict[str, Any], params: dict[str, click.Parameter]) -> None:
    """Refuse run-config values that click would silently convert: a float (1.99) or a boolean (true) for an
    integer option, a boolean for a number option, a number for a flag (strings go through click's own strict
    conversion). The error names the file and key."""
    for name, value in values.items():
        param = params[name]
        key = name.replace("_", "-")
        kind = getattr(param.type, "name", "")
        if kind in ("integer", "integer range") and isinstance(value, (bool, float)):
            raise click.BadParameter(
                f"run config {path}: {key} must be an integer, got {value!r}", param_hint="--config"
            )
        if kind in ("float", "float range") and isinstance(value, bool):
            raise click.BadParameter(f"run config {path}: {key} must be a number, got {value!r}", param_hint="--config")
        if getattr(param, "is_flag", False) and isinstance(value, (int, float)) and not isinstance(value, bool):
            raise click.BadParameter(
                f"run config {path}: {key} must be true or false, got {value!r}", param_hint="--config"
            )


def config_option(command: Any) -> Any:
    """The ``--config FILE`` option (see the module docstring)."""
    return click.option(
        "--config",
        "config_file",
        metavar="FILE",
        is_eager=True,
        callback=load_config_callback,
        help="Run-config TOML whose keys are option names (e.g. sub-batch = 4); flags override it. A bare name "
        "such as gsc-paper-batch100 is read from the repository's configs/ directory.",
    )(command)


@contextmanager
def library_errors() -> Iterator[None]:
    """The library's errors as the command line's: a bad setting is a usage error naming its option, a run that
    could not finish an error message, Ctrl-C an abort (exit codes 2, 1 and 1)."""
    try:
        yield
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint=flag(error.field) if error.field else None) from None
    except RunError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        raise click.Abort() from None


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses NaN and infinities (a NaN passes every comparison of a plain range)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number



def standin_options(command: Any) -> Any:
    """``--data DIR``, ``--cache DIR`` and ``--standin-size`` as a run declares them (the offline stand-in is built
    into the cache without --data), for the commands that read Speech Commands features."""
    from pe_actors.run.config import RunConfig
    from pe_actors_launcher.setting_options import setting_options

    return setting_options(RunConfig, names=("data", "cache", "standin_size"))(command)


def existing_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Validator: ``value`` is None or an existing directory."""
    if value is not None and not Path(value).is_dir():
        raise click.BadParameter(f"{str(value)!r} is not an existing directory", ctx=ctx, param=param)
    return value
