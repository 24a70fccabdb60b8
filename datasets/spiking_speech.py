"""Spiking speech: a folder in the Google Speech Commands layout (the offline stand-in, or a user's copy) turned
into spikes through the cochlea model of SHD and SSC (:mod:`pe_actors_datasets.cochlea`) and written in the SHD
release's layout (docs/data.md, "Spiking speech").

The clips are the twelve classes of :mod:`pe_actors_datasets.speech_commands` (silence crops included), each
fitted to 1 s. The training and validation clips go into ``shd_train.h5`` (a run carves its own validation split
from it, as from the release), the test clips into ``shd_test.h5``, so the test speakers stay held out. Each
clip's fibres draw from a generator seeded by (seed, split, clip index): the same seed writes the same spikes
whatever the number of workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pe_actors_datasets.cochlea import cochlea_spikes
from pe_actors_datasets.events import write_shd
from pe_actors_datasets.features import SAMPLE_RATE, fit_clip
from pe_actors_datasets.speech_commands import Clip, load_clip, scan, split_clips

#: The release's files and the clip splits each holds.
FILES = {"shd_train.h5": ("train", "validation"), "shd_test.h5": ("test",)}


@dataclass(frozen=True)
class Conversion:
    """What :func:`write_spiking_speech` wrote: the folder, clips per file, and the seconds it took."""

    folder: Path
    clips: dict[str, int]
    seconds: float

    @property
    def seconds_per_clip(self) -> float:
        """Wall-clock seconds per clip (all workers together)."""
        return self.seconds / max(1, sum(self.clips.values()))


def _spikes(job: tuple[str, Clip, int]) -> tuple[np.ndarray, np.ndarray]:
    from threadpoolctl import threadpool_limits

    root, clip, seed = job
    with threadpool_limits(1):  # one core per worker: the FFTs and draws are per clip
        audio, _ = load_clip(root, clip)
        times, units = cochlea_spikes(fit_clip(audio), SAMPLE_RATE, seed=seed)
    return times.astype(np.float32), units.astype(np.uint16)


def _jobs(root: Path, clips: list[tuple[int, int, Clip]], seed: int) -> Iterator[tuple[str, Clip, int]]:
    for split_number, index, clip in clips:
        yield str(root), clip, int(np.random.SeedSequence([seed, split_number, index]).generate_state(1)[0])


def write_spiking_speech(gsc_dir: Path | str, out: Path | str, *, seed: int = 0, workers: int = 1,
                         max_clips: int | None = None, progress: bool = True) -> Conversion:
    """Convert the GSC-layout folder ``gsc_dir`` into ``out/shd_train.h5`` and ``out/shd_test.h5`` (module
    docstring) with ``workers`` processes; ``max_clips`` keeps that many clips of each split, spread evenly over
    it (a quick look). Returns what was written and how long it took."""
    from tqdm import tqdm

    index = scan(gsc_dir)
    splits, _ = split_clips(index, seed=seed)
    chosen = {}
    for number, split in enumerate(("train", "validation", "test")):
        clips = splits[split]
        keep = range(len(clips)) if max_clips is None or max_clips >= len(clips) else \
            np.unique(np.linspace(0, len(clips) - 1, max_clips).round().astype(int))
        chosen[split] = [(number, int(k), clips[k]) for k in keep]
    files = {name: [job for split in parts for job in chosen[split]] for name, parts in FILES.items()}
    out = Path(out)
    start = time.perf_counter()
    total = sum(len(clips) for clips in files.values())
    bar = tqdm(total=total, desc="spiking speech", unit="clip", disable=not progress or not os.isatty(2))
    spikes: list[tuple[np.ndarray, np.ndarray]] = []
    # One pool for every file: each worker computes the membrane's transfer function once.
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for result in pool.map(_spikes, _jobs(index.root, [job for clips in files.values() for job in clips], seed),
                               chunksize=4):
            spikes.append(result)
            bar.update()
    bar.close()
    written, first = {}, 0
    for name, clips in files.items():
        part = spikes[first: first + len(clips)]
        first += len(clips)
        write_shd(out / name, [t for t, _ in part], [u for _, u in part],
                  np.array([clip.label for _, _, clip in clips], np.int64))
        written[name] = len(clips)
    return Conversion(out, written, time.perf_counter() - start)
