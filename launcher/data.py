"""``pe-actors data``: prepare Google Speech Commands features, synthesise the offline stand-in, write Yin-Yang,
turn speech into spikes, write synthetic spiking digits."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pe_actors_datasets.augment import AUDIO_AUGMENTATIONS, AudioAugment
from pe_actors_datasets.cache import SYNTHETIC_MARKER
from pe_actors_datasets.cache import prepare as prepare_cache
from pe_actors_datasets.conditions import CONDITIONS, synthesize_condition
from pe_actors_datasets.speech_commands import BadClipError
from pe_actors_datasets.synth import SIZES, synthesize
from pe_actors_datasets.yinyang import write_yinyang
from pe_actors_launcher.options import FiniteFloatRange

#: Data building's progress bar (the data package never writes one when stderr is not a terminal).
no_progress_option = click.option(
    "--no-progress",
    is_flag=True,
    help="Hide the progress bar (it is hidden anyway when stderr is not a terminal).",
)


@click.group("data")
def data() -> None:
    """Data sets (docs/data.md): GSC feature cache, synthetic stand-in, Yin-Yang, spiking speech, synthetic
    spiking digits."""


@data.command("prepare")
@click.option(
    "--gsc-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Root of a Google Speech Commands copy (v1 or v2) or of a stand-in made by `pe-actors data synth`.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the feature cache (reused at once if its inputs and parameters are unchanged).",
)
@click.option("--skip-bad", is_flag=True, help="Leave out unreadable, empty, stereo or NaN clips and report them.")
@click.option("--strict", is_flag=True, help="Refuse WAVs that are not 16 kHz instead of resampling them.")
@click.option(
    "--unknown-fraction",
    type=click.FloatRange(min=0.0, max=1.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Share of the non-keyword ('unknown') clips kept per split, drawn with --seed.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the silence crops and unknown subsample.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Processes computing features (BLAS pinned to one thread each).",
)
@click.option(
    "--augment",
    default="none",
    show_default=True,
    help=f"Audio augmentations of the training clips, comma-separated, of {', '.join(AUDIO_AUGMENTATIONS)} "
    "(docs/data.md, 'Augmentation'); with --views V each training clip is featurised V more times through a random "
    "chain of them, and `pe-actors train --data OUT --augment ...` shows each clip clean or as one of its views.",
)
@click.option(
    "--views",
    type=click.IntRange(min=0, max=64),
    default=4,
    show_default=True,
    help="Augmented views per training clip (with --augment).",
)
@no_progress_option
def prepare(
    gsc_dir: Path, out: Path, skip_bad: bool, strict: bool, unknown_fraction: float, seed: int, workers: int,
    augment: str, views: int, no_progress: bool,
) -> None:
    """Featurise every split once into memory-mappable arrays plus metadata.json (log-mel + delta, 100 x 80)."""
    names = [name.strip() for name in augment.split(",") if name.strip() not in ("", "none")]
    try:
        chain = AudioAugment.named(names) if names else None
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--augment") from None
    try:
        result = prepare_cache(
            gsc_dir,
            out,
            unknown_fraction=unknown_fraction,
            seed=seed,
            skip_bad=skip_bad,
            strict=strict,
            workers=workers,
            progress=not no_progress,
            on_build=lambda: click.echo(f"building feature cache {out} from {gsc_dir}", err=True),
            augment=chain,
            views=views if chain else 0,
        )
    except (ValueError, FileNotFoundError) as err:
        # The data package names the file and the problem; this command's own way out is --skip-bad.
        hint = "; or pass --skip-bad to leave such clips out" if isinstance(err, BadClipError) and not skip_bad else ""
        raise click.ClickException(f"{err}{hint}\nnothing was written to {out}") from err
    state = "reused" if result.reused else f"built in {result.seconds:.1f} s"
    sizes = ", ".join(f"{split} {n}" for split, n in result.counts.items())
    extra = f"; {views} augmented views of each training clip ({', '.join(chain.names)})" if chain and views else ""
    click.echo(f"{result.path}: {state}; clips: {sizes}{extra}")
    if result.resampled:
        click.echo(f"resampled {result.resampled} files to 16 kHz (use --strict to refuse them)")
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} bad files:")
        for path, problem in result.skipped:
            click.echo(f"  {path}: {problem}")


@data.command("synth")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the stand-in to (GSC layout; an older stand-in there is replaced).",
)
@click.option("--small", is_flag=True, help=f"Write the small size for tests ({SIZES['small'].speakers} speakers).")
@click.option(
    "--condition",
    type=click.Choice(CONDITIONS),
    default=None,
    help="Write a new condition for `pe-actors adapt` instead of the stand-in: speaker (one new voice no split "
    "uses, 30 adaptation and 12 evaluation takes per keyword), slt (the same for flite's female voice slt, which "
    "the stand-in holds out), noise (background music, a noise type the "
    "stand-in lacks, at -3 to 3 dB SNR; 8 adaptation and 4 evaluation speakers) or voices (the leave-voice-out "
    "set: 40 speakers of the voices the stand-in leaves out, every clip for evaluation with `pe-actors evaluate "
    "--gsc-dir`). See docs/adaptation.md and docs/data.md.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of speakers, offsets, noise and splits.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Processes synthesising clips."
)
@no_progress_option
def synth(out: Path, small: bool, condition: str | None, seed: int, workers: int, no_progress: bool) -> None:
    """Synthesise a GSC-layout stand-in with espeak-ng and flite, speakers disjoint across splits (synthetic), or
    with --condition a new condition to adapt a trained network to."""
    try:
        if condition is not None:
            if small:
                raise click.BadParameter("--small sizes the stand-in, not a condition", param_hint="--small")
            path = synthesize_condition(out, condition, seed=seed, workers=workers, progress=not no_progress)
            clips = json.loads((path / SYNTHETIC_MARKER).read_text())
            click.echo(
                f"{path}: new condition {condition!r} written, {clips['clips']} clips of which "
                f"{clips['held_out_clips']} are held out for evaluation (testing_list.txt); synthetic"
            )
            return
        path = synthesize(
            out, size="small" if small else "default", seed=seed, workers=workers, progress=not no_progress
        )
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{path}: synthetic stand-in written (results on it are labelled synthetic)")


@data.command("yinyang")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for <split>_features.npy and <split>_labels.npy (train 5000, validation 1000, test 1000).",
)
@click.option(
    "--rotate",
    type=FiniteFloatRange(min=-180, max=180),
    default=0.0,
    show_default=True,
    help="Rotate every point by this many degrees (counter-clockwise) about the disc's centre, the labels kept: "
    "Yin-Yang under an input shift, a new condition for `pe-actors adapt`.",
)
def yinyang(out: Path, rotate: float) -> None:
    """Write the Yin-Yang splits with the published seeds (42, 41, 40)."""
    for path in write_yinyang(out, rotate_deg=rotate):
        click.echo(str(path))


@data.command("spiking")
@click.option(
    "--gsc-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="A folder in the Google Speech Commands layout: the offline stand-in (`pe-actors data synth`) or your "
    "copy of Speech Commands.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for shd_train.h5 (the training and validation clips) and shd_test.h5 (the test clips), the "
    "SHD release's layout that `pe-actors train --shd-dir` reads.",
)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the silence crops, the unknown subsample and the cochlea's nerve fibres.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Processes converting clips, one core each.")
@click.option("--max-clips", type=click.IntRange(min=1), default=None,
              help="Convert only the first N clips of each split (a quick look; the whole stand-in takes hours).")
@no_progress_option
def spiking(gsc_dir: Path, out: Path, seed: int, workers: int, max_clips: int | None, no_progress: bool) -> None:
    """Turn speech into spikes with the cochlea model that made SHD and SSC (700 channels; docs/data.md, "Spiking
    speech") and write them in the SHD release's layout."""
    from pe_actors_datasets.spiking_speech import write_spiking_speech

    try:
        done = write_spiking_speech(gsc_dir, out, seed=seed, workers=workers, max_clips=max_clips,
                                    progress=not no_progress)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    counts = ", ".join(f"{name} {n} clips" for name, n in done.clips.items())
    click.echo(f"{done.folder}: {counts}; {done.seconds:.0f} s ({done.seconds_per_clip:.2f} s a clip with "
               f"{workers} worker(s))")


@data.command("shd-like")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for shd_train.h5 and shd_test.h5 in the SHD release's layout.",
)
@click.option("--classes", type=click.IntRange(min=2), default=20, show_default=True, help="Words.")
@click.option("--speakers", type=click.IntRange(min=2), default=10, show_default=True,
              help="Speakers; the last --test-speakers of them make the test file.")
@click.option("--test-speakers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Speakers held out as the test file.")
@click.option("--takes", type=click.IntRange(min=1), default=25, show_default=True, help="Takes per speaker and word.")
@click.option("--events", type=click.IntRange(min=1), default=4500, show_default=True,
              help="Mean events per take, over 700 channels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of words, speakers and takes.")
def shd_like(out: Path, classes: int, speakers: int, test_speakers: int, takes: int, events: int, seed: int) -> None:
    """Write synthetic spiking digits with SHD's statistics in its layout (docs/data.md, "Synthetic spiking
    digits"), no download needed."""
    from pe_actors_datasets.synthetic_shd import SpeakerSpec, write_shd_like

    try:
        spec = SpeakerSpec(classes=classes, speakers=speakers, test_speakers=test_speakers, takes=takes,
                           events=events)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    click.echo(f"{write_shd_like(out, spec, seed)}: synthetic spiking digits written (synthetic)")
