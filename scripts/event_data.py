"""What both rules reach on synthetic spiking digits (docs/eventprop.md, "Sequences"; docs/data.md).

For every data seed, writes the synthetic set in the SHD release's layout (20 words, 10 speakers, the last 2 held
out as the test file, about 4,500 events a sample), then trains each rule on it for every training seed with the
settings given, through ``pe_actors.train(shd_dir=...)`` as a user would: e-prop with its shd network on the replay
engine, EventProp with its recurrent shd network off-chip. Writes one CSV row per run (best-validation epoch's
test accuracy on the held-out speakers, the last epoch's, epochs, seconds) and a figure of the validation curves.
Rows are added to the CSV (a run already in it is replaced), so settings that differ per data set take one call
each:

    .venv/bin/python scripts/event_data.py --data-seeds 0 --seeds 0 --rules eventprop \\
        --eventprop "dt=2,sizes=700,128,20,epochs=40" --out docs/data/event-data.csv
    .venv/bin/python scripts/event_data.py --data-seeds 0,1 --seeds 0 --rules eprop --eprop "epochs=10" \\
        --out docs/data/event-data.csv

Runs go to --runs, named by rule, data seed, seed and a digest of the settings (reused when their summary exists);
the sets and their caches to --cache.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import click

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pe_actors as pa  # noqa: E402
from pe_actors_datasets.synthetic_shd import write_shd_like  # noqa: E402


def settings(text: str) -> dict[str, object]:
    """``key=value,...`` (a value may hold commas up to the next ``key=``) as keyword arguments of pa.train."""
    out: dict[str, object] = {}
    key = None
    for part in text.split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
        elif key is not None:
            out[key] = f"{out[key]},{part.strip()}"
    return {k: _number(v) for k, v in out.items()}


def _number(value: object) -> object:
    for kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            pass
    return value


def history(run: Path) -> list[dict]:
    """The run's epoch records."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("kind") == "epoch"]


def train_seconds(records: list[dict]) -> float:
    """Seconds spent training (evaluation left out): each epoch's samples over its samples per second."""
    samples = [r["global_samples"] for r in records]
    return sum((n - m) / r["train_samples_per_s"] for n, m, r in zip(samples, [0, *samples[:-1]], records,
                                                                    strict=True))


@click.command()
@click.option("--data-seeds", default="0,1", show_default=True, help="Seeds of the synthetic sets.")
@click.option("--seeds", default="0", show_default=True, help="Training seeds.")
@click.option("--eprop", "eprop", default="epochs=10", show_default=True, help="e-prop's settings, key=value,...")
@click.option("--eventprop", "eventprop", default="dt=2,sizes=700,128,20,dtype=float32,epochs=30",
              show_default=True, help="EventProp's settings, key=value,...")
@click.option("--rules", default="eprop,eventprop", show_default=True, help="Which rules to run.")
@click.option("--runs", type=click.Path(path_type=Path), default=Path("runs/event-data"), show_default=True)
@click.option("--cache", type=click.Path(path_type=Path), default=Path("cache/event-data"), show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs/data/event-data.csv"), show_default=True)
def main(data_seeds: str, seeds: str, eprop: str, eventprop: str, rules: str, runs: Path, cache: Path,
         out: Path) -> None:
    """Train both rules on synthetic spiking digits; write the CSV and the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    given = {"eprop": {"engine": "replay", **settings(eprop)}, "eventprop": {"engine": "offchip",
                                                                               **settings(eventprop)}}
    rows = []
    for data_seed in (int(s) for s in data_seeds.split(",")):
        folder = cache / f"shd-like-{data_seed}"
        if not (folder / "shd_test.h5").is_file():
            write_shd_like(folder, seed=data_seed)
        for name in rules.split(","):
            for seed in (int(s) for s in seeds.split(",")):
                digest = hashlib.sha256(json.dumps(given[name], sort_keys=True).encode()).hexdigest()[:8]
                run = runs / f"{name}-data{data_seed}-seed{seed}-{digest}"
                if not (run / "summary.json").is_file():
                    pa.train(rule=name, shd_dir=folder, seed=seed, cache=cache / "events", out=run, progress=False,
                             dead_epochs=0, **given[name])
                records = history(run)
                best = max(reversed(records), key=lambda r: r["validation_accuracy"])
                rows.append({"run": run.name, "rule": name, "data_seed": data_seed, "seed": seed,
                             "epochs": len(records),
                             "best_epoch": best["epoch"], "test_at_best": round(best["test_accuracy"], 4),
                             "test_last": round(records[-1]["test_accuracy"], 4),
                             "train_seconds": round(train_seconds(records), 1),
                             "settings": json.dumps(given[name], sort_keys=True)})
                print(rows[-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():
        with open(out, newline="") as handle:
            ours = {row["run"] for row in rows}
            rows = [row for row in csv.DictReader(handle) if row["run"] not in ours] + rows
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[-1]))
        writer.writeheader()
        writer.writerows(rows)
    figure, axis = plt.subplots(figsize=(7, 4))
    for row in rows:
        values = [100 * r["validation_accuracy"] for r in history(runs / row["run"])]
        given = json.loads(row["settings"])
        shown = "".join(f", {key} {given[key]}" for key in ("dt", "lr") if key in given)
        axis.plot(range(1, len(values) + 1), values, ls="-" if row["rule"] == "eventprop" else "--",
                  label=f"{row['rule']}{shown}, set {row['data_seed']}, seed {row['seed']}")
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation accuracy (%)")
    axis.set_title("Synthetic spiking digits (20 words, 4,500 events a sample)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out.with_suffix(".png"), dpi=120)
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
