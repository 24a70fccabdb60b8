"""Checkpoints: numpy ``.npy`` arrays plus msgpack metadata with a format version, no pickle.

A checkpoint is a directory::

    meta.msgpack          {"format": "pe-actors-checkpoint", "version": 2, "crc32": CRC-32 of the body,
                           "body": msgpack bytes of {"arrays": {name: shape, dtype, crc32}, plus what the caller
                           stores: epoch, sample position, RNG state, run config, metrics}}
    engine/<key>.npy      the engine's state: full weights, ADAM moments ``m_*``/``v_*``, step count ``adam_n``
    trainer/<key>.npy     the trainer's arrays (for example the sample order of the current epoch)

It is written into a temporary sibling directory that is renamed into place once complete, so a crash never
leaves a half-written checkpoint under a checkpoint's name. On loading, the metadata body is checked against its
CRC-32 and its array table against a schema, and every array against the shape, dtype and CRC-32 recorded there,
so the whole checkpoint is verified as one: a truncated, corrupt or foreign checkpoint raises a ValueError that
names the offending file. Version 1 checkpoints (metadata without a checksum) are still read.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

FORMAT = "pe-actors-checkpoint"
VERSION = 2
META_FILE = "meta.msgpack"
PREFIX = "ckpt-"
SECTIONS = ("engine", "trainer")


@dataclass(frozen=True)
class ModelRecord:
    """What a checkpoint records of the model it holds, written the same way by training, adaptation and NIR
    import (the keys of the checkpoint's metadata beside the trainer's position):

    Attributes:
        rule: the rule (or alias, ``bptt``) that trained it; checkpoints that predate the field hold e-prop.
        network: the rule's network description as a plain dict (``to_dict``).
        optimiser: the learning rate, L2 and decay it trained with.
        synapses: where its weights live (:meth:`pe_actors.synapses.SynapseConfig.to_dict`); None: digital.
        class_names: the names of its outputs' classes.
        synthetic: whether it trained on synthetic data (its accuracies are labelled so).
        data_metadata: what the data source recorded (feature parameters, normalisation, hash).
        run_config: the settings of the run that wrote it (a flat mapping, as ``run-config.toml`` holds them).
        augmentation: the augmentations it trained with.
        adaptation: for an adapted model, what it adapted on and how.
        imported_from_nir: for an imported model, what the NIR graph recorded.
        initialisation: how its initial weights were scaled to the data (None: as drawn).
    """

    rule: str = "eprop"
    network: dict[str, Any] = field(default_factory=dict)
    optimiser: dict[str, Any] = field(default_factory=dict)
    synapses: dict[str, Any] | None = None
    class_names: list[str] = field(default_factory=list)
    synthetic: bool = False
    data_metadata: dict[str, Any] | None = None
    run_config: dict[str, Any] | None = None
    augmentation: dict[str, Any] | None = None
    adaptation: dict[str, Any] | None = None
    imported_from_nir: dict[str, Any] | None = None
    initialisation: dict[str, Any] | None = None

    #: The fields of the record (the other metadata keys are the trainer's and the format's).
    KEYS = ("rule", "network", "optimiser", "synapses", "class_names", "synthetic", "data_metadata", "run_config",
            "augmentation", "adaptation", "imported_from_nir", "initialisation")

    def to_meta(self) -> dict[str, Any]:
        """The record as checkpoint metadata; fields at None are left out, as the writers always did."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], where: str = "checkpoint") -> ModelRecord:
        """The record in checkpoint metadata ``meta``; a ValueError names ``where`` and the field of a wrong type."""
        values = {key: meta[key] for key in cls.KEYS if key in meta}
        kinds = {"rule": str, "network": dict, "optimiser": dict, "class_names": list, "synthetic": bool}
        for key, kind in kinds.items():
            if key in values and not isinstance(values[key], kind):
                raise ValueError(f"{where}: its {key} is a {type(values[key]).__name__}, not a {kind.__name__}")
        for key in ("synapses", "data_metadata", "run_config", "augmentation", "adaptation", "imported_from_nir",
                    "initialisation"):
            if values.get(key) is not None and not isinstance(values[key], dict):
                raise ValueError(f"{where}: its {key} is a {type(values[key]).__name__}, not a table")
        return cls(**values)

    def replace(self, **changes: Any) -> ModelRecord:
        """A copy with ``changes``."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: where it lives, the engine state, the trainer's arrays and the metadata (its model's
    part typed as :attr:`record`)."""

    path: Path
    engine_state: dict[str, np.ndarray]
    trainer_arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def record(self) -> ModelRecord:
        """What the checkpoint records of its model; a ValueError names the checkpoint when it is malformed."""
        return ModelRecord.from_meta(self.meta, f"checkpoint {self.path}")


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).tobytes())


def _check_name(section: str, key: str) -> None:
    if not key or not key.replace("_", "a").isalnum():
        raise ValueError(f"checkpoint array name {section}/{key!r} must be letters, digits and underscores")


def _write_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def save_checkpoint(
    root: Path | str,
    name: str,
    engine_state: dict[str, np.ndarray],
    trainer_arrays: dict[str, np.ndarray],
    meta: dict[str, Any],
) -> Path:
    """Write a checkpoint atomically as ``root/<PREFIX><name>`` and return its path.

    ``meta`` must be msgpack-serialisable (plain dicts, lists, str, int, float, bool, None); the keys
    ``format``, ``version`` and ``arrays`` are reserved. An existing checkpoint of the same name is replaced.
    """
    reserved = {"format", "version", "arrays"} & set(meta)
    if reserved:
        raise ValueError(f"checkpoint metadata keys {sorted(reserved)} are reserved")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{name}"
    tmp = root / f".tmp-{PREFIX}{name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    records, current = {}, tmp
    try:
        for section, arrays in zip(SECTIONS, (engine_state, trainer_arrays), strict=True):
            (tmp / section).mkdir(parents=True)
            for key, value in arrays.items():
                _check_name(section, key)
                array = np.asarray(value)
                if array.dtype == object:
                    raise TypeError(
                        f"checkpoint array {section}/{key} has dtype object; only numeric arrays are stored"
                    )
                current = tmp / section / f"{key}.npy"
                _write_array(current, array)
                records[f"{section}/{key}"] = {
                    "shape": list(array.shape), "dtype": array.dtype.str, "crc32": _crc(array)
                }
        body = msgpack.packb({"arrays": records, **meta}, use_bin_type=True)
        payload = {"format": FORMAT, "version": VERSION, "crc32": zlib.crc32(body), "body": body}
        current = tmp / META_FILE
        with open(current, "wb") as handle:
            handle.write(msgpack.packb(payload, use_bin_type=True))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        # A full disk and the like: drop the partial checkpoint (the previous ones stay as they were) and name
        # the file (numpy's own write errors carry no file name).
        shutil.rmtree(tmp, ignore_errors=True)
        cause = error.strerror or str(error)
        raise OSError(error.errno or errno.EIO, cause, str(error.filename or current)) from None
    if final.exists():
        old = root / f".old-{PREFIX}{name}-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)
    return final


def read_meta(path: Path | str) -> dict[str, Any]:
    """The metadata of the checkpoint at ``path``, after checking that it is a pe-actors checkpoint of a
    version this code reads; otherwise a ValueError names the file and what is wrong."""
    path = Path(path)
    meta_path = path / META_FILE
    if not path.is_dir():
        raise ValueError(f"checkpoint {path} is not a directory")
    if not meta_path.is_file():
        raise ValueError(f"{path} is not a pe-actors checkpoint: it has no {META_FILE}")
    try:
        meta = msgpack.unpackb(meta_path.read_bytes(), raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as error:
        raise ValueError(f"checkpoint metadata {meta_path} is truncated or corrupt: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{meta_path} is not a pe-actors checkpoint (format {found!r}, expected {FORMAT!r})")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise ValueError(f"{meta_path} has checkpoint format version {version!r}; this code reads 1..{VERSION}")
    if version >= 2:
        body, crc = meta.get("body"), meta.get("crc32")
        if not isinstance(body, bytes) or not isinstance(crc, int) or zlib.crc32(body) != crc:
            raise ValueError(f"checkpoint metadata {meta_path} is corrupt: its CRC-32 does not match")
        try:
            inner = msgpack.unpackb(body, raw=False, strict_map_key=False)
        except (ValueError, msgpack.UnpackException) as error:
            raise ValueError(f"checkpoint metadata {meta_path} is corrupt: {error}") from None
        if not isinstance(inner, dict):
            raise ValueError(f"checkpoint metadata {meta_path} is corrupt: its body is not a table")
        meta = {"format": FORMAT, "version": version, **inner}
    _check_array_table(meta.get("arrays"), meta_path)
    return meta


def _check_array_table(arrays: Any, meta_path: Path) -> None:
    """The 'arrays' table must map section/key names to {shape: [ints >= 0], dtype: str, crc32: int}."""
    if not isinstance(arrays, dict):
        raise ValueError(f"{meta_path} lacks the 'arrays' table of a pe-actors checkpoint")
    for name, record in arrays.items():
        ok = (
            isinstance(name, str)
            and isinstance(record, dict)
            and isinstance(record.get("shape"), list)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in record["shape"])
            and isinstance(record.get("dtype"), str)
            and isinstance(record.get("crc32"), int)
        )
        if not ok:
            raise ValueError(f"{meta_path}: the record of array {name!r} is malformed: {record!r}")


def _load_array(file: Path, record: dict[str, Any]) -> np.ndarray:
    if not file.is_file():
        raise ValueError(f"checkpoint array {file} is missing")
    try:
        array = np.load(file, allow_pickle=False)
    except Exception as error:  # a corrupt .npy header fails inside numpy's parser in many ways
        raise ValueError(f"checkpoint array {file} is truncated or corrupt: {type(error).__name__}: {error}") from None
    if list(array.shape) != record["shape"] or array.dtype.str != record["dtype"]:
        raise ValueError(
            f"checkpoint array {file} has shape {list(array.shape)} dtype {array.dtype.str}, "
            f"but the metadata records shape {record['shape']} dtype {record['dtype']}"
        )
    if _crc(array) != record["crc32"]:
        raise ValueError(f"checkpoint array {file} is corrupt: its CRC-32 does not match the metadata")
    return array


def load_checkpoint(path: Path | str) -> Checkpoint:
    """Read and verify the checkpoint directory ``path`` (see the module docstring)."""
    path = Path(path)
    meta = read_meta(path)
    sections: dict[str, dict[str, np.ndarray]] = {section: {} for section in SECTIONS}
    for name, record in meta["arrays"].items():
        section, _, key = name.partition("/")
        if section not in sections:
            raise ValueError(f"{path / META_FILE} lists an array {name!r} outside the sections {SECTIONS}")
        sections[section][key] = _load_array(path / section / f"{key}.npy", record)
    return Checkpoint(path=path, engine_state=sections["engine"], trainer_arrays=sections["trainer"], meta=meta)


def list_checkpoints(root: Path | str) -> list[Path]:
    """The complete checkpoints under ``root``, oldest first (by the ``global_samples`` in their metadata)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith(PREFIX):
            try:
                found.append((read_meta(path).get("global_samples", 0), path.name, path))
            except ValueError:
                continue
    return [path for _, _, path in sorted(found)]


def latest_checkpoint(root: Path | str) -> Path | None:
    """The most recent checkpoint under ``root``, or None when there is none."""
    paths = list_checkpoints(root)
    return paths[-1] if paths else None


def best_checkpoint(root: Path | str) -> Path | None:
    """The checkpoint under ``root`` with the highest ``validation_accuracy`` (the latest on ties); None when
    no checkpoint records one."""
    best, best_accuracy = None, None
    for path in list_checkpoints(root):
        accuracy = read_meta(path).get("validation_accuracy")
        if accuracy is not None and (best_accuracy is None or accuracy >= best_accuracy):
            best, best_accuracy = path, accuracy
    return best


def prune_checkpoints(root: Path | str, keep_last: int) -> list[Path]:
    """Delete all but the ``keep_last`` most recent checkpoints and the best by validation accuracy; returns
    the deleted paths. Leftovers of interrupted writes are cleaned up too: temporary directories are removed, and a
    checkpoint moved aside for a replacement is removed once the replacement is in place, or put back if not."""
    if not isinstance(keep_last, int) or keep_last < 1:
        raise ValueError(f"keep_last must be a positive integer, got {keep_last!r}")
    root = Path(root)
    paths = list_checkpoints(root)
    keep = set(paths[-keep_last:])
    best = best_checkpoint(root)
    if best is not None:
        keep.add(best)
    deleted = [path for path in paths if path not in keep]
    for path in deleted:
        shutil.rmtree(path)
    for leftover in root.glob(f".tmp-{PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for old in root.glob(f".old-{PREFIX}*"):
        # ".old-ckpt-NAME-PID": the previous checkpoint NAME moved aside while a replacement was renamed in. If the
        # replacement is in place it is garbage; if the writer died between the two renames it is the checkpoint.
        final = root / old.name[len(".old-") :].rsplit("-", 1)[0]
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.rename(final)
    return deleted


def resolve_checkpoint(path: Path | str, prefer: str = "latest") -> Path:
    """A checkpoint directory from ``path``: the path itself when it is a checkpoint, otherwise the ``latest``
    or ``best`` checkpoint in ``path/checkpoints`` (a run directory) or in ``path``."""
    if prefer not in ("latest", "best"):
        raise ValueError(f"prefer must be 'latest' or 'best', got {prefer!r}")
    path = Path(path)
    if (path / META_FILE).is_file():
        return path
    if not path.is_dir():
        raise ValueError(f"checkpoint or run directory {path} does not exist")
    pick = latest_checkpoint if prefer == "latest" else best_checkpoint
    for root in (path / "checkpoints", path):
        found = pick(root)
        if prefer == "best" and found is None:
            found = latest_checkpoint(root)
        if found is not None:
            return found
    raise ValueError(f"{path} holds no pe-actors checkpoint (looked in {path / 'checkpoints'} and {path})")


def rng_to_meta(rng: np.random.Generator) -> str:
    """A numpy Generator's bit-generator state as a JSON string (its 128-bit integers do not fit msgpack ints)."""
    return json.dumps(rng.bit_generator.state)


def rng_from_meta(text: str) -> np.random.Generator:
    """The Generator whose state :func:`rng_to_meta` recorded."""
    try:
        state = json.loads(text)
        bit_generator = getattr(np.random, state["bit_generator"])()
        bit_generator.state = state
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"invalid RNG state in checkpoint metadata: {error}") from None
    return np.random.Generator(bit_generator)
