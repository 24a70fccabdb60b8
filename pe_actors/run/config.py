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
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pe_actors.core.settings import (
    ConfigError,
    Settings,
    checked,
    choice,
    compose,
    flag,
    float_range,
    int_range,
    load_toml,
    names,
    plain,
    setting,
)
from pe_actors.rules import rule, rule_names, run_rule_names
from pe_actors.synapses import kind_names, synapse_kind
from pe_actors.synapses.kinds import DEVICE_SETTINGS, PCM_SETTINGS
from pe_actors.training.augment import FEATURE_AUGMENTATIONS

#: The largest seed a run config and checkpoint metadata can hold (a signed 64-bit integer).
MAX_SEED = 2**63 - 1


def engine_names() -> tuple[str, ...]:
    """The engines a run may name: every rule's backends, and ``offchip`` for any rule's fast off-chip engine."""
    names = [b for name in rule_names() for b in rule(name).backend_names]
    return tuple(sorted({*names, "offchip"}))


def schedule_names() -> tuple[str, ...]:
    """Every rule's packet schedules (the chip's per-step one first)."""
    return tuple(dict.fromkeys(s for name in rule_names() for s in rule(name).schedules))


def rule_settings() -> tuple[str, ...]:
    """The run settings that some rule alone takes (EventProp's network and loss settings)."""
    return tuple(dict.fromkeys(n for name in rule_names() for n in rule(name).setting_names))


#: The augmentations of speech training data: the audio ones a data set is prepared with
#: (``pe_actors_datasets.augment.AUDIO_AUGMENTATIONS``), then the feature masks applied while training.
AUDIO_AUGMENTATIONS = ("speed", "pitch", "reverb", "noise", "shift")
#: The augmentations of event data, drawn anew each epoch (``pe_actors_datasets.event_augment``).
EVENT_AUGMENTATIONS = ("time_skew", "time_jitter", "channel_shift", "channel_jitter", "drop_events")
AUGMENTATIONS = (*AUDIO_AUGMENTATIONS, *FEATURE_AUGMENTATIONS, *EVENT_AUGMENTATIONS)
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
    {"epochs", "dead_epochs", "engine", "transport", "schedule", "pes", "address", "dashboard_port", "checkpoint_every",
     "keep_checkpoints", "log_every", "progress", "monitor", "tensorboard"}
)
#: Settings that are not part of the recorded run config (where the run lives, not what it computes).
NOT_RECORDED = frozenset({"resume", "out", "address", "dashboard_port", "progress", "monitor", "tensorboard"})
PATH_FIELDS = frozenset({"data", "cache", "out", "resume", "nir"})
#: Settings added after runs were first recorded, with the value that reproduces a run recorded without them.
ADDED_LATER = {"augment": (), "augment_views": 0, "schedule": "pipelined", "source": None, "nir": None,
               "nir_dt": None, "nir_reset": None, "dead_epochs": 0, "data_init": "off"}


def _help_rule() -> str:
    def aliases(name: str) -> str:
        return "".join(f"; {alias}: its {backend} engine (ignores --engine)"
                       for alias, backend in rule(name).aliases.items())

    return "Learning rule: " + "; ".join(
        f"{name} ({rule(name).description}){aliases(name)}" for name in rule_names()
    ) + ". A rule's run starts from its run defaults (EventProp: the yinyang-eventprop recipe)."


def _help_network() -> str:
    return "Network to train: " + "; ".join(
        f"{', '.join(rule(name).networks.resolve())} ({rule(name).title})" for name in rule_names()
    ) + ". The default with a rule's run defaults is the rule's (EventProp: yinyang)."


def _help_engine() -> str:
    backends: dict[str, list[str]] = {}
    described: dict[str, str] = {}
    for name in rule_names():
        for backend in rule(name).backends:
            backends.setdefault(backend.name, []).append(rule(name).title)
            described.setdefault(backend.name, backend.description)
    return "Where the network runs: " + "; ".join(
        f"{name}: {described[name]} ({', '.join(titles)})" for name, titles in backends.items()
    ) + "; offchip: the rule's fast off-chip engine, whatever it is called."


def network_names() -> tuple[str, ...]:
    """Every rule's named networks."""
    return tuple(sorted({network for name in rule_names() for network in rule(name).networks.resolve()}))


def _help_source() -> str:
    return ("The data source to read (the entry points pe_actors.data; a package adds its own), with --data as its "
            "folder if it reads one. Default: the rule's (" + "; ".join(
                f"{rule(name).title}: {rule(name).data.source}, or {rule(name).data.folder} for --data"
                for name in rule_names()) + ").")


def _help_synapses() -> str:
    return ("Where the weights live: " + "; ".join(f"{name} ({synapse_kind(name).description})" for name in
            kind_names()) + ". Device synapses train in the loop, ADAM acting on a float shadow.")


HELP_RULE, HELP_NETWORK, HELP_ENGINE, HELP_SOURCE, HELP_SYNAPSES = (
    _help_rule, _help_network, _help_engine, _help_source, _help_synapses
)


@dataclass(frozen=True)
class RunSettings(Settings):
    """The settings of the network and rule, the seed, the epochs and the float type."""

    network: str = setting(default="gsc", **choice(network_names), help=HELP_NETWORK)
    nir: Path | None = setting(
        default=None, kind="path", folder="file", optional=True,
        help=(
            "A network graph to train instead of a named network: a NIR file (pe-actors export writes them; "
            "snnTorch, Norse and the NIR paper's graphs import node by node, docs/networks.md); the run starts "
            "from its weights. The data give it its number of steps; its input and outputs must fit them."
        ),
    )
    nir_dt: float | None = setting(
        default=None, **float_range(0.0, None, low_open=True, optional=True),
        help="The step (s) the --nir graph is read at [default: the one it records; snnTorch's and the NIR "
        "paper's graphs record none: give 1e-4].",
    )
    nir_reset: str | None = setting(
        default=None, **choice("value", "subtract", "subtract-delayed", optional=True),
        help="How the --nir graph's spiking nodes reset, which a graph cannot tell: to v_reset at the spike step "
        "(value, as NIR's fields say), by subtracting the threshold (subtract), or subtracting it a step late "
        "(subtract-delayed, snnTorch's default neurons) [default: value, with a warning].",
    )
    rule: str = setting(default="eprop", **choice(run_rule_names), help=HELP_RULE)
    seed: int = setting(default=0, **int_range(0, MAX_SEED), help='Seed of the initial weights and shuffling.')
    epochs: int = setting(default=8, **int_range(1), help='Epochs to train (in total, if resumed).')
    dead_epochs: int = setting(
        default=3, **int_range(0),
        help="Epochs a run may stay dead before it stops, exiting non-zero without claiming an accuracy: its "
        "outputs or hidden neurons silent on the validation split, or its loss absurd, or flat at chance "
        "(docs/training.md); 0: warn only.",
    )
    dtype: str = setting(
        default="float32", **choice("float32", "float64"),
        help=(
            'Floating-point type of weights and state (the chip uses float32).'
        ),
    )


@dataclass(frozen=True)
class Placement(Settings):
    """The settings of where the PEs run."""

    engine: str = setting(default="actors", **choice(engine_names), help=HELP_ENGINE)
    transport: str = setting(
        default="shm", **choice("shm", "ray"),
        help=(
            'Per-step spike exchange of the actors engine: a shared-memory mailbox per group (one node) or '
            "Ray's own channels (groups spread over nodes)."
        ),
    )
    schedule: str = setting(
        default="pipelined", **choice(schedule_names),
        help=(
            "How EventProp's PEs exchange packets: pipelined (a round per time step, layer l one step ahead "
            'of l - 1, as on the chip) or layered (a round per layer carrying all T steps, run by the '
            "off-chip engine's compiled loops on each PE's slice: the same gradients to float rounding, far "
            "fewer barriers). docs/eventprop.md, 'On the PEs'."
        ),
    )
    pes: int = setting(
        default=12, **int_range(1),
        help=(
            'PEs per group, P (the e-prop paper: 12); for EventProp, PEs per layer (at most one per neuron).'
        ),
    )
    groups: int = setting(default=1, **int_range(1), help='Groups G (network replicas) per batch.')
    sub_batch: int = setting(default=32, **int_range(1), help='Samples each PE vectorises, k; the mini-batch is G x k.')
    address: str | None = setting(
        default=None, kind="str", optional=True,
        help=(
            "Ray cluster to join: 'auto' or 'ray://HOST:PORT'. Default: start an embedded local Ray "
            '(dashboard on 127.0.0.1).'
        ),
    )
    dashboard_port: int = setting(
        default=8265, **int_range(1, 65535),
        help=(
            "Port of the embedded local Ray's dashboard on 127.0.0.1 (a free one is picked if it is taken)."
        ),
    )


@dataclass(frozen=True)
class OptimiserSettings(Settings):
    """The settings of the learning rate, its schedule and L2."""

    lr: float = setting(default=0.01, **float_range(0, low_open=True), help='ADAM learning rate.')
    l2: float = setting(default=0.05e-5, **float_range(0), help='L2 coefficient: loss + l2 sum W^2.')
    lr_decay: float = setting(
        default=0.3, **float_range(0, 1, low_open=True),
        help=(
            'Factor applied to the learning rate every --decay-every epochs.'
        ),
    )
    decay_every: int = setting(default=6, **int_range(1), help='Epochs between learning-rate decays.')


@dataclass(frozen=True)
class DataSettings(Settings):
    """The settings of the data."""

    data: Path | None = setting(
        default=None, kind="path", folder="existing", optional=True,
        help=(
            'Prepared feature directory (pe-actors data prepare). Default: the offline synthetic stand-in, '
            'synthesised once into --cache.'
        ),
    )
    source: str | None = setting(default=None, kind="str", optional=True, help=HELP_SOURCE)
    data_init: str = setting(
        default="auto", **choice("auto", "on", "off"),
        help="Raise the initial input weights of a population the input drives that fires on fewer than 1 % of its "
        "neuron-steps into 1-10 %, measured on 64 training samples (docs/training.md): on, off, or auto (on for event "
        "data, --shd-dir, and arrays given to pe_actors.train; off for the stand-in, prepared features and "
        "Yin-Yang). Weights a run is given (--nir) start as they are.",
    )
    shd_dir: Path | None = setting(
        default=None, kind="path", folder="existing", optional=True,
        help=(
            "The Spiking Heidelberg Digits: a folder with the release's shd_train.h5 and shd_test.h5, cached "
            "as events in --cache and binned into rasters at the network's step as batches are drawn (EventProp: "
            'its dt and T; e-prop: T steps over 1 s), a validation split carved from training; the network '
            "(default: shd, and EventProp's shd-eventprop recipe) takes its input and output sizes from the data."
        ),
    )
    cache: Path = setting(
        default=Path("cache/standin"), kind="path", folder="any",
        help=(
            "Where the offline stand-in's audio and features are built once and reused (without --data)."
        ),
    )
    standin_size: str = setting(
        default="default", **choice("default", "small"),
        help=(
            'Size of the offline stand-in (small: a few speakers, for tests).'
        ),
    )
    augment: tuple[str, ...] = setting(
        default=DEFAULT_AUGMENT, **names(*AUGMENTATIONS),
        help=(
            "Augmentations of speech training data, comma-separated, or none (docs/data.md, 'Augmentation'), "
            'of speed, pitch, reverb, noise, shift, specaugment: speed (resampling by 0.9-1.1), pitch (+-2 '
            'semitones), reverb (16 simulated rooms, RT60 0.2-0.8 s), noise (a background crop at 0-20 dB '
            'SNR), shift (+-0.1 s): the audio ones, made once per training clip as --augment-views views when '
            'the stand-in is built; specaugment: two time masks of up to 10 frames and two band masks of up '
            'to 6 mel bands per sample while training. Each epoch shows each clip clean or as one of its '
            'views, drawn by --seed. Event data (--shd-dir) take time_skew (times scaled by 0.9-1.1), '
            'time_jitter (each event by N(0, 2 ms)), channel_shift (the whole sample by N(0, 10) channels), '
            'channel_jitter (each event by N(0, 1) channels) and drop_events (up to 20 %), drawn anew each '
            'epoch per sample (tonic; docs/data.md). EventProp and SHD runs train on their spikes unaugmented '
            'unless this is given.'
        ),
    )
    augment_views: int = setting(
        default=4, **int_range(0, 64),
        help=(
            'Augmented views of every training clip built with the stand-in (0: none, only specaugment '
            'applies).'
        ),
    )
    max_samples: int | None = setting(
        default=None, **int_range(1, optional=True),
        help=(
            'Train on at most N samples per epoch (a fresh random subset each epoch), for quick runs.'
        ),
    )


@dataclass(frozen=True)
class SynapseSettings(Settings):
    """The settings of where the weights live."""

    synapses: str = setting(default="digital", **choice(kind_names), help=HELP_SYNAPSES)
    bits: int | None = setting(
        default=None, **int_range(1, 16, optional=True),
        help=(
            'Levels per device of quantised or pcm synapses, 2^bits [default: 4].'
        ),
    )
    prog_noise: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'pcm: scale of the programming noise (1: the device model, 0: off) [default: 1].'
        ),
    )
    drift: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'pcm: scale of the drift exponents (1: the device model, 0: no drift) [default: 1].'
        ),
    )
    read_noise: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'pcm: scale of the 1/f read noise (1: the device model, 0: off) [default: 1].'
        ),
    )
    g_max: float | None = setting(
        default=None, **float_range(0, low_open=True, optional=True),
        help=(
            'Largest device conductance in uS [default: 25].'
        ),
    )
    drift_compensation: bool | None = setting(
        default=None, kind="bool", optional=True,
        help=(
            "pcm: scale each matrix's read by its programmed over its read conductance sum [default: off]."
        ),
    )
    clip_sd: float | None = setting(
        default=None, **float_range(0, low_open=True, optional=True),
        help=(
            'Clip range w_max of each matrix in standard deviations of its initial weights [default: 10; '
            "e-prop's trained weights grow to 2-5 times their initial spread]."
        ),
    )
    sample_seconds: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'Device time per training sample in seconds (a GSC clip lasts 1 s) [default: 1].'
        ),
    )


@dataclass(frozen=True)
class OutputSettings(Settings):
    """The settings of the run directory and what the run shows."""

    out: Path | None = setting(
        default=None, kind="path", folder="any", optional=True,
        help=(
            'Run directory: run-config.toml, metrics.jsonl, checkpoints/, curves.png, summary.json. Default: '
            "runs/train, or the resumed run's directory."
        ),
    )
    resume: Path | None = setting(
        default=None, kind="path", folder="exists", optional=True,
        help=(
            'Continue a run from a run directory (its latest checkpoint) or a checkpoint directory; the run '
            'config comes from the checkpoint, and the run ends with the weights of an uninterrupted run.'
        ),
    )
    checkpoint_every: int = setting(
        default=1000, **int_range(0),
        help=(
            'Write a checkpoint every N training samples (0: only at epoch ends, which always get one).'
        ),
    )
    keep_checkpoints: int = setting(
        default=3, **int_range(1),
        help=(
            'Keep this many newest checkpoints (plus the best by validation accuracy).'
        ),
    )
    log_every: int = setting(default=10, **int_range(1), help='Batches per metrics.jsonl line.')
    progress: bool = setting(default=True, kind="bool", help='Show the progress bar.')
    monitor: bool = setting(
        default=False, kind="bool",
        help=(
            'With --engine actors: start a Prometheus server on 127.0.0.1 (the Debian package prometheus) '
            "that scrapes Ray's metrics, the ray_pe_* ones among them, with the configuration Ray writes; "
            'prints its URL; stops with the run (its data stay in RUN/prometheus).'
        ),
    )
    tensorboard: bool = setting(
        default=False, kind="bool",
        help=(
            'Write TensorBoard event files into RUN/tensorboard: loss, accuracy and samples/s per batch, each '
            "PE's step latency and barrier wait (actors), and the epochs' train/validation/test loss and "
            'accuracy.'
        ),
    )


#: The sections of a run's configuration by the name its TOML table has, in the order ``--help`` lists them; each
#: rule with settings of its own adds a section named after it (EventProp: ``eventprop``).
SECTIONS: dict[str, type[Settings]] = {
    "run": RunSettings, "placement": Placement, "optimiser": OptimiserSettings, "data": DataSettings,
    "synapses": SynapseSettings, "output": OutputSettings,
}


def rule_sections() -> dict[str, type[Settings]]:
    """The sections of the rules that declare settings of their own, by rule name."""
    return {name: rule(name).settings for name in rule_names() if rule(name).settings is not None}


class RunSettingsMethods:
    """What a composed run configuration can do besides holding its settings (see :data:`RunConfig`)."""

    def replace(self, **changes: Any) -> Any:
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
        """Write :meth:`recorded` as a TOML run config of sections that :func:`read_toml` and ``--config`` read
        back."""
        return write_toml(Path(path), self.recorded(), header, sections=True)

    def section(self, name: str) -> Settings:
        """The settings of section ``name`` (:data:`SECTIONS`, or a rule's name) as their own object."""
        cls = {**SECTIONS, **rule_sections()}[name]
        return cls(**{key: getattr(self, key) for key in cls.names()})

    @classmethod
    def section_of(cls, name: str) -> str:
        """The section that declares setting ``name``."""
        return next(section for section, declared in {**SECTIONS, **rule_sections()}.items()
                    if name in declared.names())


#: Every setting of a training run, composed of the sections (:data:`SECTIONS` and the rules' own), each setting
#: declared once with its default, range and help: a frozen dataclass validated when it is made, whose fields are
#: the sections' settings side by side (``config.pes``, ``config.lr``, EventProp's ``config.dt``), so that a run
#: config is one flat mapping in Python, in checkpoints and on the command line, and a TOML file of sections.
RunConfig = compose("RunConfig", RunSettingsMethods, [*SECTIONS.values(), *rule_sections().values()])


def read_toml(path: Path | str, valid: set[str] | None = None) -> dict[str, Any]:
    """The TOML run config at ``path`` as ``{setting: value}``: tables named after the sections (``[placement]``,
    ``[eventprop]``; :data:`SECTIONS`) or the flat keys of files written before sections existed, or both; keys may
    use dashes or underscores. A ConfigError names the file for unreadable TOML, a table that is no section, a key
    in the wrong section or keys outside ``valid`` (default: every :data:`RunConfig` setting)."""
    path = Path(path)
    valid = set(RunConfig.names()) if valid is None else valid
    raw = load_toml(path, "run config")
    values = flatten(raw, path)
    unknown = sorted(set(values) - valid)
    if unknown:
        keys = ", ".join(name.replace("_", "-") for name in sorted(valid))
        raise ConfigError(
            f"run config {path}: unknown key(s) {[k.replace('_', '-') for k in unknown]}; valid keys: {keys}"
        )
    return values


def flatten(raw: Mapping[str, Any], path: Path | str) -> dict[str, Any]:
    """The settings of a TOML run config's tables (sections) and top-level keys, by their names with underscores;
    a ConfigError names the file and the table or key that does not belong where it is."""
    sections = {**SECTIONS, **rule_sections()}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if isinstance(value, dict) and name in sections:
            for inner, setting_value in value.items():
                inner_name = inner.replace("-", "_")
                if inner_name not in sections[name].names():
                    raise ConfigError(f"run config {path}: [{key}] has no setting {inner!r}; it holds "
                                      f"{[n.replace('_', '-') for n in sections[name].names()]}")
                if isinstance(setting_value, (dict, list)):
                    raise ConfigError(f"run config {path}: [{key}] {inner} holds a {type(setting_value).__name__}; "
                                      "only plain values are allowed")
                values[inner_name] = setting_value
        elif isinstance(value, (dict, list)):
            raise ConfigError(f"run config {path}: key {key!r} holds a {type(value).__name__}; only plain values and "
                              f"the sections {sorted(sections)} are allowed")
        else:
            values[name] = value
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


def write_toml(path: Path, values: Mapping[str, Any], header: str = "", sections: bool = False) -> Path:
    """Write ``values`` as a TOML run config (None values are left out): flat keys, or with ``sections`` a table
    per section (:data:`SECTIONS` and the rules' own) holding its settings; written atomically."""
    lines = [f"# {line}" for line in header.splitlines()]
    given = {key: value for key, value in values.items() if value is not None}
    if not sections:
        lines += [f"{key.replace('_', '-')} = {toml_value(value)}" for key, value in given.items()]
    else:
        for name, section in {**SECTIONS, **rule_sections()}.items():
            entries = [f"{key.replace('_', '-')} = {toml_value(given[key])}" for key in section.names() if key in given]
            if entries:
                lines += ["", f"[{name}]", *entries]
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text("\n".join(lines) + "\n")
    os.replace(temporary, path)
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
                      f"{sorted(all_recipes())}", "config")


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
            # Of the defaults, spike data keep only event augmentations (a rule's event recipe); speech's do not apply.
            values["augment"] = tuple(a for a in values.get("augment", ()) if a in EVENT_AUGMENTATIONS)
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
              if any(rule(name).takes("schedule", b) for b in rule(name).backend_names)]
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
