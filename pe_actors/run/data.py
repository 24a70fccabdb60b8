"""The data entry point of a run: the splits a network trains, validates and tests on.

Data come from one of: numpy arrays the caller passes (``(x, labels)``, split here into train, validation and test,
or a mapping of the three splits), a prepared feature directory (``data``), the offline synthetic stand-in of
Speech Commands (no ``data``), or Yin-Yang (EventProp; generated with the published seeds, or read from
``data``), encoded with the network's latency code. The last three are data sources found through the entry
points ``pe_actors.data`` (the ``pe_actors_datasets`` package declares them), so the library never imports a data
package.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from pe_actors.run.config import AUDIO_AUGMENTATIONS, ConfigError, RunConfig
from pe_actors.training.augment import BatchAugment, SpecAugment
from pe_actors.training.trainer import SPLITS, Splits

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


def source(name: str) -> Callable[..., Any]:
    """The data source ``name`` of the entry points ``pe_actors.data``; a ConfigError names what is missing."""
    found = {point.name: point for point in entry_points(group="pe_actors.data")}
    if name not in found:
        raise ConfigError(
            f"no data source {name!r} is installed (the pe_actors_datasets package of pe-actors provides "
            f"{['prepared', 'standin', 'yinyang']}); pass the data as arrays instead",
            "data",
        )
    return found[name].load()


def load_dataset(
    config: RunConfig, network: Any, data: Any = None, echo: Callable[[str], None] = print
) -> Dataset:
    """The splits of the run ``config`` for ``network``: ``data`` when the caller passes arrays, else from the
    configured source (see the module docstring); a ConfigError names ``data`` when they do not fit."""
    if data is not None:
        return arrays_dataset(data, network.n_out, config.seed)
    if config.shd_dir is not None:
        if config.data is not None:
            raise ConfigError("give --data or --shd-dir, not both", "shd_dir")
        return load_shd(config.rule, network, config.shd_dir, config.cache, config.seed, echo)
    return load_splits(
        config.rule, network, config.data, config.cache, config.standin_size, echo, config.progress,
        augment=config.augment, views=config.augment_views,
    )  # fmt: skip


def batch_augment(config: RunConfig, dataset: Dataset, echo: Callable[[str], None] = print) -> BatchAugment | None:
    """How the run builds its training batches from ``dataset`` (``pe_actors.training.augment``): the augmented
    views the data hold, and SpecAugment's masks if ``config.augment`` names it and the data are speech features;
    None when neither applies. Says which of the requested augmentations the data cannot take."""
    asked = set(config.augment)
    speech = "feature_params" in dataset.metadata
    audio = asked & set(AUDIO_AUGMENTATIONS)
    views = dataset.train_views if audio else None
    if audio and views is None:
        echo(f"The data hold no augmented views: {', '.join(sorted(audio))} not applied (prepare them with "
             "`pe-actors data prepare --augment`)")  # fmt: skip
    elif views is not None:
        made = {name for name, value in (dataset.metadata.get("augment") or {}).items() if name in
                AUDIO_AUGMENTATIONS and value is not None}  # fmt: skip
        if made != audio:
            echo(f"The data's {len(views)} augmented views were made with {', '.join(sorted(made)) or 'nothing'}; "
                 f"--augment asks for {', '.join(sorted(audio))}: training on the views as they are")  # fmt: skip
    spec = SpecAugment() if "specaugment" in asked and speech else None
    if "specaugment" in asked and not speech:
        echo("SpecAugment not applied: the data are not speech features")
    if views is None and spec is None:
        return None
    return BatchAugment(dataset.splits.train[0], views, spec, config.seed)


def recorded_dataset(
    checkpoint_meta: dict[str, Any], network: Any, echo: Callable[[str], None] = print
) -> tuple[Dataset, str]:
    """The data a checkpoint's run config records, and where they are: its prepared features, SHD folder or
    Yin-Yang folder, or the generated Yin-Yang or the stand-in (built again in the recorded cache if it is gone)."""
    recorded = checkpoint_meta.get("run_config") or {}
    rule = "eventprop" if checkpoint_meta.get("rule") == "eventprop" else "eprop"
    cache = Path(recorded.get("cache") or "cache/standin")
    if recorded.get("shd_dir"):
        where = recorded["shd_dir"]
        return load_shd(rule, network, Path(where), cache, int(recorded.get("seed", 0)), echo), where
    data = Path(recorded["data"]) if recorded.get("data") else None
    where = str(data) if data else "Yin-Yang (published seeds)" if rule == "eventprop" else "the stand-in"
    size = recorded.get("standin_size") or "default"
    augment, views = recorded_views(recorded)
    return load_splits(rule, network, data, cache, size, echo, augment=augment, views=views), where


def recorded_views(recorded: Mapping[str, Any]) -> tuple[tuple[str, ...], int]:
    """The augmentations and view count a recorded run config names, for :func:`load_splits` (which takes the
    audio ones), so that a later reader opens the feature directory the run used (its clean splits are the same as
    without views)."""
    return tuple(str(recorded.get("augment") or "").split(",")), int(recorded.get("augment_views") or 0)


def event_binning(rule: str, network: Any) -> tuple[float, int]:
    """(bin in ms, steps) of event data for ``network``: EventProp's dt and T; e-prop's T steps over 1 s."""
    if rule == "eventprop":
        return float(network.dt), int(network.n_steps)
    return 1000.0 / network.n_steps, int(network.n_steps)


def load_shd(rule: str, network: Any, shd_dir: Path, cache: Path, seed: int = 0,
             echo: Callable[[str], None] = print) -> Dataset:  # fmt: skip
    """The Spiking Heidelberg Digits in ``shd_dir`` binned for ``network`` (:func:`event_binning`), a validation
    split carved from training by ``seed``, cached in ``cache``; a ConfigError names ``shd_dir``."""
    bin_ms, n_steps = event_binning(rule, network)
    echo(f"SHD from {shd_dir}: {n_steps} bins of {bin_ms:g} ms, cached in {cache}")
    try:
        prepared = source("shd")(shd_dir, cache, bin_ms, n_steps, seed)
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
    rule: str,
    network: Any,
    data: Path | None = None,
    cache: Path = Path("cache/standin"),
    standin_size: str = "default",
    echo: Callable[[str], None] = print,
    progress: bool = True,
    *,
    augment: tuple[str, ...] = (),
    views: int = 0,
) -> Dataset:
    """The splits for a network of ``rule``: EventProp's Yin-Yang (read from ``data`` or generated, encoded with
    ``network``'s latency code), else the prepared features in ``data`` or the stand-in built once in ``cache``
    (with ``views`` augmented views of its training split through the audio augmentations ``augment`` names,
    if any);
    a ConfigError names ``data`` when they cannot be read. Building the stand-in shows progress bars when
    ``progress`` and standard error is a terminal (a redirected log gets none)."""
    eventprop = rule == "eventprop"
    try:
        if eventprop:
            if data is None:
                echo("No --data: generating Yin-Yang offline with the published seeds (train 5000, validation 1000, "
                     "test 1000)")  # fmt: skip
            prepared = source("yinyang")(data)
        elif data is None:
            echo(f"No --data: using the offline synthetic stand-in ({standin_size}) cached in {cache}")
            start = time.perf_counter()
            audio = tuple(name for name in augment if name in AUDIO_AUGMENTATIONS)
            prepared = source("standin")(cache, standin_size, progress, audio, views)
            echo(f"Stand-in features ready in {cache} ({time.perf_counter() - start:.0f} s)")
        else:
            prepared = source("prepared")(data)
    except (FileNotFoundError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error), "data") from None
    splits = dict(prepared.splits)
    if eventprop:
        from pe_actors.rules.eventprop.encoding import encode

        for split, (features, labels) in prepared.splits.items():
            try:
                splits[split] = (encode(features, network, np.uint8), np.asarray(labels))
            except ValueError as error:
                raise ConfigError(f"{data or 'Yin-Yang'} {split} split: {error}", "data") from None
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
                              "data")  # fmt: skip
        splits = {name: _pair(data[name], f"data[{name!r}]") for name in SPLITS}
    else:
        x, labels = _pair(data, "data")
        order = np.random.default_rng(seed).permutation(len(x))
        held = [int(round(HELD_OUT[name] * len(x))) for name in ("validation", "test")]
        if len(x) - sum(held) < 1 or min(held) < 1:
            raise ConfigError(f"data holds {len(x)} samples: too few to hold out a validation and a test split",
                              "data")  # fmt: skip
        parts = {"validation": order[: held[0]], "test": order[held[0] : sum(held)], "train": order[sum(held) :]}
        splits = {name: (x[rows], labels[rows]) for name, rows in parts.items()}
    names = [str(c) for c in range(n_out)]
    metadata = {"dataset": "arrays", "source": "arrays passed by the caller"}
    return Dataset(Splits.from_dict(splits), names, False, metadata)


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


def feature_metadata(checkpoint_meta: dict[str, Any]) -> dict[str, Any]:
    """The feature parameters and training normalisation a checkpoint stores to featurise a raw folder with; a
    ConfigError names ``gsc_dir`` when it stores none."""
    metadata = checkpoint_meta.get("data_metadata")
    if not isinstance(metadata, dict) or "feature_params" not in metadata:
        raise ConfigError(
            "the checkpoint stores no feature parameters and normalisation to featurise a raw folder with; "
            "use --data with prepared features instead",
            "gsc_dir",
        )
    return metadata
