"""The run configuration: every setting of a training run, validated and frozen, with TOML in and out.

A :class:`RunConfig` is what ``pe-actors train`` parses its options into and what ``pe_actors.train(...)`` takes
as keyword arguments (the command line's option names with underscores). :func:`resolve` builds one the way both
do: the defaults, then (for ``rule="eventprop"``) the EventProp recipe, then a recipe or TOML file, then the
values given; a resumed run takes its recorded configuration, where only :data:`RESUME_OVERRIDABLE` may change.
A bad value is a :class:`ConfigError` (a ValueError) or a TypeError naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pe_actors.core.settings import (
    ConfigError,
    Settings,
    checked,
    choice,
    flag,
    float_range,
    int_range,
    names,
    plain,
    setting,
)
from pe_actors.rules import rule, rule_names, run_rule_names
from pe_actors.rules.eventprop.config import SCHEDULES
from pe_actors.synapses import kind_names, synapse_kind
from pe_actors.synapses.kinds import DEVICE_SETTINGS, PCM_SETTINGS
from pe_actors.training.augment import FEATURE_AUGMENTATIONS

#: The largest seed a run config and checkpoint metadata can hold (a signed 64-bit integer).
MAX_SEED = 2**63 - 1


def engine_names() -> tuple[str, ...]:
    """The engines a run may name: every rule's backends, and ``offchip`` for any rule's fast off-chip engine."""
    names = [b for name in rule_names() for b in rule(name).backend_names]
    return tuple(sorted({*names, "offchip"}))


def rule_settings() -> tuple[str, ...]:
    """The run settings that some rule alone takes (EventProp's network and loss settings)."""
    return tuple(dict.fromkeys(n for name in rule_names() for n in rule(name).settings))


#: The augmentations of speech training data: the audio ones a data set is prepared with
#: (``pe_actors_datasets.augment.AUDIO_AUGMENTATIONS``), then the feature masks applied while training.
AUDIO_AUGMENTATIONS = ("speed", "pitch", "reverb", "noise", "shift")
AUGMENTATIONS = (*AUDIO_AUGMENTATIONS, *FEATURE_AUGMENTATIONS)
#: The augmentations a speech run takes by default: SpecAugment narrowed the leave-voice-out gap from 13.4 to 8.5
#: points over 5 seeds; the audio augmentations did not narrow it further (docs/data.md, "Augmentation").
DEFAULT_AUGMENT = ("specaugment",)
#: The run settings of the synapses' device settings (:class:`~pe_actors.synapses.SynapseConfig`'s
#: ``sample_s`` is the run's ``sample_seconds``), which each synapse kind takes or refuses.
SYNAPSE_SETTINGS = {name: name for name in DEVICE_SETTINGS + PCM_SETTINGS} | {"sample_s": "sample_seconds"}
#: The run settings of device synapses (quantised or pcm), and the ones only pcm takes.
DEVICE_FIELDS = tuple(SYNAPSE_SETTINGS[name] for name in DEVICE_SETTINGS)
PCM_FIELDS = tuple(SYNAPSE_SETTINGS[name] for name in PCM_SETTINGS)
#: Settings a resumed run may change: they do not change the results beyond float rounding.
RESUME_OVERRIDABLE = frozenset(
    {"epochs", "engine", "transport", "schedule", "pes", "address", "dashboard_port", "checkpoint_every",
     "keep_checkpoints", "log_every", "progress", "monitor", "tensorboard"}
)  # fmt: skip
#: Settings that are not part of the recorded run config (where the run lives, not what it computes).
NOT_RECORDED = frozenset({"resume", "out", "address", "dashboard_port", "progress", "monitor", "tensorboard"})
PATH_FIELDS = frozenset({"data", "cache", "out", "resume"})
#: Settings added after runs were first recorded, with the value that reproduces a run recorded without them.
ADDED_LATER = {"augment": (), "augment_views": 0, "schedule": "pipelined", "source": None}


@dataclass(frozen=True)
class RunConfig(Settings):
    """Every setting of a training run (``pe-actors train --help`` explains each).

    The network and rule (``network``, ``rule``, EventProp's ``dt``, ``sizes``, ``t_code``, ``init_mean``,
    ``init_std``, ``tau0``, ``tau1``, ``alpha_reg``, ``loss_time``, ``alpha_silent``), where it runs (``engine``,
    ``transport``, EventProp's ``schedule``, ``pes`` P, ``groups`` G, ``sub_batch`` k, ``address``,
    ``dashboard_port``), the optimiser (``lr``, ``l2``, ``lr_decay``, ``decay_every``), the data (``data``,
    ``shd_dir``, ``cache``, ``standin_size``, ``augment``, ``augment_views``, ``max_samples``), the synapses
    (``synapses``, ``bits``, ``prog_noise``, ``drift``, ``read_noise``, ``g_max``, ``drift_compensation``,
    ``clip_sd``, ``sample_seconds``) and the run directory (``out``, ``resume``, ``checkpoint_every``,
    ``keep_checkpoints``, ``log_every``, ``progress``,
    ``monitor``, ``tensorboard``).
    """

    network: str = setting(default="gsc", kind="str")
    rule: str = setting(default="eprop", **choice(run_rule_names))
    engine: str = setting(default="actors", **choice(engine_names))
    transport: str = setting(default="shm", **choice("shm", "ray"))
    schedule: str = setting(default="pipelined", **choice(*SCHEDULES))
    pes: int = setting(default=12, **int_range(1))
    groups: int = setting(default=1, **int_range(1))
    sub_batch: int = setting(default=32, **int_range(1))
    address: str | None = setting(default=None, kind="str", optional=True)
    dashboard_port: int = setting(default=8265, **int_range(1, 65535))
    epochs: int = setting(default=8, **int_range(1))
    lr: float = setting(default=0.01, **float_range(0, low_open=True))
    l2: float = setting(default=0.05e-5, **float_range(0))
    lr_decay: float = setting(default=0.3, **float_range(0, 1, low_open=True))
    decay_every: int = setting(default=6, **int_range(1))
    seed: int = setting(default=0, **int_range(0, MAX_SEED))
    data: Path | None = setting(default=None, kind="path", optional=True)
    source: str | None = setting(default=None, kind="str", optional=True)
    shd_dir: Path | None = setting(default=None, kind="path", optional=True)
    cache: Path = setting(default=Path("cache/standin"), kind="path")
    standin_size: str = setting(default="default", **choice("default", "small"))
    augment: tuple[str, ...] = setting(default=DEFAULT_AUGMENT, **names(*AUGMENTATIONS))
    augment_views: int = setting(default=4, **int_range(0, 64))
    out: Path | None = setting(default=None, kind="path", optional=True)
    checkpoint_every: int = setting(default=1000, **int_range(0))
    keep_checkpoints: int = setting(default=3, **int_range(1))
    resume: Path | None = setting(default=None, kind="path", optional=True)
    dtype: str = setting(default="float32", **choice("float32", "float64"))
    max_samples: int | None = setting(default=None, **int_range(1, optional=True))
    dt: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    sizes: tuple[int, ...] | None = setting(default=None, kind="ints", optional=True)
    t_code: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    init_mean: tuple[float, ...] | None = setting(default=None, kind="floats", optional=True)
    init_std: tuple[float, ...] | None = setting(default=None, kind="floats", optional=True)
    tau0: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    tau1: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    alpha_reg: float | None = setting(default=None, **float_range(0, optional=True))
    loss_time: str | None = setting(default=None, **choice("step", "crossing", optional=True))
    alpha_silent: float | None = setting(default=None, **float_range(0, optional=True))
    synapses: str = setting(default="digital", **choice(kind_names))
    bits: int | None = setting(default=None, **int_range(1, 16, optional=True))
    prog_noise: float | None = setting(default=None, **float_range(0, optional=True))
    drift: float | None = setting(default=None, **float_range(0, optional=True))
    read_noise: float | None = setting(default=None, **float_range(0, optional=True))
    g_max: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    drift_compensation: bool | None = setting(default=None, kind="bool", optional=True)
    clip_sd: float | None = setting(default=None, **float_range(0, low_open=True, optional=True))
    sample_seconds: float | None = setting(default=None, **float_range(0, optional=True))
    monitor: bool = setting(default=False, kind="bool")
    tensorboard: bool = setting(default=False, kind="bool")
    log_every: int = setting(default=10, **int_range(1))
    progress: bool = setting(default=True, kind="bool")

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (validated like the constructor)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise TypeError(f"unknown option {unknown[0]!r}; valid options are {sorted(self.names())}")
        return dataclasses.replace(self, **changes)

    def recorded(self) -> dict[str, Any]:
        """The settings a run records (``run-config.toml``, checkpoints): what it computes, as TOML holds them
        (paths as strings, lists as "5,120,3")."""
        # A setting added later is left out at None, so that runs record what they recorded before it existed.
        return {
            spec.name: plain(getattr(self, spec.name)) for spec in fields(self) if spec.name not in NOT_RECORDED
            and not (spec.name in ADDED_LATER and getattr(self, spec.name) is None)
        }

    def to_toml(self, path: Path | str, header: str = "") -> Path:
        """Write :meth:`recorded` as a flat TOML run config that :func:`read_toml` and ``--config`` read back."""
        return write_toml(Path(path), self.recorded(), header)


def read_toml(path: Path | str, valid: set[str] | None = None) -> dict[str, Any]:
    """The flat TOML run config at ``path`` as ``{setting: value}``; keys may use dashes or underscores. A
    ConfigError names the file for unreadable TOML, nested tables or keys outside ``valid`` (default: every
    :class:`RunConfig` setting)."""
    path = Path(path)
    valid = set(RunConfig.names()) if valid is None else valid
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read run config {path}: {error}") from None
    values = {}
    for key, value in raw.items():
        if isinstance(value, (dict, list)):
            raise ConfigError(f"run config {path}: key {key!r} holds a {type(value).__name__}; only plain values "
                              "are allowed")  # fmt: skip
        values[key.replace("-", "_")] = value
    unknown = sorted(set(values) - valid)
    if unknown:
        keys = ", ".join(name.replace("_", "-") for name in sorted(valid))
        raise ConfigError(
            f"run config {path}: unknown key(s) {[k.replace('_', '-') for k in unknown]}; valid keys: {keys}"
        )
    return values


def toml_value(value: Any) -> str:
    """A TOML literal for a str, bool, int or float (what run configs hold)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value))
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to a run config")


def write_toml(path: Path, values: Mapping[str, Any], header: str = "") -> Path:
    """Write ``values`` as a flat TOML run config; None values are left out."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{key.replace('_', '-')} = {toml_value(value)}" for key, value in values.items() if value is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


def recipe(name: str) -> dict[str, Any]:
    """The settings of the recipe ``name`` (every rule's ``recipes``); a ConfigError lists the recipes otherwise."""
    recipes = all_recipes()
    if name not in recipes:
        raise ConfigError(f"no recipe {name!r}; the recipes are {sorted(recipes)}", "config")
    return dict(recipes[name])


def all_recipes() -> dict[str, Mapping[str, Any]]:
    """Every rule's recipes by name."""
    return {key: value for name in rule_names() for key, value in rule(name).recipes.resolve().items()}


def settings_of(config: str | Path | Mapping[str, Any] | RunConfig | None) -> dict[str, Any]:
    """The settings ``config`` gives: a recipe name, a TOML file, a mapping or a RunConfig (every setting)."""
    if config is None:
        return {}
    if isinstance(config, RunConfig):
        return {name: getattr(config, name) for name in RunConfig.names()}
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, str) and config in all_recipes():
        return recipe(config)
    path = Path(config)
    if path.is_file():
        return read_toml(path)
    raise ConfigError(f"no run-config file or recipe {str(config)!r}; give a TOML file or one of "
                      f"{sorted(all_recipes())}", "config")  # fmt: skip


def resolve(
    given: Mapping[str, Any], config: Any = None, recorded: Mapping[str, Any] | None = None
) -> RunConfig:
    """The run configuration of settings ``given`` explicitly over ``config`` (a recipe name, TOML file, mapping or
    RunConfig): the defaults, then the chosen rule's run defaults (EventProp: its Yin-Yang recipe), then
    ``config``, then ``given``.

    With ``recorded`` (a resumed run's recorded settings) those settings hold, except that a setting given
    explicitly (or by ``config``) may differ only where :data:`RESUME_OVERRIDABLE` allows; a ConfigError names
    the first that may not.
    """
    unknown = sorted(set(given) - set(RunConfig.names()))
    if unknown:
        raise TypeError(f"unknown option {unknown[0]!r}; valid options are {sorted(RunConfig.names())}")
    explicit = {**settings_of(config), **given}
    if recorded is None:
        values: dict[str, Any] = {}
        name = explicit.get("rule", RunConfig.rule)
        if name in run_rule_names() and rule(name).run_defaults is not None:
            values.update(rule(name).run_defaults(explicit))
        if explicit.get("shd_dir") is not None:
            values["network"] = "shd"  # event data take the network sized for them unless another is named
            values["augment"] = ()  # the augmentations are speech's; spike data train as they are unless asked
        values.update(explicit)
        return RunConfig(**values)
    values = dict(explicit)
    for name, value in ADDED_LATER.items():
        if name not in recorded and name not in explicit:
            values[name] = value  # a run recorded before the setting existed trained without it
    for name, value in recorded.items():
        if name not in RunConfig.names():
            continue
        if name in explicit and plain(checked(field_named(name), explicit[name])) != value:
            if name not in RESUME_OVERRIDABLE:
                raise ConfigError(
                    f"the resumed run was trained with {flag(name)} {value!r}; it cannot continue with "
                    f"{explicit[name]!r} (a resumed run may change only "
                    f"{sorted(n.replace('_', '-') for n in RESUME_OVERRIDABLE)})",
                    name,
                )
            continue
        values[name] = value
    return RunConfig(**values)


def check_schedule(schedule: str, rule_name: str) -> None:
    """A packet schedule other than the chip's belongs to the rules whose PEs take one (EventProp's layered
    rounds); for another rule a ConfigError naming it."""
    if schedule == "pipelined" or any(rule(rule_name).takes("schedule", b) for b in rule(rule_name).backend_names):
        return
    owners = [rule(name).title for name in rule_names()
              if any(rule(name).takes("schedule", b) for b in rule(name).backend_names)]  # fmt: skip
    raise ConfigError(
        f"--schedule {schedule} is {' or '.join(owners)}'s: the {rule(rule_name).title} rule's PEs exchange every "
        "step's spikes",
        "schedule",
    )


def synapse_settings(kind: str) -> tuple[str, ...]:
    """The run settings synapses of ``kind`` take (:data:`SYNAPSE_SETTINGS` of the kind's own)."""
    return tuple(SYNAPSE_SETTINGS[name] for name in synapse_kind(kind).settings)


def field_named(name: str) -> dataclasses.Field:
    """The RunConfig field ``name``."""
    return next(spec for spec in fields(RunConfig) if spec.name == name)
