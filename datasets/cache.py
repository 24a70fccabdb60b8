"""Feature cache: each split of a GSC-layout folder featurised once into memory-mappable arrays (docs/data.md).

A prepared directory holds, per split ``s`` in train, validation, test:

- ``s_features.npy``: float32 (N, 100, 80), normalised with the training split's per-feature mean and std;
- ``s_labels.npy``: int64 (N,), indices into ``CLASS_NAMES``;
- with audio augmentation, ``train_views.npy``: float32 (V, N, 100, 80), V augmented featurisations of every
  training clip (``augment``), normalised with the clean training statistics;

and ``metadata.json`` (class names, counts, normalisation, feature parameters, librosa version, the hash of the
file list and parameters, and ``synthetic``, copied from the ``SYNTHETIC.json`` marker the stand-in writes).

It is built in a temporary sibling directory that is renamed into place only once complete, so an interrupted
run never leaves a directory that loads. A second run whose hash matches reuses the cache at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from pe_actors_datasets.augment import AudioAugment, augment_clip, simulated_rooms
from pe_actors_datasets.features import (
    DEFAULT_PARAMS,
    SAMPLE_RATE,
    FeatureParams,
    log_mel_delta,
    normalisation_stats,
    normalise,
)
from pe_actors_datasets.speech_commands import (
    CLASS_NAMES,
    SPLIT_LISTS,
    SPLITS,
    BadClipError,
    Clip,
    GscIndex,
    all_clips,
    label_of,
    load_clip,
    scan,
    split_clips,
)

CACHE_FORMAT = 1
VIEWS_FILE = "train_views.npy"
METADATA = "metadata.json"
SYNTHETIC_MARKER = "SYNTHETIC.json"
CHUNK = 32
IN_FLIGHT_PER_WORKER = 4


@dataclass(frozen=True)
class PreparedData:
    """A loaded feature cache: per split (features float32 (N, 100, 80) memory-mapped, labels int64 (N,)), and
    the augmented views of the training split (V, N, 100, 80) when it has them."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    class_names: list[str]
    synthetic: bool
    metadata: dict
    train_views: np.ndarray | None = None


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` did: the cache path, whether it was reused, and the files it skipped or resampled."""

    path: Path
    reused: bool
    counts: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    resampled: int = 0
    seconds: float = 0.0


def bar_hidden(progress: bool) -> bool:
    """Whether a data-building progress bar is hidden: when ``progress`` is False, and when stderr is not a
    terminal (a pipe or a log file would get its carriage-return lines)."""
    return not progress or not sys.stderr.isatty()


def _feature_paths(directory: Path, split: str) -> tuple[Path, Path]:
    return directory / f"{split}_features.npy", directory / f"{split}_labels.npy"


def _synthetic_marker(root: Path) -> dict | None:
    marker = root / SYNTHETIC_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def input_hash(root: Path, files: Sequence[str], settings: dict) -> str:
    """SHA-256 over the relative path, size and mtime of every input file, the split lists' text and settings."""
    digest = hashlib.sha256()
    for name in sorted(files):
        stat = (root / name).stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for name in [*SPLIT_LISTS.values(), SYNTHETIC_MARKER]:
        path = root / name
        digest.update(path.read_bytes() if path.is_file() else b"<absent>")
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


#: An audio transform applied before featurising: (audio, the clip's index in its job) -> audio.
Transform = Callable[[np.ndarray, int], np.ndarray]


def _featurise_chunk(
    root: str,
    clips: list[Clip],
    params: FeatureParams,
    strict: bool,
    transform: Transform | None = None,
    first: int = 0,
) -> tuple[np.ndarray, list[tuple[int, str, str]], int]:
    """Features of a chunk of clips (the first is clip ``first`` of its job, each passed through ``transform``
    when given), the bad ones as (position, path, problem), and how many were resampled."""
    out = np.zeros((len(clips), params.n_frames, params.n_features), dtype=np.float32)
    bad = []
    resampled = 0
    for i, clip in enumerate(clips):
        try:
            audio, note = load_clip(root, clip, strict=strict)
            if transform is not None:
                audio = transform(audio, first + i)
            features = log_mel_delta(audio, params=params)
            if not np.isfinite(features).all():
                raise BadClipError(Path(root) / clip.path, "features contain NaN or infinity")
        except BadClipError as err:
            bad.append((i, err.path, err.problem))
            continue
        resampled += note is not None
        out[i] = features
    return out, bad, resampled


def _chunks(clips: list[Clip], size: int) -> Iterator[tuple[int, list[Clip]]]:
    for start in range(0, len(clips), size):
        yield start, clips[start : start + size]


def _chunk_results(
    root: Path,
    tasks: list[tuple[str, int, list[Clip]]],
    *,
    params: FeatureParams,
    strict: bool,
    workers: int,
    transforms: dict[str, Transform] | None = None,
) -> Iterator[tuple[tuple[str, int, list[Clip]], tuple]]:
    """Yield each task with ``_featurise_chunk``'s result, in task order, with BLAS pinned to one thread.

    One worker runs in the calling thread; more use a thread pool with at most ``IN_FLIGHT_PER_WORKER`` chunks per
    worker queued, so results never pile up in memory. Closing the generator cancels what is queued. Threads, not
    processes: a process pool re-imports the caller's main module, which breaks a notebook, a script without a
    main guard or a script read from standard input; the decoding, resampling and FFTs release the GIL.
    """
    transforms = transforms or {}

    def arguments(task: tuple[str, int, list[Clip]]) -> tuple:
        return str(root), task[2], params, strict, transforms.get(task[0]), task[1]

    if workers <= 1:
        with threadpool_limits(limits=1):
            for task in tasks:
                yield task, _featurise_chunk(*arguments(task))
        return
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        try:
            for task in tasks:
                pending.append((task, pool.submit(_featurise_chunk, *arguments(task))))
                if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def _featurise_into(
    root: Path,
    jobs: list[tuple[str, list[Clip], np.ndarray]],
    *,
    params: FeatureParams,
    strict: bool,
    skip_bad: bool,
    workers: int,
    progress: bool,
    transforms: dict[str, Transform] | None = None,
    desc: str = "features",
) -> tuple[dict[str, np.ndarray], list[tuple[str, str]], int]:
    """Fill each job's (N, frames, F) output with its clips' features (through the job's transform, if any), over
    ``workers`` threads.

    Returns per job name the boolean mask of good clips, the bad ones as (path, problem) and the resample count.
    Without ``skip_bad`` the first bad clip raises its BadClipError.
    """
    outputs = {name: out for name, _, out in jobs}
    good = {name: np.ones(len(clips), dtype=bool) for name, clips, _ in jobs}
    skipped: list[tuple[str, str]] = []
    resampled = 0
    tasks = [(name, start, chunk) for name, clips, _ in jobs for start, chunk in _chunks(clips, CHUNK)]
    results = _chunk_results(root, tasks, params=params, strict=strict, workers=workers, transforms=transforms)
    total = sum(len(clips) for _, clips, _ in jobs)
    with tqdm(total=total, desc=desc, unit="clip", disable=bar_hidden(progress)) as bar, closing(results):
        for (name, start, chunk), (features, bad, n_resampled) in results:
            if bad and not skip_bad:
                _, path, problem = bad[0]
                raise BadClipError(path, problem)
            outputs[name][start : start + len(features)] = features
            for i, path, problem in bad:
                good[name][start + i] = False
                skipped.append((path, problem))
            resampled += n_resampled
            bar.update(len(chunk))
    return good, skipped, resampled


def _compact(path: Path, keep: np.ndarray) -> np.ndarray:
    """Rewrite an .npy array keeping only the rows in ``keep``; returns the new memory map."""
    old = np.load(path, mmap_mode="r")
    new_path = path.with_suffix(".compact.npy")
    new = np.lib.format.open_memmap(new_path, mode="w+", dtype=old.dtype, shape=(int(keep.sum()), *old.shape[1:]))
    new[:] = old[keep]
    new.flush()
    del old, new
    os.replace(new_path, path)
    return np.load(path, mmap_mode="r+")


def owned_temp_dir(out: Path) -> Path:
    """A new temporary folder beside ``out`` named for this process, ``.<name>.tmp-<pid>-...``, so that a later
    build can tell a leftover of a killed process from another live build's (:func:`remove_dead_temps`)."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))


def remove_dead_temps(out: Path) -> None:
    """Remove the temporary folders of ``out`` whose process is gone (a build killed with SIGKILL leaves its
    folder, which can hold gigabytes of rasters); another live build's stay."""
    for leftover in out.parent.glob(f".{out.name}.tmp-*"):
        pid = leftover.name[len(f".{out.name}.tmp-"):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(leftover, ignore_errors=True)
        except PermissionError:
            continue


def _remove_stale_temps(out: Path) -> None:
    for leftover in out.parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / METADATA).is_file())):
        raise ValueError(
            f"{out}: exists and is not a pe-actors feature cache (no {METADATA}); refusing to overwrite it - "
            "choose another --out or remove it"
        )


def install_directory(tmp: Path, out: Path) -> None:
    """Move a complete cache directory into place (rename; the old cache, if any, is renamed away first)."""
    if out.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-old-", dir=out.parent))
        os.replace(out, trash / out.name)
        os.replace(tmp, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _write_json(path: Path, value: dict) -> None:
    with open(path, "w") as handle:
        json.dump(value, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def prepare(
    gsc_dir: Path | str,
    out_dir: Path | str,
    *,
    unknown_fraction: float = 1.0,
    seed: int = 0,
    skip_bad: bool = False,
    strict: bool = False,
    workers: int = 2,
    params: FeatureParams = DEFAULT_PARAMS,
    progress: bool = True,
    on_build: Callable[[], None] | None = None,
    augment: AudioAugment | None = None,
    views: int = 0,
) -> PrepareResult:
    """Featurise every split of a GSC-layout folder into ``out_dir`` once (module docstring), or reuse it.

    With ``augment`` and ``views`` > 0, every training clip is also featurised ``views`` times through a random
    chain of the audio augmentations ``augment`` switches on (``pe_actors_datasets.augment``).

    ``unknown_fraction`` keeps that share of the unknown words per split and ``seed`` draws it and the silence
    crops. Bad files raise BadClipError naming the file unless ``skip_bad``, in which case they are left out and
    listed; WAVs not at 16 kHz are resampled with a warning, or refused when ``strict``. Nothing is written
    unless the run completes. ``on_build`` is called just before the build starts (for progress messages).
    """
    started = time.perf_counter()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if views < 0 or (views > 0 and (augment is None or not augment.names)):
        raise ValueError(f"views must be 0, or positive with at least one audio augmentation on; got {views}")
    root = Path(gsc_dir)
    out = Path(out_dir)
    index = scan(root)
    splits, skipped_entries = split_clips(index, unknown_fraction=unknown_fraction, seed=seed, skip_bad=skip_bad)
    settings = {
        "format": CACHE_FORMAT,
        "feature_params": params.to_dict(),
        "unknown_fraction": unknown_fraction,
        "seed": seed,
        "skip_bad": skip_bad,
        "strict": strict,
        "librosa_version": librosa.__version__,
    }
    if views:
        settings["augment"] = augment.to_dict()
        settings["views"] = views
    files = [w for wavs in index.words.values() for w in wavs] + index.background
    key = input_hash(root, files, settings)
    existing = _read_metadata(out) if (out / METADATA).is_file() else None
    if existing is not None and existing.get("hash") == key:
        return PrepareResult(
            path=out,
            reused=True,
            counts=existing["sizes"],
            skipped=[tuple(s) for s in existing["skipped"]],
            resampled=existing["resampled"],
            seconds=time.perf_counter() - started,
        )
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out)
    if on_build is not None:
        on_build()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        metadata = _build(
            root,
            tmp,
            splits,
            params=params,
            strict=strict,
            skip_bad=skip_bad,
            workers=workers,
            progress=progress,
            augment=augment if views else None,
            views=views,
            seed=seed,
            backgrounds=index.background,
        )
        skipped = [*skipped_entries, *metadata.pop("_skipped")]
        metadata.update(
            settings,
            hash=key,
            skipped=[list(s) for s in skipped],
            source=str(root.resolve()),
            synthetic=_synthetic_marker(root) is not None,
            synthetic_info=_synthetic_marker(root),
            numpy_version=np.__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        _write_json(tmp / METADATA, metadata)
        install_directory(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if metadata["resampled"]:
        warnings.warn(
            f"{root}: resampled {metadata['resampled']} WAV files to 16 kHz; pass strict=True (--strict) to refuse",
            stacklevel=2,
        )
    return PrepareResult(
        path=out,
        reused=False,
        counts=metadata["sizes"],
        skipped=skipped,
        resampled=metadata["resampled"],
        seconds=time.perf_counter() - started,
    )


def _build(
    root: Path,
    tmp: Path,
    splits: dict[str, list[Clip]],
    *,
    params: FeatureParams,
    strict: bool,
    skip_bad: bool,
    workers: int,
    progress: bool,
    augment: AudioAugment | None = None,
    views: int = 0,
    seed: int = 0,
    backgrounds: Sequence[str] = (),
) -> dict:
    """Raw features of every split into ``tmp`` (and ``views`` augmented featurisations of the training split),
    then normalised with the clean training split's statistics."""
    shape = (params.n_frames, params.n_features)
    outputs = {
        split: np.lib.format.open_memmap(
            _feature_paths(tmp, split)[0], mode="w+", dtype=np.float32, shape=(len(clips), *shape)
        )
        for split, clips in splits.items()
    }
    jobs = [(split, splits[split], outputs[split]) for split in SPLITS]
    good, skipped, resampled = _featurise_into(
        root, jobs, params=params, strict=strict, skip_bad=skip_bad, workers=workers, progress=progress
    )
    labels = {}
    for split in SPLITS:
        outputs[split].flush()
        labels[split] = np.array([c.label for c in splits[split]], dtype=np.int64)[good[split]]
        if not good[split].all():
            del outputs[split]
            outputs[split] = _compact(_feature_paths(tmp, split)[0], good[split])
        np.save(_feature_paths(tmp, split)[1], labels[split])
    if len(labels["train"]) == 0:
        raise ValueError(f"{root}: the training split is empty; nothing to compute normalisation statistics from")
    mean, std = normalisation_stats(outputs["train"])
    if views:
        train_clips = [clip for clip, ok in zip(splits["train"], good["train"], strict=True) if ok]
        outputs["views"] = _featurise_views(
            root, tmp, train_clips, augment, views, seed, backgrounds, params=params, workers=workers, progress=progress
        )
    for features in outputs.values():
        flat = features.reshape(-1, *shape)
        for start in range(0, flat.shape[0], 1024):
            flat[start : start + 1024] = normalise(flat[start : start + 1024], mean=mean, std=std)
        features.flush()
    del outputs
    return {
        "class_names": list(CLASS_NAMES),
        "sizes": {split: int(len(labels[split])) for split in SPLITS},
        "counts": {split: np.bincount(labels[split], minlength=len(CLASS_NAMES)).tolist() for split in SPLITS},
        "normalisation": {"mean": mean.tolist(), "std": std.tolist()},
        "resampled": resampled,
        "_skipped": skipped,
    }


def _featurise_views(
    root: Path,
    tmp: Path,
    clips: list[Clip],
    augment: AudioAugment,
    views: int,
    seed: int,
    backgrounds: Sequence[str],
    *,
    params: FeatureParams,
    workers: int,
    progress: bool,
) -> np.memmap:
    """``views`` augmented featurisations of ``clips`` (raw, not yet normalised) in ``tmp``'s views file; clip i of
    view v draws its chain from ``default_rng([seed, 41, v, i])``."""
    rooms = simulated_rooms(augment, seed)
    noises = [load_clip(root, Clip(path, -1))[0] for path in backgrounds] if augment.noise is not None else []
    shape = (views, len(clips), params.n_frames, params.n_features)
    out = np.lib.format.open_memmap(tmp / VIEWS_FILE, mode="w+", dtype=np.float32, shape=shape)

    def transform_of(view: int) -> Transform:
        def transform(audio: np.ndarray, i: int) -> np.ndarray:
            return augment_clip(audio, np.random.default_rng([seed, 41, view, i]), augment, rooms, noises)

        return transform

    jobs = [(f"view{v}", clips, out[v]) for v in range(views)]
    transforms = {f"view{v}": transform_of(v) for v in range(views)}
    _featurise_into(
        root, jobs, params=params, strict=False, skip_bad=False, workers=workers, progress=progress,
        transforms=transforms, desc="augmented views",
    )
    return out


def _read_metadata(directory: Path) -> dict:
    path = directory / METADATA
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no feature cache here (an unfinished or interrupted build has no {METADATA}); "
            "make one with `pe-actors data prepare --gsc-dir DIR --out DIR`"
        )
    try:
        metadata = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is unreadable or not JSON: {error}; rebuild with `pe-actors data prepare`") from None
    required = {"sizes": dict, "class_names": list, "synthetic": bool}
    for key, kind in required.items():
        if not isinstance(metadata, dict) or not isinstance(metadata.get(key), kind):
            raise ValueError(
                f"{path} lacks {key!r} (a {kind.__name__}) of a feature cache; rebuild with `pe-actors data prepare`"
            )
    missing = [split for split in SPLITS if not isinstance(metadata["sizes"].get(split), int)]
    if missing:
        raise ValueError(f"{path}: 'sizes' lacks the clip count of split(s) {missing}; rebuild the cache")
    return metadata


def _open_array(path: Path, mmap: bool) -> np.ndarray:
    """``np.load`` of a cache array; a missing, truncated or corrupt file raises a ValueError naming it."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{path} is missing from the feature cache; rebuild with `pe-actors data prepare`") from None
    except Exception as error:  # numpy's header parser and mmap fail in many ways on a damaged file
        raise ValueError(
            f"{path} is truncated or corrupt ({type(error).__name__}: {error}); rebuild with `pe-actors data prepare`"
        ) from None


def load_prepared(path: Path | str) -> PreparedData:
    """Open a prepared cache: features memory-mapped read-only, labels in memory, metadata as a dict.

    Raises FileNotFoundError when ``path`` holds no complete cache and ValueError when its arrays do not match
    its metadata.
    """
    directory = Path(path)
    metadata = _read_metadata(directory)
    splits = {}
    for split in SPLITS:
        features_path, labels_path = _feature_paths(directory, split)
        features = _open_array(features_path, mmap=True)
        labels = _open_array(labels_path, mmap=False)
        expected = metadata["sizes"][split]
        if features.shape[0] != expected or labels.shape != (expected,) or features.dtype != np.float32:
            raise ValueError(
                f"{features_path}: shape {features.shape} {features.dtype} and labels {labels.shape} do not match "
                f"the {expected} clips in {directory / METADATA}; rebuild with `pe-actors data prepare`"
            )
        splits[split] = (features, labels.astype(np.int64, copy=False))
    views = None
    if metadata.get("views"):
        views = _open_array(directory / VIEWS_FILE, mmap=True)
        expected = (metadata["views"], *splits["train"][0].shape)
        if views.shape != expected or views.dtype != np.float32:
            raise ValueError(
                f"{directory / VIEWS_FILE}: shape {views.shape} {views.dtype}, but {directory / METADATA} records "
                f"{expected} float32; rebuild with `pe-actors data prepare`"
            )
    return PreparedData(
        splits=splits,
        class_names=list(metadata["class_names"]),
        synthetic=bool(metadata["synthetic"]),
        metadata=metadata,
        train_views=views,
    )


def featurize_folder(
    gsc_dir: Path | str,
    metadata: dict,
    *,
    split: str = "test",
    clip_list: Path | str | None = None,
    per_class: int | None = None,
    skip_bad: bool = False,
    strict: bool = False,
    workers: int = 1,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Features float32 (N, 100, 80) and labels int64 (N,) of a raw GSC-layout folder, as a cache would hold them.

    Uses the feature parameters, normalisation, unknown fraction and seed of a prepared cache's ``metadata``.
    The clips are the folder's ``split`` (``test``: its ``testing_list.txt``; ``train``: the clips in neither
    list; each with silence crops) when it has split lists, otherwise (``test`` only) every WAV of its word
    folders (``_silence_`` -> silence, non-keywords -> unknown). With ``clip_list``, a file of clip paths relative
    to the folder, they are the listed clips instead, the first ``per_class`` of each class in list order.
    """
    if list(metadata.get("class_names", [])) != CLASS_NAMES:
        raise ValueError(f"metadata class names {metadata.get('class_names')} differ from {CLASS_NAMES}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    params = FeatureParams.from_dict(metadata["feature_params"])
    index = scan(gsc_dir)
    if clip_list is not None:
        clips = listed_clips(index, Path(clip_list), per_class)
    elif index.lists["test"] is not None:
        splits, _ = split_clips(
            index,
            unknown_fraction=metadata.get("unknown_fraction", 1.0),
            seed=metadata.get("seed", 0),
            skip_bad=skip_bad,
        )
        clips = splits[split]
    elif split == "test":
        clips = all_clips(index)
    else:
        raise FileNotFoundError(
            f"{index.root / SPLIT_LISTS['test']}: missing; the training (adaptation) clips of a folder are those in "
            "neither split list, so it needs testing_list.txt (and validation_list.txt), or give a clip list"
        )
    if not clips:
        raise ValueError(f"{index.root}: no clips in its {split} split")
    out = np.zeros((len(clips), params.n_frames, params.n_features), dtype=np.float32)
    good, skipped, resampled = _featurise_into(
        index.root,
        [("clips", clips, out)],
        params=params,
        strict=strict,
        skip_bad=skip_bad,
        workers=workers,
        progress=progress,
    )
    if skipped or resampled:
        # Reported once per folder: clips that were changed or left out must not pass without notice.
        names = ", ".join(f"{path} ({problem})" for path, problem in skipped[:3])
        warnings.warn(
            f"{index.root}: of {len(clips)} clips, {resampled} resampled to {SAMPLE_RATE} Hz and {len(skipped)} "
            f"left out as unusable{': ' + names if names else ''}{' ...' if len(skipped) > 3 else ''}",
            stacklevel=2,
        )
    keep = good["clips"]
    mean = np.asarray(metadata["normalisation"]["mean"])
    std = np.asarray(metadata["normalisation"]["std"])
    labels = np.array([c.label for c in clips], dtype=np.int64)[keep]
    return normalise(out[keep], mean=mean, std=std), labels


def listed_clips(index: GscIndex, clip_list: Path, per_class: int | None = None) -> list[Clip]:
    """The clips a list file names (paths relative to the folder, one per line), labelled by their word folder,
    keeping the first ``per_class`` of each class in list order (all when None); a ValueError or
    FileNotFoundError names the list, the line and what is wrong."""
    if not clip_list.is_file():
        raise FileNotFoundError(f"{clip_list}: no such clip list (one WAV path relative to {index.root} per line)")
    present = {path for wavs in index.words.values() for path in wavs}
    clips: list[Clip] = []
    taken: dict[int, int] = {}
    try:
        text = clip_list.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{clip_list}: not a text file of clip paths ({error})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry:
            continue
        if entry not in present:
            raise FileNotFoundError(f"{clip_list}, line {number}: {index.root / entry} is not a WAV of the folder")
        label = label_of(entry.split("/")[0])
        if per_class is not None and taken.get(label, 0) >= per_class:
            continue
        taken[label] = taken.get(label, 0) + 1
        clips.append(Clip(path=entry, label=label))
    if not clips:
        raise ValueError(f"{clip_list}: lists no clips")
    return clips


def cache_bytes(path: Path | str) -> int:
    """Bytes on disk of a prepared cache directory."""
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())
