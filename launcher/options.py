"""Options shared by ``pe-actors train`` and ``pe-actors evaluate``: run-config files, validators, TOML output.

A run config is a TOML file whose keys are option names (``sub-batch`` or ``sub_batch``). ``--config FILE`` is an
eager option: its callback reads the file into ``ctx.default_map`` before the other options are parsed, so file
values go through the same click type conversion and validation as flags, and flags given on the command line
win over the file. A bare name (``--config gsc-paper-batch100``) is looked up in the repository's ``configs/``.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import click

#: The repository's run-config directory (recipes and the default main job).
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def config_path(value: str) -> Path:
    """The run-config file named by ``value``: a path, or a name (with or without ``.toml``) in :data:`CONFIG_DIR`."""
    path = Path(value)
    if path.is_file():
        return path
    for candidate in (CONFIG_DIR / value, CONFIG_DIR / f"{value}.toml"):
        if candidate.is_file():
            return candidate
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml")) if CONFIG_DIR.is_dir() else []
    raise click.BadParameter(f"no run-config file {value!r}; give a TOML file or one of {names}", param_hint="--config")


def read_run_config(path: Path, valid: set[str]) -> dict[str, Any]:
    """The TOML run config at ``path`` as ``{parameter name: value}``; keys may use dashes or underscores.

    Raises click.BadParameter naming the file for unreadable TOML, nested tables or keys outside ``valid``.
    """
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise click.BadParameter(f"cannot read run config {path}: {error}", param_hint="--config") from None
    values = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if isinstance(value, (dict, list)):
            raise click.BadParameter(
                f"run config {path}: key {key!r} holds a {type(value).__name__}; only plain values are allowed",
                param_hint="--config",
            )
        values[name] = value
    unknown = sorted(set(values) - valid)
    if unknown:
        keys = ", ".join(name.replace("_", "-") for name in sorted(valid))
        raise click.BadParameter(
            f"run config {path}: unknown key(s) {[k.replace('_', '-') for k in unknown]}; valid keys: {keys}",
            param_hint="--config",
        )
    return values


def load_config_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """Eager ``--config`` callback: merge the file's values into ``ctx.default_map`` (flags still win)."""
    if value is None:
        return None
    path = config_path(value)
    skip = {param.name, "resume"}
    valid = {p.name for p in ctx.command.params if p.name not in skip and not getattr(p, "is_eager", False)}
    values = read_run_config(path, valid)
    check_value_types(path, values, {p.name: p for p in ctx.command.params})
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return path


def check_value_types(path: Path, values: dict[str, Any], params: dict[str, click.Parameter]) -> None:
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


def command_args(command: click.Command, options: dict[str, Any]) -> list[str]:
    """The command-line arguments of ``command`` that set ``options`` (parameter names as keys, ``config`` for
    ``--config``): ``--name value``, ``--flag``/``--no-flag`` for boolean flags, lists joined by commas; None
    values are left out. An unknown name raises a TypeError listing the valid ones."""
    params = {param.name: param for param in command.params}
    args: list[str] = []
    for key, value in options.items():
        name = "config_file" if key == "config" else key
        if name not in params:
            valid = sorted((set(params) - {"config_file"}) | {"config"})
            raise TypeError(f"unknown option {key!r}; valid options are {valid}")
        param = params[name]
        if value is None:
            continue
        if getattr(param, "is_flag", False) and param.secondary_opts:
            args.append(param.opts[0] if value else param.secondary_opts[0])
        elif getattr(param, "is_flag", False):
            if value:
                args.append(param.opts[0])
        else:
            args += [param.opts[0], ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)]
    return args


def toml_value(value: Any) -> str:
    """A TOML literal for a str, bool, int or float (what run configs hold)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to a run config")


def write_run_config(path: Path, values: dict[str, Any], header: str = "") -> Path:
    """Write ``values`` as a flat TOML run config that ``--config`` reads back; None values are left out."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{key.replace('_', '-')} = {toml_value(value)}" for key, value in values.items() if value is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses NaN and infinities (a NaN passes every comparison of a plain range)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


#: The largest seed a run config and checkpoint metadata can hold (a signed 64-bit integer).
MAX_SEED = 2**63 - 1


def standin_options(command: Any) -> Any:
    """``--data DIR`` (prepared features), ``--cache DIR`` and ``--standin-size`` (the offline stand-in built
    without --data), for the commands that read Speech Commands features."""
    for option in reversed(
        [
            click.option(
                "--data",
                type=click.Path(path_type=Path),
                callback=existing_dir,
                help="Prepared features (default: the offline stand-in).",
            ),
            click.option(
                "--cache",
                type=click.Path(file_okay=False, path_type=Path),
                default=Path("cache/standin"),
                show_default=True,
                help="Where the offline stand-in is built once (without --data).",
            ),
            click.option(
                "--standin-size",
                type=click.Choice(["default", "small"]),
                default="default",
                show_default=True,
                help="Size of the offline stand-in.",
            ),
        ]
    ):
        command = option(command)
    return command


def existing_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Validator: ``value`` is None or an existing directory."""
    if value is not None and not Path(value).is_dir():
        raise click.BadParameter(f"{str(value)!r} is not an existing directory", ctx=ctx, param=param)
    return value
