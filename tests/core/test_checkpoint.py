"""Checkpoint files: round trip, atomic replacement, retention, clear errors for bad checkpoints."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from pe_actors.core.checkpoint import (
    META_FILE,
    best_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    read_meta,
    resolve_checkpoint,
    rng_from_meta,
    rng_to_meta,
    save_checkpoint,
)


def engine_state(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w_in": rng.standard_normal((4, 5)).astype(np.float32),
        "m_w_in": rng.standard_normal((4, 5)).astype(np.float32),
        "adam_n": np.array(7),
    }


def write(root, name: str, samples: int, accuracy: float | None = None):
    meta = {"global_samples": samples, "validation_accuracy": accuracy, "run_config": {"lr": 0.01, "rule": "eprop"}}
    return save_checkpoint(root, name, engine_state(samples), {"order": np.arange(6)}, meta)


def test_round_trip_keeps_arrays_dtypes_and_metadata(tmp_path):
    rng = np.random.default_rng(3)
    rng.random(5)
    meta = {"epoch": 2, "rng": rng_to_meta(rng), "history": [{"epoch": 1, "test_accuracy": 0.5}], "note": None}
    path = save_checkpoint(tmp_path, "a", engine_state(), {"order": np.arange(6)[::-1]}, meta)
    loaded = load_checkpoint(path)
    for key, value in engine_state().items():
        np.testing.assert_array_equal(loaded.engine_state[key], value)
        assert loaded.engine_state[key].dtype == value.dtype
    np.testing.assert_array_equal(loaded.trainer_arrays["order"], np.arange(6)[::-1])
    assert loaded.meta["epoch"] == 2 and loaded.meta["history"] == meta["history"] and loaded.meta["note"] is None
    assert loaded.meta["version"] == 2
    restored = rng_from_meta(loaded.meta["rng"])
    np.testing.assert_array_equal(restored.random(4), rng.random(4))
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_saving_again_replaces_atomically(tmp_path):
    write(tmp_path, "x", 10)
    path = save_checkpoint(tmp_path, "x", engine_state(99), {}, {"global_samples": 11})
    loaded = load_checkpoint(path)
    np.testing.assert_array_equal(loaded.engine_state["w_in"], engine_state(99)["w_in"])
    assert loaded.trainer_arrays == {}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-x"]


def test_reserved_and_object_arrays_are_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path, "r", engine_state(), {}, {"version": 3})
    with pytest.raises(TypeError, match="engine/bad"):
        save_checkpoint(tmp_path, "o", {"bad": np.array([{}, None], dtype=object)}, {}, {})
    with pytest.raises(ValueError, match="letters, digits"):
        save_checkpoint(tmp_path, "n", {"../evil": np.zeros(2)}, {}, {})


def test_truncated_array_names_the_file(tmp_path):
    path = write(tmp_path, "t", 1)
    file = path / "engine" / "m_w_in.npy"
    file.write_bytes(file.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"m_w_in\.npy.*(truncated|corrupt)"):
        load_checkpoint(path)


def test_flipped_bytes_fail_the_crc(tmp_path):
    path = write(tmp_path, "c", 1)
    file = path / "engine" / "w_in.npy"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"w_in\.npy is corrupt"):
        load_checkpoint(path)


def test_missing_array_names_the_file(tmp_path):
    path = write(tmp_path, "m", 1)
    (path / "trainer" / "order.npy").unlink()
    with pytest.raises(ValueError, match=r"order\.npy is missing"):
        load_checkpoint(path)


def test_foreign_truncated_and_future_metadata(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with pytest.raises(ValueError, match="not a pe-actors checkpoint: it has no meta.msgpack"):
        load_checkpoint(foreign)
    (foreign / META_FILE).write_bytes(msgpack.packb({"format": "other-tool", "version": 1}))
    with pytest.raises(ValueError, match="not a pe-actors checkpoint.*other-tool"):
        load_checkpoint(foreign)
    (foreign / META_FILE).write_bytes(b"\x93\x01")
    with pytest.raises(ValueError, match="meta.msgpack is truncated or corrupt"):
        read_meta(foreign)
    path = write(tmp_path, "v", 1)
    meta = msgpack.unpackb((path / META_FILE).read_bytes())
    meta["version"] = 99
    (path / META_FILE).write_bytes(msgpack.packb(meta))
    with pytest.raises(ValueError, match="version 99"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="not a directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_retention_keeps_the_last_few_and_the_best(tmp_path):
    write(tmp_path, "a", 10, accuracy=0.4)
    write(tmp_path, "b", 20, accuracy=0.9)
    write(tmp_path, "c", 30)
    write(tmp_path, "d", 40, accuracy=0.5)
    write(tmp_path, "e", 50)
    (tmp_path / ".tmp-ckpt-f-123").mkdir()
    deleted = prune_checkpoints(tmp_path, keep_last=2)
    assert sorted(p.name for p in deleted) == ["ckpt-a", "ckpt-c"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-b", "ckpt-d", "ckpt-e"]
    assert best_checkpoint(tmp_path).name == "ckpt-b"
    assert latest_checkpoint(tmp_path).name == "ckpt-e"
    assert not (tmp_path / ".tmp-ckpt-f-123").exists()
    with pytest.raises(ValueError, match="keep_last"):
        prune_checkpoints(tmp_path, keep_last=0)


def test_resolve_from_run_directory(tmp_path):
    root = tmp_path / "run" / "checkpoints"
    write(root, "a", 10, accuracy=0.8)
    write(root, "b", 20, accuracy=0.3)
    assert resolve_checkpoint(tmp_path / "run").name == "ckpt-b"
    assert resolve_checkpoint(tmp_path / "run", prefer="best").name == "ckpt-a"
    assert resolve_checkpoint(root / "ckpt-b").name == "ckpt-b"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no pe-actors checkpoint"):
        resolve_checkpoint(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        resolve_checkpoint(tmp_path / "missing")


def test_version_1_checkpoints_without_a_metadata_checksum_still_load(tmp_path):
    path = write(tmp_path, "v1", 5)
    meta = read_meta(path)
    old = {key: value for key, value in meta.items()}
    old["version"] = 1
    (path / META_FILE).write_bytes(msgpack.packb(old, use_bin_type=True))
    loaded = load_checkpoint(path)
    assert loaded.meta["version"] == 1 and loaded.meta["global_samples"] == 5


def test_every_single_byte_corruption_loads_identically_or_raises_a_clear_error(tmp_path):
    """Flip each byte of each file of a small checkpoint in turn: loading either gives the same content (a byte
    nothing reads, such as header padding) or raises a ValueError naming a file; it never loads changed."""
    path = save_checkpoint(
        tmp_path, "fuzz", {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "adam_n": np.array(3)},
        {"order": np.arange(4)}, {"epoch": 1, "position": 8, "rng": "state"},
    )
    reference = load_checkpoint(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    outcomes = {"identical": 0, "error": 0}
    for file in files:
        original = file.read_bytes()
        for position in range(len(original)):
            corrupt = bytearray(original)
            corrupt[position] ^= 0xFF
            file.write_bytes(bytes(corrupt))
            try:
                loaded = load_checkpoint(path)
            except ValueError as error:
                assert str(path) in str(error), error
                outcomes["error"] += 1
                continue
            finally:
                file.write_bytes(original)
            assert loaded.meta == reference.meta, (file, position)
            for section in ("engine_state", "trainer_arrays"):
                got, want = getattr(loaded, section), getattr(reference, section)
                assert set(got) == set(want), (file, position)
                for key in want:
                    assert got[key].dtype == want[key].dtype and np.array_equal(got[key], want[key]), (file, position)
            outcomes["identical"] += 1
    assert outcomes["error"] > 0.9 * sum(outcomes.values()), outcomes


def test_leftovers_of_interrupted_replacements_are_pruned_or_put_back(tmp_path):
    write(tmp_path, "a", 1)
    write(tmp_path, "b", 2)
    # A replacement of "a" that completed but left the moved-aside copy behind.
    (tmp_path / ".old-ckpt-a-4242").mkdir()
    # A replacement of "b" whose writer died between the two renames: only the moved-aside copy exists.
    (tmp_path / "ckpt-b").rename(tmp_path / ".old-ckpt-b-4243")
    prune_checkpoints(tmp_path, keep_last=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-a", "ckpt-b"]
    assert load_checkpoint(tmp_path / "ckpt-b").meta["global_samples"] == 2
