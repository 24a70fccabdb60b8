"""How far a model trained on the stand-in carries to voices it never heard (docs/data.md, "Leave-voice-out").

Trains the gsc network with e-prop on the replay engine (the main recipe, --epochs of it) for every seed and every
augmentation setting, then evaluates each best-validation checkpoint on the stand-in's own test split and on the
leave-voice-out folder (``pe-actors data synth --condition voices``), per voice and in all, and writes one CSV row
per run and a summary with the mean and standard deviation over seeds:

    .venv/bin/python scripts/leave_voice_out.py --seeds 0,1,2,3,4 --augment none --augment specaugment \\
        --out docs/data/leave-voice-out.csv

Runs go to --runs (reused when their summary exists); the stand-in and the voices folder to --cache.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import numpy as np

import pe_actors as pa
from pe_actors.run.data import recorded_dataset
from pe_actors_datasets.cache import featurize_folder
from pe_actors_datasets.conditions import synthesize_condition
from pe_actors_datasets.speech_commands import scan, split_clips


def voice_of_clips(folder: Path) -> list[str]:
    """The voice of each clip ``featurize_folder`` returns for ``folder``'s test split, in its order (silence for
    the background crops)."""
    speakers = {s["id"]: s for s in json.loads((folder / "speakers.json").read_text())}
    clips = split_clips(scan(folder), seed=0)[0]["test"]
    names = []
    for clip in clips:
        if clip.offset >= 0:
            names.append("silence")
            continue
        speaker = speakers[Path(clip.path).name.split("_nohash_")[0]]
        names.append(f"{speaker['engine']} {speaker['voice'].split('+')[0]}")
    return names


def evaluate_run(run: Path, voices: Path, voice_names: list[str]) -> dict[str, float]:
    """Test and leave-voice-out accuracy (in all and per voice) of ``run``'s best-validation checkpoint."""
    model = pa.load(run)
    dataset, _ = recorded_dataset(model.record, model.config)
    x, labels = dataset.splits.test
    row = {"test": float(model.evaluate(x, labels)["accuracy"])}
    x, labels = featurize_folder(voices, model.record.data_metadata, progress=False)
    right = model.predict(x).argmax(axis=1) == labels
    row["leave_voice_out"] = float(right.mean())
    for name in sorted(set(voice_names)):
        row[f"voice: {name}"] = float(right[np.array(voice_names) == name].mean())
    return row


@click.command()
@click.option("--seeds", default="0,1,2,3,4", show_default=True, help="Training seeds, comma-separated.")
@click.option("--augment", "settings", multiple=True, default=("none", "specaugment"), show_default=True,
              help="An augmentation setting to train with (pe-actors train --augment); repeat for several.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True, help="Epochs per run.")
@click.option("--cache", type=click.Path(path_type=Path), default=Path("cache/standin"), show_default=True,
              help="Where the stand-in and the voices folder are built once.")
@click.option("--runs", type=click.Path(path_type=Path), default=Path("runs/leave-voice-out"), show_default=True,
              help="Run directories, one per setting and seed.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("leave-voice-out.csv"), show_default=True,
              help="The CSV of every run; a summary CSV is written beside it (-summary.csv).")
def main(seeds: str, settings: tuple[str, ...], epochs: int, cache: Path, runs: Path, out: Path) -> None:
    """Train every (setting, seed), evaluate on the stand-in's test split and the leave-voice-out set."""
    voices = cache / "voices-seed0"
    if not (voices / "speakers.json").is_file():
        synthesize_condition(voices, "voices", seed=0, progress=False)
    voice_names = voice_of_clips(voices)
    rows = []
    for setting in settings:
        for seed in (int(s) for s in seeds.split(",")):
            run = runs / f"{setting.replace(',', '+')}-s{seed}"
            if not (run / "summary.json").is_file():
                pa.train(engine="replay", epochs=epochs, seed=seed, augment=setting, cache=cache, out=run,
                         progress=False)
            row = {"augment": setting, "seed": seed, "epochs": epochs, **evaluate_run(run, voices, voice_names)}
            row["gap"] = row["test"] - row["leave_voice_out"]
            rows.append(row)
            click.echo(f"{setting:24s} seed {seed}: test {100 * row['test']:.1f} %, leave-voice-out "
                       f"{100 * row['leave_voice_out']:.1f} %, gap {100 * row['gap']:.1f} points")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = []
    for setting in settings:
        mine = [r for r in rows if r["augment"] == setting]
        entry: dict = {"augment": setting, "runs": len(mine)}
        for key in (k for k in rows[0] if k not in ("augment", "seed", "epochs")):
            values = 100 * np.array([r[key] for r in mine])
            entry[f"{key} mean"], entry[f"{key} sd"] = round(float(values.mean()), 2), round(float(values.std()), 2)
        entry["largest gap"] = round(float(100 * max(r["gap"] for r in mine)), 2)
        summary.append(entry)
        click.echo(f"{setting}: test {entry['test mean']:.1f} +- {entry['test sd']:.1f} %, leave-voice-out "
                   f"{entry['leave_voice_out mean']:.1f} +- {entry['leave_voice_out sd']:.1f} %, gap "
                   f"{entry['gap mean']:.1f} points (largest {entry['largest gap']:.1f})")
    with open(out.with_name(out.stem + "-summary.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)


if __name__ == "__main__":
    main()
