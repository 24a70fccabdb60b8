"""On-chip adaptation: a network pre-trained off-chip learns a new condition online at batch 1 on the PEs
(library and ``pe-actors adapt``), the condition folders and rotated Yin-Yang, and clear errors."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from pe_actors import InProcessEngine, NetworkConfig, OptimiserConfig, init_params
from pe_actors.core.checkpoint import load_checkpoint, resolve_checkpoint
from pe_actors.rules.eprop.replay import ReplayEngine
from pe_actors.runtime.group import weights_only
from pe_actors.synapses import SynapseConfig
from pe_actors.training.adaptation import AdaptConfig, adapt, fresh_optimiser
from pe_actors.training.trainer import evaluate
from pe_actors_launcher.cli import cli

CONFIG = NetworkConfig(n_in=6, n_rec=10, n_out=3, n_steps=20)
OPTIMISER = OptimiserConfig(lr=0.02, l2=0.0)


def task(n: int, seed: int, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs where class c drives input channels 2k and 2k + 1 harder, k = (c + shift) mod 3: the new
    condition (shift 1) moves every class onto the channels of another."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CONFIG.n_out, n)
    x = rng.random((n, CONFIG.n_steps, CONFIG.n_in))
    for i, label in enumerate(labels):
        k = (label + shift) % CONFIG.n_out
        x[i, :, 2 * k : 2 * k + 2] += 3.0
    return x, labels


@pytest.fixture(scope="module")
def pretrained() -> dict[str, np.ndarray]:
    """Weights trained off-chip (replay engine, batch 10) on the original task."""
    engine = ReplayEngine(CONFIG, init_params(CONFIG, seed=5, dtype=np.float64), OPTIMISER)
    x, labels = task(90, 1)
    for _ in range(6):
        for start in range(0, 90, 10):
            engine.train_batch(x[start : start + 10], labels[start : start + 10], OPTIMISER.lr)
    return weights_only(engine.state())


def test_online_adaptation_on_the_pes_learns_the_new_condition(pretrained):
    original, new_held_out, pool = task(60, 3), task(60, 5, shift=1), task(60, 4, shift=1)
    engine = InProcessEngine(CONFIG, pretrained, OPTIMISER, n_pes=2, sub_batch=1)
    before = evaluate(engine, *original)["accuracy"]
    assert before > 0.6, "the off-chip pre-training did not learn the original task"
    config = AdaptConfig(samples=60, eval_every=20, lr=0.01, seed=0)
    result = adapt(engine, pool, {"new": new_held_out, "original": original}, config, progress=False)
    assert [record["samples"] for record in result.curve] == [0, 20, 40, 60]
    assert result.curve[0]["original_accuracy"] == before
    assert result.curve[0]["new_accuracy"] < 0.5
    assert result.curve[-1]["new_accuracy"] > result.curve[0]["new_accuracy"] + 0.3
    # Each pool sample is learned once, in the seeded order.
    assert sorted(result.order.tolist()) == list(range(60))
    np.testing.assert_array_equal(result.order, np.random.default_rng(0).permutation(60))
    assert result.at(60) is result.curve[-1]
    assert result.curve[0]["online_accuracy"] is None and 0 <= result.curve[-1]["online_accuracy"] <= 1


def test_adaptation_learns_one_step_per_sample_with_the_given_learning_rate(pretrained):
    """Adapting on N samples equals N calls of train_batch with batch 1 in the recorded order."""
    pool = task(12, 4, shift=1)
    adapted = InProcessEngine(CONFIG, pretrained, OPTIMISER, n_pes=3, sub_batch=1)
    result = adapt(adapted, pool, {}, AdaptConfig(samples=7, eval_every=3, lr=0.005, seed=2), progress=False)
    by_hand = InProcessEngine(CONFIG, pretrained, OPTIMISER, n_pes=1, sub_batch=1)
    for index in result.order:
        by_hand.train_batch(pool[0][index : index + 1], pool[1][index : index + 1], 0.005)
    for key, value in by_hand.state().items():
        np.testing.assert_allclose(adapted.state()[key], value, rtol=0, atol=1e-12, err_msg=key)
    assert [record["samples"] for record in result.curve] == [0, 3, 6, 7]


def test_rehearsal_interleaves_original_task_steps_in_a_seeded_cycle(pretrained):
    pool, original = task(12, 4, shift=1), task(3, 1)
    config = AdaptConfig(samples=7, eval_every=7, lr=0.005, seed=2, rehearse_every=2)
    adapted = InProcessEngine(CONFIG, pretrained, OPTIMISER, n_pes=2, sub_batch=1)
    result = adapt(adapted, pool, {}, config, progress=False, rehearsal=original)
    assert result.curve[-1]["rehearsed"] == 3
    by_hand = InProcessEngine(CONFIG, pretrained, OPTIMISER, n_pes=1, sub_batch=1)
    cycle = np.random.default_rng([2, 1]).permutation(3)
    for done, index in enumerate(result.order, start=1):
        by_hand.train_batch(pool[0][index : index + 1], pool[1][index : index + 1], 0.005)
        if done % 2 == 0:
            j = cycle[(done // 2 - 1) % 3]
            by_hand.train_batch(original[0][j : j + 1], original[1][j : j + 1], 0.005)
    for key, value in by_hand.state().items():
        np.testing.assert_allclose(adapted.state()[key], value, rtol=0, atol=1e-12, err_msg=key)
    with pytest.raises(ValueError, match="rehearsal set"):
        adapt(adapted, pool, {}, config, progress=False)
    with pytest.raises(ValueError, match="rehearse_every"):
        AdaptConfig(samples=3, rehearse_every=-1)


@pytest.mark.parametrize("synapses", [SynapseConfig(), SynapseConfig(kind="pcm", bits=4, seed=3)])
def test_the_offchip_copy_predicts_what_the_pes_predict(pretrained, synapses):
    """Adaptation is evaluated on the replay engine loaded with the PEs' state: same logits, devices included."""
    engine = InProcessEngine(CONFIG, pretrained, OPTIMISER, n_pes=2, sub_batch=1, synapses=synapses)
    adapt(engine, task(10, 4, shift=1), {}, AdaptConfig(samples=5, lr=0.01), progress=False)
    engine.advance(3600.0)
    copy = ReplayEngine(CONFIG, pretrained, OptimiserConfig(), synapses=synapses)
    copy.load_state(engine.state())
    x, _ = task(8, 9)
    np.testing.assert_allclose(copy.predict(x), engine.predict(x), rtol=1e-9, atol=1e-9)


def test_fresh_optimiser_zeroes_the_moments_and_keeps_weights_and_devices(pretrained):
    engine = InProcessEngine(CONFIG, pretrained, OPTIMISER, synapses=SynapseConfig(kind="pcm", bits=4))
    engine.train_batch(*task(2, 1), 0.01)
    state = engine.state()
    fresh = fresh_optimiser(state)
    assert int(fresh["adam_n"]) == 0 and int(state["adam_n"]) == 1
    moments = [key for key in state if key.startswith(("m_", "v_"))]
    assert len(moments) == 6 and any(state[key].any() for key in moments)
    for key, value in state.items():
        if key in moments:
            assert not fresh[key].any()
        elif key != "adam_n":
            np.testing.assert_array_equal(fresh[key], value)


def test_adapt_config_and_pool_errors(pretrained):
    with pytest.raises(ValueError, match="samples"):
        AdaptConfig(samples=0)
    with pytest.raises(ValueError, match="lr"):
        AdaptConfig(samples=3, lr=float("nan"))
    assert AdaptConfig(samples=25, eval_every=10).points() == [0, 10, 20, 25]
    engine = InProcessEngine(CONFIG, pretrained, OPTIMISER)
    with pytest.raises(ValueError, match="pool holds only 4"):
        adapt(engine, task(4, 1), {}, AdaptConfig(samples=5), progress=False)


@pytest.mark.ray
def test_actors_adapt_to_the_same_weights_as_in_process_pes(pretrained, local_ray):
    from pe_actors.engines.actors import ActorEngine

    pool, held_out = task(10, 4, shift=1), task(12, 5, shift=1)
    config = AdaptConfig(samples=6, eval_every=3, lr=0.01, seed=1)
    inprocess = InProcessEngine(CONFIG, pretrained, OPTIMISER, n_pes=3, sub_batch=1)
    expected = adapt(inprocess, pool, {"new": held_out}, config, progress=False)
    with ActorEngine(CONFIG, pretrained, OPTIMISER, n_pes=3, n_groups=1, sub_batch=1) as actors:
        result = adapt(actors, pool, {"new": held_out}, config, progress=False)
        state = actors.state()
    for key, value in inprocess.state().items():
        np.testing.assert_allclose(state[key], value, rtol=0, atol=1e-12, err_msg=key)
    assert [r["new_accuracy"] for r in result.curve] == [r["new_accuracy"] for r in expected.curve]


def test_pe_actors_learn_a_batch_1_sequence_in_one_call_with_the_bits_of_one_call_per_sample(pretrained, local_ray):
    from pe_actors.core.engine import train_each
    from pe_actors.engines.actors import ActorEngine

    x, labels = task(7, 4, shift=1)
    runs = {}
    for how in ("a call per sample", "one call"):
        with ActorEngine(CONFIG, pretrained, OPTIMISER, n_pes=3, n_groups=1, sub_batch=1) as actors:
            if how == "one call":
                result = actors.train_samples(x, labels, 0.01)
            else:
                result = train_each(actors, x, labels, 0.01)
            runs[how] = (result, actors.state(), actors.updates)
    (expected, expected_state, expected_updates), (result, state, updates) = runs.values()
    assert updates == expected_updates == 7
    np.testing.assert_array_equal(result.logits, expected.logits)  # each sample's prediction before it is learned
    np.testing.assert_array_equal(result.loss, expected.loss)
    assert state.keys() == expected_state.keys()
    for key, value in expected_state.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)  # weights, ADAM moments and step count


# The condition folders and pe-actors adapt end to end.


def run(*args: object):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def condition(small_standin, tmp_path_factory):
    """A small new-speaker folder (3 adaptation and 2 evaluation takes per keyword)."""
    from pe_actors_datasets.conditions import ConditionSpec, synthesize_condition

    spec = ConditionSpec(adapt_takes=3, test_takes=2, unknown_takes=2)
    return synthesize_condition(tmp_path_factory.mktemp("cond") / "speaker", "speaker", spec=spec, progress=False)


@pytest.fixture(scope="module")
def trained(small_standin, tmp_path_factory):
    """A gsc network trained off-chip (replay) for two epochs on the small stand-in."""
    out = tmp_path_factory.mktemp("run") / "run"
    result = run(
        "train", "--data", small_standin[0], "--engine", "replay", "--sub-batch", "8", "--epochs", "2",
        "--no-progress", "--out", out,
    )
    assert result.exit_code == 0, result.output
    return out


def test_speaker_condition_folder_holds_disjoint_adaptation_and_evaluation_clips(condition):
    from pe_actors_datasets.speech_commands import KEYWORDS, scan, split_clips

    marker = json.loads((condition / "SYNTHETIC.json").read_text())
    assert marker["condition"] == "speaker"
    speakers = json.loads((condition / "speakers.json").read_text())
    assert len(speakers) == 1 and speakers[0]["voice"] == "de" and speakers[0]["warp"] > 1.14
    splits, _ = split_clips(scan(condition))
    adapt_words = {c.path for c in splits["train"] if c.offset < 0}
    test_words = {c.path for c in splits["test"] if c.offset < 0}
    assert not adapt_words & test_words and not splits["validation"]
    for word in KEYWORDS:
        assert sum(p.startswith(f"{word}/") for p in adapt_words) == 3
        assert sum(p.startswith(f"{word}/") for p in test_words) == 2
    assert marker["held_out_clips"] == len(test_words)


def test_noise_condition_is_music_at_low_snr_with_held_out_speakers(tmp_path):
    from pe_actors_datasets.conditions import ConditionSpec, synthesize_condition

    spec = ConditionSpec(adapt_speakers=2, test_speakers=1, takes_per_speaker=1)
    folder = synthesize_condition(tmp_path / "noise", "noise", seed=3, spec=spec, progress=False)
    assert sorted(p.name for p in (folder / "_background_noise_").iterdir()) == ["music.wav"]
    marker = json.loads((folder / "SYNTHETIC.json").read_text())
    assert max(marker["snr_db"]) <= 3
    speakers = {s["id"]: s["split"] for s in json.loads((folder / "speakers.json").read_text())}
    held_out = (folder / "testing_list.txt").read_text().split()
    assert held_out and all(speakers[line.split("/")[1].split("_")[0]] == "test" for line in held_out)
    with pytest.raises(ValueError, match="condition must be one of"):
        synthesize_condition(tmp_path / "other", "weather", spec=spec)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        synthesize_condition(tmp_path / "mine", "noise", spec=spec)


def test_rotated_yinyang_stays_in_the_disc_and_keeps_its_labels(tmp_path):
    from pe_actors_datasets.yinyang import rotated, write_yinyang, yinyang

    features, labels = yinyang(200, 7)
    turned = rotated(features, 90.0)
    np.testing.assert_allclose(turned[:, 0], 1.0 - features[:, 1], atol=1e-12)
    np.testing.assert_allclose(turned[:, 1], features[:, 0], atol=1e-12)
    np.testing.assert_allclose(rotated(features, 360.0), features, atol=1e-12)
    assert np.hypot(turned[:, 0] - 0.5, turned[:, 1] - 0.5).max() <= 0.5 + 1e-12
    write_yinyang(tmp_path, rotate_deg=30.0)
    np.testing.assert_array_equal(np.load(tmp_path / "test_labels.npy"), yinyang(1000, 40)[1])
    np.testing.assert_allclose(np.load(tmp_path / "test_features.npy"), rotated(yinyang(1000, 40)[0], 30), atol=1e-6)


def test_adapt_command_end_to_end_and_the_adapted_checkpoint_evaluates(trained, condition, small_standin, tmp_path):
    out = tmp_path / "adapted"
    result = run(
        "adapt", "--checkpoint", trained, "--gsc-dir", condition, "--original-data", small_standin[0],
        "--engine", "inprocess", "--pes", "3", "--samples", "20", "--eval-every", "10", "--lr", "0.003",
        "--rehearse-every", "5", "--no-progress", "--out", out,
    )
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Adapted: new condition ") and "after 20 samples; original task" in last
    with open(out / "adaptation.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["samples"]) for row in rows] == [0, 10, 20]
    assert [int(row["rehearsed"]) for row in rows] == [0, 2, 4] and "rehearsing an original-task" in result.output
    # The line scripts read, with the numbers of the first and last evaluation.
    found = re.fullmatch(
        r"Adapted: new condition ([\d.]+) % -> ([\d.]+) % after (\d+) samples; original task ([\d.]+) % -> ([\d.]+) %",
        last,
    )
    assert found, last
    new_before, new_after, samples, original_before, original_after = map(float, found.groups())
    assert samples == 20
    for shown, row, key in (
        (new_before, rows[0], "new_condition"),
        (new_after, rows[-1], "new_condition"),
        (original_before, rows[0], "original_task"),
        (original_after, rows[-1], "original_task"),
    ):
        assert shown == pytest.approx(100 * float(row[f"{key}_accuracy"]), abs=0.006)
    assert (out / "adaptation.png").is_file() and (out / "memory.png").is_file()
    memory = json.loads((out / "memory.json").read_text())
    assert len(memory["per_pe"]) == 3 and memory["sub_batch"] == 1
    assert all(row["total_bytes"] > 0 for row in memory["per_pe"])
    checkpoint = load_checkpoint(resolve_checkpoint(out, prefer="best"))
    assert checkpoint.meta["adaptation"]["samples"] == 20
    assert (
        checkpoint.meta["data_metadata"]
        == load_checkpoint(resolve_checkpoint(trained, prefer="best")).meta["data_metadata"]
    )
    evaluated = run("evaluate", "--checkpoint", out, "--gsc-dir", condition, "--out", tmp_path / "eval")
    assert evaluated.exit_code == 0, evaluated.output
    accuracy = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["accuracy"]
    assert accuracy == pytest.approx(float(rows[-1]["new_condition_accuracy"]), abs=1e-12)
    # A second adaptation into the same --out is refused before it learns: the first's files stay as they are.
    written = (out / "adaptation.json").read_bytes()
    again = run("adapt", "--checkpoint", trained, "--gsc-dir", condition, "--original-data", small_standin[0],
                "--engine", "replay", "--samples", "2", "--no-progress", "--out", out)
    assert again.exit_code == 2 and "already holds a run or an adaptation" in again.output
    assert (out / "adaptation.json").read_bytes() == written


def test_adapt_by_default_learns_only_the_input_weights_and_rehearses(trained, condition, small_standin, tmp_path):
    base = [
        "adapt", "--checkpoint", trained, "--gsc-dir", condition, "--original-data", small_standin[0],
        "--engine", "inprocess", "--pes", "3", "--samples", "6", "--eval-every", "3", "--no-progress",
    ]
    result = run(*base, "--out", tmp_path / "default")
    assert result.exit_code == 0, result.output
    assert "learning w_in)" in result.output and "rehearsing an original-task sample after every 1" in result.output
    before = load_checkpoint(resolve_checkpoint(trained, prefer="best")).engine_state
    after = load_checkpoint(resolve_checkpoint(tmp_path / "default", prefer="best")).engine_state
    for name in ("w_rec", "w_out"):
        np.testing.assert_array_equal(after[name], before[name])
    assert not np.array_equal(after["w_in"], before["w_in"])
    summary = json.loads((tmp_path / "default" / "adaptation.json").read_text())
    assert summary["frozen"] == ["w_rec", "w_out"] and summary["rehearse_every"] == 1
    everything = run(*base, "--freeze", "none", "--rehearse-every", "0", "--out", tmp_path / "all")
    assert everything.exit_code == 0, everything.output
    learned = load_checkpoint(resolve_checkpoint(tmp_path / "all", prefer="best")).engine_state
    assert all(not np.array_equal(learned[name], before[name]) for name in ("w_in", "w_rec", "w_out"))


def test_adapt_on_pcm_devices_after_drift_and_from_an_adapt_list(trained, condition, small_standin, tmp_path):
    listing = tmp_path / "adapt.txt"
    listing.write_text(
        "".join(f"{word}/{p.name}\n" for word in ("yes", "no") for p in sorted((condition / word).iterdir()))
    )
    result = run(
        "adapt", "--checkpoint", trained, "--gsc-dir", condition, "--adapt-list", listing, "--per-class", "2",
        "--original-data", small_standin[0], "--engine", "inprocess", "--pes", "2", "--samples", "4",
        "--eval-every", "2", "--synapses", "pcm", "--bits", "4", "--drift-before", "86400", "--no-progress",
        "--out", tmp_path / "pcm",
    )
    assert result.exit_code == 0, result.output
    assert "the first 2 per class of" in result.output and "pcm synapses, 4 bits" in result.output
    summary = json.loads((tmp_path / "pcm" / "adaptation.json").read_text())
    assert summary["drift_before_s"] == 86400 and summary["synapses"]["kind"] == "pcm"
    assert len(summary["order"]) == 4
    memory = json.loads((tmp_path / "pcm" / "memory.json").read_text())
    assert memory["per_pe"][0]["bytes_by_category"]["devices"] > 0
    checkpoint = load_checkpoint(resolve_checkpoint(tmp_path / "pcm", prefer="best"))
    assert checkpoint.meta["synapses"]["kind"] == "pcm" and float(checkpoint.engine_state["clock_s"]) > 86400


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "exactly one of --gsc-dir"),
        (["--samples", "100000"], "--samples"),
        (["--drift-before", "10"], "--drift-before"),
        (["--per-class", "2"], "--per-class"),
        (["--bits", "4"], "--bits needs --synapses"),
        (["--pes", "500"], "--pes"),
        (["--engine", "replay", "--synapses", "pcm", "--read-noise", "nan"], "--read-noise"),
        (["--freeze", "w_in,w_hidden"], "--freeze 'w_in,w_hidden': ['w_hidden'] are not weights"),
        (["--freeze", "w_in,w_rec,w_out"], "freezes every weight"),
        (["--schedule", "layered"], "--schedule layered is EventProp's"),
    ],
)
def test_adapt_bad_options_are_named(trained, condition, small_standin, extra, message):
    args = ["adapt", "--checkpoint", trained, "--original-data", small_standin[0], "--engine", "replay"]
    if extra != []:
        args += ["--gsc-dir", condition]
    result = CliRunner().invoke(cli, [str(a) for a in args + extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_adapt_bad_folders_and_lists_are_named(trained, condition, small_standin, tmp_path):
    base = ["adapt", "--checkpoint", trained, "--original-data", small_standin[0], "--engine", "replay"]
    bare = tmp_path / "bare"
    (bare / "yes").mkdir(parents=True)
    for clip in sorted((condition / "yes").iterdir())[:2]:
        (bare / "yes" / clip.name).write_bytes(clip.read_bytes())
    result = CliRunner().invoke(cli, [str(a) for a in [*base, "--gsc-dir", bare]])
    assert result.exit_code == 2 and "testing_list.txt" in result.output and "Traceback" not in result.output
    listing = tmp_path / "list.txt"
    listing.write_text("yes/missing_nohash_0.wav\n")
    result = CliRunner().invoke(cli, [str(a) for a in [*base, "--gsc-dir", condition, "--adapt-list", listing]])
    assert result.exit_code == 2 and "line 1" in result.output and "--adapt-list" in result.output
    listing.write_bytes(b"\xff\xfe\x00binary\x80")
    result = CliRunner().invoke(cli, [str(a) for a in [*base, "--gsc-dir", condition, "--adapt-list", listing]])
    assert result.exit_code == 2 and "--adapt-list" in result.output and str(listing) in result.output
    assert "not a text file of clip paths" in result.output
    result = CliRunner().invoke(cli, [str(a) for a in [*base, "--data", tmp_path / "absent"]])
    assert result.exit_code == 2 and "--data" in result.output


def test_eventprop_adapts_to_rotated_yinyang_on_the_pes(tmp_path):
    trained = tmp_path / "yy"
    result = run(
        "train", "--rule", "eventprop", "--max-samples", "256", "--epochs", "2", "--no-progress", "--out", trained
    )
    assert result.exit_code == 0, result.output
    assert run("data", "yinyang", "--out", tmp_path / "rot", "--rotate", "20").exit_code == 0
    out = tmp_path / "adapted"
    result = run(
        "adapt", "--checkpoint", trained, "--data", tmp_path / "rot", "--engine", "inprocess", "--pes", "2",
        "--samples", "6", "--eval-every", "3", "--no-progress", "--out", out,
    )
    assert result.exit_code == 0, result.output
    assert "L1 PE" in result.output and result.output.strip().splitlines()[-1].startswith("Adapted: new condition")
    summary = json.loads((out / "adaptation.json").read_text())
    assert [r["samples"] for r in summary["curve"]] == [0, 3, 6] and summary["lr"] == 0.003
    checkpoint = load_checkpoint(resolve_checkpoint(out, prefer="best"))
    assert checkpoint.meta["rule"] == "eventprop"
    before = load_checkpoint(resolve_checkpoint(trained, prefer="best")).engine_state
    assert any(not np.array_equal(checkpoint.engine_state[k], before[k]) for k in before if k.startswith("w_"))
    evaluated = run("evaluate", "--checkpoint", out, "--data", tmp_path / "rot", "--out", tmp_path / "eval")
    assert evaluated.exit_code == 0, evaluated.output
    accuracy = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["accuracy"]
    assert accuracy == pytest.approx(summary["curve"][-1]["new_condition_accuracy"], abs=1e-12)
    import pe_actors

    again = pe_actors.adapt(
        checkpoint=trained, data=tmp_path / "rot", engine="offchip", samples=6, eval_every=3, progress=False,
        out=tmp_path / "api",
    )
    assert again["curve"][-1]["new_condition_accuracy"] == pytest.approx(summary["curve"][-1]["new_condition_accuracy"])
    layered = pe_actors.adapt(
        checkpoint=trained, data=tmp_path / "rot", engine="inprocess", pes=2, schedule="layered", samples=6,
        eval_every=3, progress=False, out=tmp_path / "layered",
    )
    assert [r["new_condition_accuracy"] for r in layered["curve"]] == pytest.approx(
        [r["new_condition_accuracy"] for r in summary["curve"]]
    )
    with pytest.raises(TypeError, match="unknown option 'epochs'"):
        pe_actors.adapt(checkpoint=trained, epochs=3)
    refused = CliRunner().invoke(cli, ["adapt", "--checkpoint", str(trained), "--gsc-dir", str(tmp_path / "rot")])
    assert refused.exit_code == 2 and "Yin-Yang" in refused.output


def test_data_commands_for_conditions_name_bad_options(tmp_path):
    result = CliRunner().invoke(cli, ["data", "synth", "--condition", "speaker", "--small", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--small" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["data", "synth", "--condition", "weather", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--condition" in result.output
    result = CliRunner().invoke(cli, ["data", "yinyang", "--rotate", "400", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--rotate" in result.output
    result = CliRunner().invoke(cli, ["data", "yinyang", "--rotate", "nan", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--rotate" in result.output


def test_the_default_adaptation_lr_follows_the_checkpoints_loss():
    """EventProp networks trained with the voltage term adapt at 0.003; without it (the paper's loss) their label
    outputs fall silent above 0.0005, so they adapt at 0.0003; e-prop, whose input weights alone learn, at 0.0015."""
    import pe_actors as pa
    from pe_actors.run.adapting import default_lr

    assert default_lr(pa.EventPropConfig(alpha_silent=1.0)) == 0.003
    assert default_lr(pa.EventPropConfig()) == 0.0003
    assert default_lr(pa.NetworkConfig()) == 0.0015
