"""The espeak-ng/flite stand-in: GSC layout, speaker-disjoint splits, determinism, the synthetic label."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

import pe_actors_datasets as datasets
from pe_actors_datasets import synth
from pe_actors_datasets.speech_commands import KEYWORDS, scan
from pe_actors_launcher.cli import cli

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="espeak-ng and flite are not installed (scripts/setup.sh installs them)",
)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """The small stand-in, synthesised and prepared once for this module by ensure_standin."""
    cache_dir = tmp_path_factory.mktemp("standin")
    features = datasets.ensure_standin(cache_dir, size="small", seed=0, workers=1)
    return cache_dir / "gsc-synth-small-seed0", features


def _split_speakers(root):
    index = scan(root)
    listed = {split: set(entries) for split, entries in index.lists.items()}
    speakers = {"train": set(), "validation": set(), "test": set()}
    for wavs in index.words.values():
        for wav in wavs:
            split = next((s for s, entries in listed.items() if wav in entries), "train")
            speakers[split].add(wav.split("/")[1].split("_nohash_")[0])
    return speakers


def test_layout_is_gsc_with_marker_lists_and_background(standin):
    root, _ = standin
    words = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert words == set(KEYWORDS) | set(synth.UNKNOWN_WORDS)
    assert sorted(p.stem for p in (root / "_background_noise_").glob("*.wav")) == sorted(synth.BACKGROUND_KINDS)
    marker = json.loads((root / "SYNTHETIC.json").read_text())
    assert marker["generator"] == "pe-actors datasets.synth" and marker["seed"] == 0 and marker["size"] == "small"
    assert marker["espeak_ng_version"].startswith("eSpeak NG") and "flite" in marker["flite_version"]
    assert (root / "validation_list.txt").read_text() and (root / "testing_list.txt").read_text()


def test_every_clip_is_one_second_16_khz_16_bit_mono_with_sound(standin):
    root, _ = standin
    for wav in (root / "yes").glob("*.wav"):
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16_000, 1, 16_000, "PCM_16")
        audio, _ = sf.read(str(wav))
        assert 0.05 < np.abs(audio).max() <= 1.0


def test_splits_are_speaker_disjoint_and_no_speaker_has_a_held_out_voice(standin):
    root, _ = standin
    speakers = _split_speakers(root)
    assert all(speakers.values())
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]
    table = json.loads((root / "speakers.json").read_text())
    assert not {s["voice"] for s in table} & {synth.HELD_OUT_FLITE, *synth.HELD_OUT_ACCENTS}
    assert {s["id"] for s in table if s["split"] == "train"} == speakers["train"]
    assert {s["engine"] for s in table if s["split"] == "train"} == {"espeak-ng", "flite"}


def test_prepared_stand_in_is_labelled_synthetic(standin):
    root, features = standin
    data = datasets.load_prepared(features)
    assert data.synthetic is True
    assert data.metadata["synthetic_info"]["generator"] == "pe-actors datasets.synth"
    n_train_speakers = len(_split_speakers(root)["train"])
    assert data.metadata["counts"]["train"][: len(KEYWORDS)] == [n_train_speakers] * len(KEYWORDS)
    assert data.splits["train"][0].shape[1:] == (100, 80)


def test_ensure_standin_reuses_audio_and_features(standin):
    root, features = standin
    stamps = [(root / "SYNTHETIC.json").stat().st_mtime_ns, (features / "metadata.json").stat().st_mtime_ns]
    assert datasets.ensure_standin(root.parent, size="small", seed=0, workers=1) == features
    assert stamps == [(root / "SYNTHETIC.json").stat().st_mtime_ns, (features / "metadata.json").stat().st_mtime_ns]


def test_stand_in_made_with_another_recipe_is_not_reused(standin, monkeypatch):
    root, _ = standin
    assert synth.standin_marker_matches(root, size="small", seed=0)
    monkeypatch.setattr(synth, "SNR_DB", (0.0, 5.0))
    assert not synth.standin_marker_matches(root, size="small", seed=0)


def test_cli_synth_is_deterministic_whatever_the_number_of_workers(standin, tmp_path):
    root, _ = standin
    result = CliRunner().invoke(cli, ["data", "synth", "--out", str(tmp_path / "again"), "--small", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "synthetic" in result.output
    assert "clip/s" not in result.output, "no progress bar when stderr is not a terminal"
    again = tmp_path / "again"
    for name in ("testing_list.txt", "validation_list.txt", "speakers.json"):
        assert (again / name).read_bytes() == (root / name).read_bytes()
    for wav in sorted((root / "go").glob("*.wav"))[:4] + sorted((root / "_background_noise_").glob("*.wav")):
        assert (again / wav.relative_to(root)).read_bytes() == wav.read_bytes()


def test_cli_synth_refuses_a_directory_that_is_not_a_stand_in(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep")
    result = CliRunner().invoke(cli, ["data", "synth", "--out", str(tmp_path / "mine"), "--small"])
    assert result.exit_code == 1 and "not a synthetic stand-in" in result.output
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep"


def test_default_size_plan_has_about_300_clips_per_keyword_and_disjoint_speakers():
    spec = synth.SIZES["default"]
    speakers = synth.make_speakers(spec, seed=0, variants=synth.espeak_variants())
    assert len(speakers) == len({s.id for s in speakers}) == 300
    splits = [s.split for s in speakers]
    assert splits.count("validation") == 30 and splits.count("test") == 30
    espeak = [(s.voice, s.split) for s in speakers if s.engine == "espeak-ng"]
    # No stand-in speaker has a voice of the leave-voice-out set.
    held_out = {f"{a}+{v}" for a, v in synth.voice_pairs(synth.espeak_variants(), held_out=True)}
    assert not held_out & {v for v, _ in espeak}
    assert not any(s.voice in (synth.HELD_OUT_FLITE, *synth.HELD_OUT_ACCENTS) for s in speakers)
    assert not any(synth.held_out_variant(v.split("+")[1]) for v, _ in espeak if "+" in v)
    assert len({v for v, _ in espeak}) == len(espeak)
    other = synth.make_speakers(spec, seed=1, variants=synth.espeak_variants())
    assert [s.id for s in other] != [s.id for s in speakers]


def test_missing_tts_tool_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng flite"):
        synth.tool_versions()


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="size must be one of"):
        datasets.synthesize(tmp_path / "x", size="huge")
