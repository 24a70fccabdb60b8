"""Bit-identity check for restructurings: run a fixed set of short runs through the command line and write a
digest of everything they compute (per-batch losses and accuracies, per-epoch records, the final and adapted
weights, ADAM moments and device state), so that two commits can be compared bit for bit.

    .venv/bin/python scripts/reference_runs.py --out /tmp/ref-after.json [--work DIR]
    .venv/bin/python scripts/reference_runs.py --compare /tmp/ref-before.json /tmp/ref-after.json
    .venv/bin/python scripts/reference_runs.py --digest-only --work DIR --out FILE   (runs already in DIR)

Time stamps, durations and throughputs are left out: they differ between any two runs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: Fields of metrics.jsonl and curves.json that measure time rather than what the run computed.
TIMING = {
    "time", "unix_time", "seconds", "samples_per_s", "wall_s", "step_ms", "barrier_wait_ms", "pe_timing", "batch_s",
    "eval_seconds", "startup",
}

SMALL = ["--standin-size", "small", "--no-progress", "--epochs", "2"]
RUNS = {
    "eprop-replay": ["train", "--engine", "replay", "--max-samples", "128", *SMALL],
    "eprop-inprocess": ["train", "--engine", "inprocess", "--pes", "3", "--sub-batch", "8", "--max-samples", "32",
                        *SMALL],
    "eprop-actors": ["train", "--engine", "actors", "--pes", "3", "--groups", "2", "--sub-batch", "4",
                     "--max-samples", "16", *SMALL],
    "bptt": ["train", "--rule", "bptt", "--max-samples", "64", *SMALL],
    "pcm-replay": ["train", "--engine", "replay", "--synapses", "pcm", "--bits", "4", "--max-samples", "64", *SMALL],
    "eventprop-offchip": ["train", "--rule", "eventprop", "--max-samples", "256", "--epochs", "2", "--no-progress"],
    "eventprop-inprocess": ["train", "--rule", "eventprop", "--engine", "inprocess", "--pes", "2", "--max-samples",
                            "32", "--epochs", "1", "--no-progress"],
}


def strip(value):
    """``value`` without the timing fields (and throughputs, ``*_per_s``), recursively."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in TIMING and not k.endswith("_per_s")}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def digest_arrays(folder: Path) -> dict[str, str]:
    """sha256 of every .npy array in ``folder`` (its dtype, shape and bytes)."""
    out = {}
    for path in sorted(folder.rglob("*.npy")):
        array = np.load(path, allow_pickle=False)
        content = f"{array.dtype}{array.shape}".encode() + array.tobytes()
        out[str(path.relative_to(folder))] = hashlib.sha256(content).hexdigest()[:16]
    return out


def digest_run(run: Path) -> dict:
    result = {}
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        lines = [strip(json.loads(line)) for line in metrics.read_text().splitlines() if line.strip()]
        result["metrics"] = hashlib.sha256(json.dumps(lines, sort_keys=True).encode()).hexdigest()[:16]
    for name in ("curves.json", "adaptation.json", "summary.json"):
        if (run / name).exists():
            data = strip(json.loads((run / name).read_text()))
            result[name] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    checkpoints = sorted(p for p in (run / "checkpoints").glob("ckpt-*") if p.is_dir())
    for checkpoint in checkpoints:
        result[checkpoint.name] = digest_arrays(checkpoint)
    return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["--compare"]:
        before, after = (json.loads(Path(p).read_text()) for p in argv[1:3])
        differ = [name for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]
        for name in sorted(set(before) | set(after)):
            print(f"{name:24s} {'identical' if name not in differ else 'DIFFERS'}")
        return 1 if differ else 0
    out = Path(argv[argv.index("--out") + 1])
    work = Path(argv[argv.index("--work") + 1]) if "--work" in argv else Path(tempfile.mkdtemp(prefix="ref-runs-"))
    if "--digest-only" in argv:  # digest the runs already in --work
        digests = {name: digest_run(work / name) for name in [*RUNS, "adapt"]}
        out.write_text(json.dumps(digests, indent=1, sort_keys=True))
        return 0
    cli = [str(Path(sys.executable).parent / "pe-actors")]
    cache = work / "standin"
    digests = {}
    for name, args in RUNS.items():
        extra = ["--cache", str(cache)] if "--standin-size" in args else []
        done = subprocess.run([*cli, *args, *extra, "--out", str(work / name)], capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            raise SystemExit(f"{name} failed")
        digests[name] = digest_run(work / name)
        print(name, "done", flush=True)
    features = cache / "features-synth-small-seed0"
    adapt = [*cli, "adapt", "--checkpoint", str(work / "eprop-replay"), "--data", str(features),
             "--engine", "inprocess", "--pes", "3", "--samples", "12", "--eval-every", "6", "--no-progress",
             "--out", str(work / "adapt")]
    done = subprocess.run(adapt, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit("adapt failed")
    digests["adapt"] = digest_run(work / "adapt")
    out.write_text(json.dumps(digests, indent=1, sort_keys=True))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
