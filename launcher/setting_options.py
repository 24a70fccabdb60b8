"""Command-line options made from the library's setting declarations (:mod:`pe_actors.core.settings`): each
setting's flag, type, range, default and help come from the one place it is declared, so the options of ``train``
and ``adapt`` and the settings of ``pe_actors.train`` cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

import click

from pe_actors.core.settings import ConfigError, checked, choices_of, help_of
from pe_actors_launcher.options import FiniteFloatRange, existing_dir


class SettingType(click.ParamType):
    """A setting whose values are lists (layer sizes, initial scales, augmentations): a comma-separated string on
    the command line, or the value itself from a recipe; checked by its declaration."""

    def __init__(self, spec: Field) -> None:
        self.spec = spec
        self.name = {"ints": "N,N,...", "floats": "X,X,...", "names": "NAME,...", "intlist": "N,..."}.get(
            spec.metadata["kind"], "TEXT"
        )

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return checked(self.spec, value)
        except (ConfigError, TypeError) as error:
            self.fail(str(error), param, ctx)


def click_type(spec: Field) -> Any:
    """The click type of a setting from its declaration."""
    meta = spec.metadata
    kind = meta["kind"]
    if kind == "int":
        return click.IntRange(min=meta["low"], max=meta["high"])
    if kind == "float":
        return FiniteFloatRange(min=meta["low"], max=meta["high"], min_open=meta.get("low_open", False))
    if kind == "choice":
        return click.Choice(choices_of(meta))
    if kind == "path":
        folder = meta.get("folder")
        existing, files = folder in ("exists", "file", "file_or_dir"), folder not in ("any", "exists")
        return click.Path(path_type=Path, exists=existing, file_okay=files, dir_okay=folder != "file")
    if kind in ("ints", "floats", "names", "intlist"):
        return SettingType(spec)
    return click.STRING


def option(spec: Field, default: Any = MISSING, required: bool = False) -> Callable:
    """The click option of one setting (``--sub-batch`` for ``sub_batch``)."""
    flag = "--" + spec.name.replace("_", "-")
    default = spec.default if default is MISSING else default
    text = help_of(spec)
    if spec.metadata["kind"] == "bool":
        if default is False:
            return click.option(flag, spec.name, is_flag=True, default=False, help=text)
        return click.option(f"{flag}/--no-{flag[2:]}", spec.name, default=default, show_default=default is not None,
                            help=text)
    callback = existing_dir if spec.metadata.get("folder") == "existing" else None
    return click.option(flag, spec.name, type=click_type(spec), default=default, show_default=default is not None,
                        callback=callback, required=required, help=text)


def setting_options(settings: type, names: Iterable[str] | None = None, required: Iterable[str] = ()) -> Callable:
    """A decorator adding the options of the settings of ``settings`` (a :class:`~pe_actors.core.settings.Settings`
    dataclass; ``names``: just these; ``required``: the ones a command cannot go without), in the order they are
    declared."""
    chosen = None if names is None else set(names)
    specs = [spec for spec in fields(settings) if chosen is None or spec.name in chosen]

    def decorate(command: Callable) -> Callable:
        for spec in reversed(specs):
            command = option(spec, required=spec.name in set(required))(command)
        return command

    return decorate
