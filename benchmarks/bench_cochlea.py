"""The spiking cochlea (``pe_actors_datasets.cochlea``) against lauscher, the model's own implementation, in the
same run: seconds per clip of each on the same speech-like clip with the same seed (their spikes are checked
equal), and the cochlea alone on 1-s clips as the stand-in's are, with its once-per-length transfer function timed
apart. Both on one core: lauscher's process pool is given one job (``--jobs 1`` of its command line). Prints the
seconds and the ratio, and writes ``benchmarks/results/cochlea.json``.

    .venv/bin/python benchmarks/bench_cochlea.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from pe_actors_datasets.cochlea import CHANNELS, cochlea_spikes, membrane_transfer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cochlea.json"
FS = 16000


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced sound: harmonics of a gliding pitch under formant-like envelopes, with a little noise."""
    t = np.arange(int(FS * seconds)) / FS
    rng = np.random.default_rng(seed)
    pitch = 120 + 40 * t / seconds
    phase = 2 * np.pi * np.cumsum(pitch) / FS
    wave = sum(np.sin(k * phase) * np.exp(-((k * pitch - 700) / 400) ** 2) for k in range(1, 30))
    return wave * np.hanning(len(t)) + 0.02 * rng.normal(size=len(t))


def timed(call, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.25, help="Clip length compared with lauscher (0.25).")
    parser.add_argument("--quick", action="store_true", help="A 0.1-s clip against lauscher, one repeat.")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS}).")
    args = parser.parse_args()
    seconds, repeats = (0.1, 1) if args.quick else (args.seconds, 2)
    from lauscher.audiowaves import MonoAudioWave
    from lauscher.helpers import CommandLineArguments
    from lauscher.transformations.wave2spike import Wave2Spike

    CommandLineArguments().num_concurrent_jobs = 1

    clip = speech_like(seconds)
    cochlea_spikes(clip.copy(), FS, seed=3)  # compiles the kernels and computes this length's transfer function
    ours, (times, units) = timed(lambda: cochlea_spikes(clip.copy(), FS, seed=3), repeats)

    def reference():
        np.random.seed(3)
        return MonoAudioWave(clip.copy(), FS).transform(Wave2Spike(num_channels=CHANNELS))

    theirs, spikes = timed(reference, 1)
    same = bool(np.array_equal(units, spikes.spike_labels.astype(int)) and np.allclose(times, spikes.spike_times))
    second = speech_like(1.0, seed=1)
    membrane_transfer.cache_clear()
    start = time.perf_counter()
    membrane_transfer(len(second), FS)
    transfer = time.perf_counter() - start
    one_second, (times_1s, _) = timed(lambda: cochlea_spikes(second.copy(), FS, seed=0), repeats)
    rows = {
        "clip_s": seconds, "lauscher_s": theirs, "cochlea_s": ours, "speedup": theirs / ours, "same_spikes": same,
        "spikes": int(len(times)), "cochlea_1s_clip_s": one_second, "transfer_once_per_length_s": transfer,
        "spikes_1s_clip": int(len(times_1s)), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    print(f"{seconds:g}-s clip: lauscher {theirs:.2f} s, cochlea {ours:.3f} s ({theirs / ours:.0f}x), "
          f"same spikes: {same} ({len(times)} spikes)")
    print(f"1-s clip: cochlea {one_second:.2f} s ({len(times_1s)} spikes); transfer function once per length "
          f"{transfer:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
