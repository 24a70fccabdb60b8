"""The data entry point of a run: the splits a network trains, validates and tests on.

Data come from one of: numpy arrays the caller passes (``(x, labels)``, split here into train, validation and test,
or a mapping of the three splits), the Spiking Heidelberg Digits (``shd_dir``), or a data source: the one the run
names (``source``), else the rule's (``Rule.data``: e-prop reads prepared features from ``data`` or builds the
offline stand-in of Speech Commands; EventProp reads or generates Yin-Yang), whose features reach the network
through the rule's input code (EventProp's latency code). Data sources are found by name through the entry points
``pe_actors.data`` (the ``pe_actors_datasets`` package declares the project's), so the library never imports a data
package; a source is called ``source(data, cache=..., size=..., progress=..., augment=..., views=..., seed=...)``
and returns an object with ``splits`` ({split: (features, labels)}), ``class_names``, ``synthetic`` and
``metadata`` (and optionally ``train_views``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.core.checkpoint import ModelRecord
from pe_actors.core.checks import first_non_finite
from pe_actors.core.logs import log
from pe_actors.core.plugins import entry_point_table
from pe_actors.rules import rule
from pe_actors.run.config import AUDIO_AUGMENTATIONS, EVENT_AUGMENTATIONS, ConfigError, RunConfig
from pe_actors.training.augment import BatchAugment, SpecAugment
from pe_actors.training.trainer import SPLITS, Splits

#: The entry-point groups of the data sources (one call) and of the readers of raw clips and event files.
SOURCES, READERS = "pe_actors.data", "pe_actors.readers"
#: Fractions of a caller's single (x, labels) array pair that become the validation and the test split.
HELD_OUT = {"validation": 0.1, "test": 0.1}


@dataclass(frozen=True)
class Dataset:
    """What a run trains on: the ``splits``, the ``class_names``, whether the data are ``synthetic`` (every
    accuracy is then labelled so), ``metadata`` a checkpoint records (feature parameters, normalisation, the audio
    augmentations), and the augmented ``train_views`` (V, N, T, n_in) of the training split, if any."""

    splits: Splits
    class_names: list[str]
    synthetic: bool
    metadata: dict[str, Any]
    train_views: np.ndarray | None = None


def source(name: str, group: str = "") -> Callable[..., Any]:
    """The data source ``name`` of the entry points ``pe_actors.data`` (or the reader of ``pe_actors.readers``
    when ``group`` is :data:`READERS`); a ConfigError lists the installed ones otherwise."""
    group = group or SOURCES
    found = entry_point_table(group)
    if name not in found:
        raise ConfigError(
            f"no data source {name!r} is installed; the installed sources are {sorted(found)} (entry points "
            f"{group}); pass the data as arrays instead",
            "source",
        )
    return found[name].load()


def source_names() -> tuple[str, ...]:
    """The installed data sources' names."""
    return tuple(sorted(entry_point_table(SOURCES)))


def load_dataset(config: RunConfig, network: Any, data: Any = None) -> Dataset:
    """The splits of the run ``config`` for ``network``: ``data`` when the caller passes arrays, else from the
    configured source (see the module docstring); a ConfigError names ``data`` when they do not fit."""
    if data is not None:
        return arrays_dataset(data, network.n_out, config.seed)
    if config.shd_dir is not None:
        if config.data is not None:
            raise ConfigError("give --data or --shd-dir, not both", "shd_dir")
        return load_shd(config.rule, network, config.shd_dir, config.cache, config.seed)
    return load_splits(
        config.rule, network, config.data, cache=config.cache, size=config.standin_size, progress=config.progress,
        augment=config.augment, views=config.augment_views, source_name=config.source, seed=config.seed,
    )


def batch_augment(config: RunConfig, dataset: Dataset) -> Any:
    """How the run builds its training batches from ``dataset`` (an object with ``batch(index, epoch)`` and
    ``describe()``): for event data the event augmentations ``config.augment`` names (the data's own
    ``augmented``); for speech features the augmented views the data hold and SpecAugment's masks if named
    (``pe_actors.training.augment``); None when nothing applies. Says which of the requested augmentations the
    data cannot take."""
    asked = set(config.augment)
    events = asked & set(EVENT_AUGMENTATIONS)
    x_train = dataset.splits.train[0]
    if events and hasattr(x_train, "augmented"):
        # Event data augment themselves (pe_actors_datasets.event_augment); speech augmentations do not apply.
        return x_train.augmented([name for name in EVENT_AUGMENTATIONS if name in events], config.seed)
    if events:
        log.info(f"{', '.join(sorted(events))} not applied: the data are not events")
    speech = "feature_params" in dataset.metadata
    audio = asked & set(AUDIO_AUGMENTATIONS)
    views = dataset.train_views if audio else None
    if audio and views is None:
        log.info(f"The data hold no augmented views: {', '.join(sorted(audio))} not applied (prepare them with "
             "`pe-actors data prepare --augment`)")
    elif views is not None:
        made = {name for name, value in (dataset.metadata.get("augment") or {}).items() if name in
                AUDIO_AUGMENTATIONS and value is not None}
        if made != audio:
            log.info(f"The data's {len(views)} augmented views were made with {', '.join(sorted(made)) or 'nothing'}; "
                 f"--augment asks for {', '.join(sorted(audio))}: training on the views as they are")
    spec = SpecAugment() if "specaugment" in asked and speech else None
    if "specaugment" in asked and not speech:
        log.info("SpecAugment not applied: the data are not speech features")
    if views is None and spec is None:
        return None
    return BatchAugment(dataset.splits.train[0], views, spec, config.seed)


def recorded_dataset(record: ModelRecord, network: Any) -> tuple[Dataset, str]:
    """The data a checkpoint's run config records (``record``, :class:`~pe_actors.core.checkpoint.ModelRecord`),
    and where they are: its prepared features, SHD folder, data source or Yin-Yang folder, or the generated
    Yin-Yang or the stand-in (built again in the recorded cache if it is gone)."""
    recorded = record.run_config or {}
    rule_name = record.rule
    if (record.data_metadata or {}).get("dataset") == "arrays":
        # The run's data were the caller's arrays, which no run keeps: any other data would be a silent stand-in.
        raise ConfigError("the run trained on arrays passed by its caller, which it does not keep; pass the data "
                          "again", "data")
    cache = Path(recorded.get("cache") or "cache/standin")
    if recorded.get("shd_dir"):
        where = recorded["shd_dir"]
        return load_shd(rule_name, network, Path(where), cache, int(recorded.get("seed", 0))), where
    data = Path(recorded["data"]) if recorded.get("data") else None
    named = recorded.get("source")
    where = str(data) if data else named or rule(rule_name).data.description
    size = recorded.get("standin_size") or "default"
    augment, views = recorded_views(recorded)
    seed = int(recorded.get("seed", 0))
    dataset = load_splits(rule_name, network, data, cache=cache, size=size, augment=augment, views=views,
                          source_name=named, seed=seed)
    return dataset, where


def recorded_views(recorded: Mapping[str, Any]) -> tuple[tuple[str, ...], int]:
    """The augmentations and view count a recorded run config names, for :func:`load_splits` (which takes the
    audio ones), so that a later reader opens the feature directory the run used (its clean splits are the same as
    without views)."""
    return tuple(str(recorded.get("augment") or "").split(",")), int(recorded.get("augment_views") or 0)


def load_shd(rule_name: str, network: Any, shd_dir: Path, cache: Path, seed: int = 0) -> Dataset:
    """The Spiking Heidelberg Digits in ``shd_dir`` binned for ``network`` (its rule's ``data.event_binning``:
    e-prop's T steps over 1 s, EventProp's dt), a validation split carved from training by ``seed``, cached in
    ``cache``; a ConfigError names ``shd_dir``."""
    bin_ms, n_steps = rule(rule_name).data.event_binning(network)
    log.info(f"SHD from {shd_dir}: {n_steps} bins of {bin_ms:g} ms, cached in {cache}")
    try:
        prepared = source("shd", READERS)(shd_dir, cache, bin_ms, n_steps, seed)
    except (FileNotFoundError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error), "shd_dir") from None
    metadata = json.loads(json.dumps(prepared.metadata, default=str))
    return Dataset(Splits.from_dict(dict(prepared.splits)), list(prepared.class_names), False, metadata)


def fit_network(network: Any, dataset: Dataset) -> Any:
    """``network`` with its input size taken from the data's channels and its output size from its classes."""
    n_in, n_out = int(dataset.splits.train[0].shape[2]), len(dataset.class_names)
    if hasattr(network, "with_sizes"):
        return network.with_sizes(n_in=n_in, n_out=n_out)
    from dataclasses import replace

    return replace(network, sizes=(n_in, *network.sizes[1:-1], n_out))


def load_splits(
    rule_name: str,
    network: Any,
    data: Path | None = None,
    *,
    cache: Path = Path("cache/standin"),
    size: str = "default",
    progress: bool = True,
    augment: tuple[str, ...] = (),
    views: int = 0,
    source_name: str | None = None,
    seed: int = 0,
) -> Dataset:
    """The splits for a network of rule ``rule_name`` from the data source ``source_name`` (None: the rule's,
    ``Rule.data``: its folder source for ``data``, else its default source), through the rule's input code.
    ``cache``, ``size``, ``progress``, ``augment``, ``views`` and ``seed`` go to the source (the stand-in
    is built once in ``cache``, with ``views`` augmented views of its training split through the audio
    augmentations ``augment`` names, and shows progress bars when ``progress`` and standard error is a terminal).
    A ConfigError names ``data`` when they cannot be read."""
    spec = rule(rule_name)
    name = source_name or (spec.data.folder if data is not None else spec.data.source)
    if data is None and source_name is None:
        log.info(f"No --data: {spec.data.description} (data source {name!r}, cache {cache})")
    reader = source(name)
    start = time.perf_counter()
    try:
        prepared = reader(data, cache=cache, size=size, progress=progress, augment=augment, views=views,
                          seed=seed)
    except (FileNotFoundError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error), "data") from None
    if data is None and source_name is None:
        log.info(f"Data ready ({time.perf_counter() - start:.0f} s)")
    splits = dict(prepared.splits)
    if spec.data.encode is not None:
        for split, (features, labels) in prepared.splits.items():
            try:
                splits[split] = (spec.data.encode(features, network), np.asarray(labels))
            except ValueError as error:
                raise ConfigError(f"{data or name} {split} split: {error}", "data") from None
    metadata = json.loads(json.dumps(prepared.metadata, default=str))
    views = getattr(prepared, "train_views", None)
    return Dataset(Splits.from_dict(splits), list(prepared.class_names), bool(prepared.synthetic), metadata, views)


def arrays_dataset(data: Any, n_out: int, seed: int = 0) -> Dataset:
    """A dataset of arrays: a mapping ``{"train": (x, labels), "validation": ..., "test": ...}``, or one pair
    ``(x, labels)`` of which a seeded shuffle holds out :data:`HELD_OUT` for validation and test. Inputs are
    (N, T, n_in) for e-prop and the encoded (N, T, n_0) spike rasters for EventProp; labels integers below
    ``n_out``, the classes, named by their index."""
    if isinstance(data, Mapping):
        missing = [name for name in SPLITS if name not in data]
        if missing:
            raise ConfigError(f"data lacks the split(s) {missing}; give {list(SPLITS)} or one (x, labels) pair",
                              "data")
        splits = {name: _pair(data[name], f"data[{name!r}]") for name in SPLITS}
        empty = [name for name in SPLITS if len(splits[name][0]) == 0]
        if empty:
            raise ConfigError(f"data[{empty[0]!r}] holds no sample; every split needs at least one", "data")
    else:
        x, labels = _pair(data, "data")
        # Named by the caller's index, before the shuffle that holds out validation and test.
        index = first_non_finite(x)
        if index is not None:
            raise ConfigError(f"data: x[{index}] holds NaN or Inf", "data")
        order = np.random.default_rng(seed).permutation(len(x))
        held = [int(round(HELD_OUT[name] * len(x))) for name in ("validation", "test")]
        if len(x) - sum(held) < 1 or min(held) < 1:
            raise ConfigError(f"data holds {len(x)} samples: too few to hold out a validation and a test split",
                              "data")
        parts = {"validation": order[: held[0]], "test": order[held[0] : sum(held)], "train": order[sum(held) :]}
        splits = {name: (x[rows], labels[rows]) for name, rows in parts.items()}
    if len(np.unique(splits["train"][1])) < 2:
        raise ConfigError("data: the training labels hold one class only; a classifier needs at least two", "data")
    names = [str(c) for c in range(n_out)]
    metadata = {"dataset": "arrays", "source": "arrays passed by the caller", "hash": arrays_hash(splits)}
    return Dataset(Splits.from_dict(splits), names, False, metadata)


def arrays_hash(splits: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """A sha256 of the splits' inputs and labels (shapes, types and values), which a resumed run compares with
    the one its checkpoint recorded."""
    digest = hashlib.sha256()
    for name in sorted(splits):
        for array in splits[name]:
            array = np.ascontiguousarray(array)
            digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _pair(value: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``value`` as (x, labels) arrays, or a ConfigError naming ``where``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigError(f"{where} must be a pair (x, labels) of arrays, got {type(value).__name__}", "data")
    x, labels = np.asarray(value[0]), np.asarray(value[1])
    if not np.issubdtype(x.dtype, np.number) or x.ndim != 3:
        raise ConfigError(f"{where}: x must be a numeric array (N, T, n_in), got {x.dtype} {x.shape}", "data")
    if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"{where}: labels must be {len(x)} integers, got {labels.dtype} {labels.shape}", "data")
    return x, labels


def feature_metadata(record: ModelRecord) -> dict[str, Any]:
    """The feature parameters and training normalisation a checkpoint stores (``record``) to featurise a raw
    folder with; a ConfigError names ``gsc_dir`` when it stores none."""
    metadata = record.data_metadata
    if not isinstance(metadata, dict) or "feature_params" not in metadata:
        raise ConfigError(
            "the checkpoint stores no feature parameters and normalisation to featurise a raw folder with; "
            "use --data with prepared features instead",
            "gsc_dir",
        )
    return metadata
