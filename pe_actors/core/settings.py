"""Declared settings: a frozen dataclass whose fields carry their default, range and help, validated when it is
made, and the error that names a bad one. The run configuration (:mod:`pe_actors.run.config`) and each rule's own
settings are declared with it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting of a run that cannot be used; ``field`` names it (``sub_batch``), or is None for a whole file."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def int_range(low: int | None = None, high: int | None = None, optional: bool = False) -> Any:
    """The metadata of an integer setting in [low, high] (None: unbounded; ``optional``: None allowed)."""
    return {"kind": "int", "low": low, "high": high, "optional": optional}


def float_range(
    low: float | None = None, high: float | None = None, low_open: bool = False, optional: bool = False
) -> Any:
    """The metadata of a finite number setting in [low, high] (or (low, high] with ``low_open``)."""
    return {"kind": "float", "low": low, "high": high, "low_open": low_open, "optional": optional}


def choice(*choices: str | Callable[[], tuple[str, ...]], optional: bool = False) -> Any:
    """The metadata of a setting that is one of ``choices`` (``optional``: None allowed); a single callable gives
    them when a value is checked (the names of a registry, which plug-ins extend)."""
    given: Any = choices[0] if len(choices) == 1 and callable(choices[0]) else choices
    return {"kind": "choice", "choices": given, "optional": optional}


def choices_of(meta: Any) -> tuple[str, ...]:
    """The choices a setting's metadata names now (a registry's names are looked up)."""
    choices = meta["choices"]
    return tuple(choices() if callable(choices) else choices)


def int_list(
    low: int | None = None, high: int | None = None, also: tuple[int, ...] = (), distinct: bool = False
) -> Any:
    """The metadata of a setting that is a non-empty list of integers, each in [low, high] or one of ``also``
    (``distinct``: no two equal): a comma-separated string or a sequence, held as a tuple."""
    return {"kind": "intlist", "low": low, "high": high, "also": also, "distinct": distinct, "optional": False}


def names(*choices: str) -> Any:
    """The metadata of a setting that is a set of ``choices``: a comma-separated string ("none" or "" for no
    choice) or a sequence, held as a tuple in the order of ``choices``."""
    return {"kind": "names", "choices": choices, "optional": False}


def setting(**kind: Any) -> Any:
    """A dataclass field with ``default`` and the metadata ``kind``: how the value is checked (see
    :func:`checked`) and its ``help`` (a text, or a function giving it when asked: the names of a registry), from
    which the command line's option is made."""
    return field(default=kind.pop("default"), metadata=kind)


def help_of(spec: dataclasses.Field) -> str:
    """The help text of a setting."""
    text = spec.metadata.get("help", "")
    return text() if callable(text) else text


def compose(
    name: str,
    base: type,
    sections: list[type | tuple[type, tuple[str, ...]]],
    overrides: dict[str, dict[str, Any]] | None = None,
    module: str | None = None,
) -> type:
    """A frozen :class:`Settings` dataclass ``name`` with the fields of the ``sections`` side by side, each declared
    once there (a section given as ``(section, names)`` contributes just those; ``overrides``: per setting, a
    ``default`` and metadata that differ here), and the methods and docstring of ``base``. A setting declared by
    two sections is a TypeError."""
    specs: list[tuple[str, Any, Any]] = []
    for item in sections:
        section, only = item if isinstance(item, tuple) else (item, None)
        for spec in fields(section):
            if only is not None and spec.name not in only:
                continue
            if any(spec.name == taken for taken, _, _ in specs):
                raise TypeError(f"setting {spec.name!r} is declared twice ({section.__name__} and another section)")
            meta, default = dict(spec.metadata), spec.default
            if overrides and spec.name in overrides:
                change = dict(overrides[spec.name])
                default = change.pop("default", default)
                meta.update(change)
            specs.append((spec.name, spec.type, field(default=default, metadata=meta)))
    cls = dataclasses.make_dataclass(name, specs, bases=(base, Settings), frozen=True)
    cls.__doc__ = base.__doc__
    cls.__module__ = module or base.__module__
    return cls


class Settings:
    """A frozen dataclass of validated settings: each field's value is checked against its metadata (see
    :func:`checked`) and converted (paths, tuples) when the object is made."""

    def __post_init__(self) -> None:
        for spec in fields(self):
            object.__setattr__(self, spec.name, checked(spec, getattr(self, spec.name)))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names of every setting."""
        return tuple(spec.name for spec in fields(cls))


def plain(value: Any) -> Any:
    """A setting as msgpack and TOML hold it (paths as strings, layer sizes as "5,120,3")."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return str(value) if isinstance(value, Path) else value


def checked(spec: dataclasses.Field, value: Any) -> Any:
    """``value`` converted to the setting's type (paths, tuples), or a ConfigError/TypeError naming it."""
    meta, name = spec.metadata, spec.name
    if value is None:
        if meta.get("optional"):
            return None
        raise TypeError(f"{name} must not be None")
    kind = meta["kind"]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
        if (meta["low"] is not None and value < meta["low"]) or (meta["high"] is not None and value > meta["high"]):
            raise ConfigError(f"{name} must lie in [{meta['low']}, {meta['high'] or 'inf'}], got {value!r}", name)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
        value = float(value)
        low, high = meta["low"], meta["high"]
        below = low is not None and (value <= low if meta["low_open"] else value < low)
        if not math.isfinite(value) or below or (high is not None and value > high):
            bounds = f"{'(' if meta['low_open'] else '['}{low}, {high if high is not None else 'inf'}]"
            raise ConfigError(f"{name} must be a finite number in {bounds}, got {value!r}", name)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
        return value
    if kind == "path":
        if not isinstance(value, (str, Path)):
            raise TypeError(f"{name} must be a path, got {value!r} ({type(value).__name__})")
        return Path(value)
    if kind in ("ints", "floats"):
        return _numbers(name, value, int if kind == "ints" else float)
    if kind == "intlist":
        return _int_list(name, value, meta)
    if kind == "names":
        parts = value.split(",") if isinstance(value, str) else value
        if isinstance(parts, (str, bytes)) or not all(isinstance(part, str) for part in parts):
            raise TypeError(f"{name} must be a comma-separated string or a list of strings, got {value!r}")
        chosen = {part.strip() for part in parts} - {"", "none"}
        options = choices_of(meta)
        unknown = sorted(chosen - set(options))
        if unknown:
            raise ConfigError(f"{name}: unknown {unknown}; choose from {list(options)} or none", name)
        return tuple(c for c in options if c in chosen)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    if kind == "choice" and value not in choices_of(meta):
        raise ConfigError(f"{name} must be one of {list(choices_of(meta))}, got {value!r}", name)
    return value


def _int_list(name: str, value: Any, meta: Any) -> tuple[int, ...]:
    """A comma-separated string or a sequence as a checked tuple of integers (see :func:`int_list`)."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        numbers = tuple(int(part) for part in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a comma-separated list of integers", name) from None
    low, high, also = meta["low"], meta["high"], meta["also"]
    bad = [n for n in numbers if n not in also and ((low is not None and n < low) or (high is not None and n > high))]
    if not numbers or bad or (meta["distinct"] and len(set(numbers)) != len(numbers)):
        allowed = f"[{low}, {high if high is not None else 'inf'}]" + (f" or {list(also)}" if also else "")
        distinct = " and distinct" if meta["distinct"] else ""
        raise ConfigError(f"{name}: {value!r} must be integers in {allowed}{distinct}", name)
    return numbers


def _numbers(name: str, value: Any, kind: type) -> tuple:
    """A comma-separated string or a sequence of numbers as a tuple (layer sizes: at least two, positive)."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        numbers = tuple(kind(part) for part in parts)
    except (TypeError, ValueError):
        what = "integers" if kind is int else "numbers"
        raise ConfigError(f"{name}: {value!r} is not a comma-separated list of {what}", name) from None
    if kind is int and (len(numbers) < 2 or min(numbers) < 1):
        raise ConfigError(f"{name}: {value!r} needs at least two positive layer sizes", name)
    if kind is float and not all(math.isfinite(n) for n in numbers):
        raise ConfigError(f"{name}: {value!r} holds a number that is not finite", name)
    return numbers


def flag(name: str) -> str:
    """The command line's option for setting ``name`` (``--sub-batch``)."""
    return "--" + name.replace("_", "-")


#: The largest settings file read, and its longest line: run configs and search spaces are a few KB, and a TOML
#: parser's time grows with the square of a dotted key's length.
MAX_TOML_BYTES = 256 * 1024
MAX_TOML_LINE = 4096


def load_toml(path: Path, what: str, name: str | None = None) -> dict[str, Any]:
    """The TOML file ``path`` (``what`` it is, for messages) as a dict; a ConfigError naming the file (and the
    setting ``name``) when it is not a regular file (a FIFO would block), is larger than
    :data:`MAX_TOML_BYTES`, has a line longer than :data:`MAX_TOML_LINE`, nests too deep or does not parse."""
    import tomllib

    try:
        if not path.is_file():
            raise ConfigError(f"cannot read {what} {path}: not a regular file", name)
        size = path.stat().st_size
        if size > MAX_TOML_BYTES:
            raise ConfigError(f"cannot read {what} {path}: {size:,} bytes, more than the {MAX_TOML_BYTES:,} a "
                              "settings file may hold", name)
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {what} {path}: {error}", name) from None
    longest = max((len(line) for line in text.splitlines()), default=0)
    if longest > MAX_TOML_LINE:
        raise ConfigError(f"cannot read {what} {path}: a line of {longest:,} characters, more than "
                          f"{MAX_TOML_LINE:,}", name)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"cannot read {what} {path}: {error}", name) from None
    except RecursionError:
        raise ConfigError(f"cannot read {what} {path}: it nests tables or arrays too deep", name) from None
