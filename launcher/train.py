"""``pe-actors train``: train a network with e-prop (or BPTT) on prepared features or the offline stand-in, or with
EventProp on Yin-Yang, with any engine.

A thin adapter: it parses the options (flags, a ``--config`` run config, or a ``--resume`` checkpoint's run
config) into a :class:`pe_actors.run.config.RunConfig` and runs :func:`pe_actors.run.training.train`.
The run directory (``--out``) receives ``run-config.toml`` (re-usable with ``--config``), ``metrics.jsonl``,
``checkpoints/``, ``curves.png`` (train/validation/test accuracy and loss per epoch, like the paper's Figure 5)
with ``curves.json`` beside it, and ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pe_actors.rules import rule, rule_names, run_rule_names
from pe_actors.run import training
from pe_actors.run.config import AUGMENTATIONS, DEFAULT_AUGMENT, MAX_SEED, RunConfig, engine_names, resolve
from pe_actors.run.data import source_names
from pe_actors_launcher.options import FiniteFloatRange, config_option, existing_dir, library_errors
from pe_actors_launcher.synapse_options import synapse_options


def _option(name: str, *flags: str, **kwargs: Any) -> Callable:
    return click.option(*flags, name, show_default=True, **kwargs)


@click.command("train")
@config_option
@_option(
    "network",
    "--network",
    type=click.Choice(sorted({network for name in rule_names() for network in rule(name).networks.resolve()})),
    default="gsc",
    help="Network to train: gsc (e-prop and BPTT) or yinyang (EventProp; the default with --rule eventprop).",
)
@_option(
    "rule",
    "--rule",
    type=click.Choice(run_rule_names()),
    default="eprop",
    help="Learning rule: " + "; ".join(
        f"{name} ({rule(name).description})" + "".join(
            f"; {alias}: its {backend} engine (ignores --engine)" for alias, backend in rule(name).aliases.items()
        ) for name in rule_names()
    ) + ". A rule's run starts from its defaults (EventProp: configs/yinyang-eventprop.toml's values).",
)
@_option(
    "engine",
    "--engine",
    type=click.Choice(engine_names()),
    default="actors",
    help="actors: one Ray actor per PE; inprocess: the same PE programs in this process; offchip: the rule's fast "
    "off-chip engine (e-prop: replay, exact gradients from a stored forward pass; EventProp: the vectorised "
    "event-driven engine); replay: e-prop's off-chip engine by its own name.",
)
@_option(
    "transport",
    "--transport",
    type=click.Choice(["shm", "ray"]),
    default="shm",
    help="Per-step spike exchange of the actors engine: a shared-memory mailbox per group (one node) or Ray's "
    "own channels (groups spread over nodes).",
)
@_option(
    "schedule",
    "--schedule",
    type=click.Choice(["pipelined", "layered"]),
    default="pipelined",
    help="How EventProp's PEs exchange packets: pipelined (a round per time step, layer l one step ahead of l - 1, "
    "as on the chip) or layered (a round per layer carrying all T steps, run by the off-chip engine's compiled "
    "loops on each PE's slice: the same gradients to float rounding, far fewer barriers). docs/eventprop.md, "
    "'On the PEs'.",
)
@_option(
    "pes",
    "--pes",
    type=click.IntRange(min=1),
    default=12,
    help="PEs per group, P (the e-prop paper: 12); for EventProp, PEs per layer (at most one per neuron).",
)
@_option("groups", "--groups", type=click.IntRange(min=1), default=1, help="Groups G (network replicas) per batch.")
@_option(
    "sub_batch",
    "--sub-batch",
    type=click.IntRange(min=1),
    default=32,
    help="Samples each PE vectorises, k; the mini-batch is G x k.",
)
@_option(
    "address",
    "--address",
    default=None,
    help="Ray cluster to join: 'auto' or 'ray://HOST:PORT'. Default: start an embedded local Ray "
    "(dashboard on 127.0.0.1).",
)
@_option(
    "dashboard_port",
    "--dashboard-port",
    type=click.IntRange(min=1, max=65535),
    default=8265,
    help="Port of the embedded local Ray's dashboard on 127.0.0.1 (a free one is picked if it is taken).",
)
@_option("epochs", "--epochs", type=click.IntRange(min=1), default=8, help="Epochs to train (in total, if resumed).")
@_option("lr", "--lr", type=FiniteFloatRange(min=0, min_open=True), default=0.01, help="ADAM learning rate.")
@_option("l2", "--l2", type=FiniteFloatRange(min=0), default=0.05e-5, help="L2 coefficient: loss + l2 sum W^2.")
@_option(
    "lr_decay",
    "--lr-decay",
    type=FiniteFloatRange(min=0, max=1, min_open=True),
    default=0.3,
    help="Factor applied to the learning rate every --decay-every epochs.",
)
@_option(
    "decay_every", "--decay-every", type=click.IntRange(min=1), default=6, help="Epochs between learning-rate decays."
)
@_option(
    "seed",
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=0,
    help="Seed of the initial weights and shuffling.",
)
@_option(
    "data",
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    callback=existing_dir,
    help="Prepared feature directory (pe-actors data prepare). Default: the offline synthetic stand-in, "
    "synthesised once into --cache.",
)
@_option(
    "source",
    "--source",
    type=click.Choice(source_names()),
    default=None,
    help="The data source to read (the entry points pe_actors.data; a package adds its own), with --data as its "
    "folder if it reads one. Default: the rule's (e-prop: prepared features from --data, else the stand-in; "
    "EventProp: Yin-Yang).",
)
@_option(
    "shd_dir",
    "--shd-dir",
    type=click.Path(path_type=Path),
    default=None,
    callback=existing_dir,
    help="The Spiking Heidelberg Digits: a folder with the release's shd_train.h5 and shd_test.h5, binned into "
    "rasters at the network's step (EventProp: its dt and T; e-prop: T steps over 1 s), a validation split carved "
    "from training, cached in --cache; the network (default: shd) takes its input and output sizes from the data.",
)
@_option(
    "cache",
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cache/standin"),
    help="Where the offline stand-in's audio and features are built once and reused (without --data).",
)
@_option(
    "standin_size",
    "--standin-size",
    type=click.Choice(["default", "small"]),
    default="default",
    help="Size of the offline stand-in (small: a few speakers, for tests).",
)
@_option(
    "augment",
    "--augment",
    default=",".join(DEFAULT_AUGMENT),
    help=f"Augmentations of speech training data, comma-separated, or none (docs/data.md, 'Augmentation'), of "
    f"{', '.join(AUGMENTATIONS)}: speed "
    "(resampling by 0.9-1.1), pitch (+-2 semitones), reverb (16 simulated rooms, RT60 0.2-0.8 s), noise (a "
    "background crop at 0-20 dB SNR), shift (+-0.1 s): the audio ones, made once per training clip as "
    "--augment-views views when the stand-in is built; specaugment: two time masks of up to 10 frames and two "
    "band masks of up to 6 mel bands per sample while training. Each epoch shows each clip clean or as one of its "
    "views, drawn by --seed. EventProp and SHD runs train on their spikes unaugmented unless this is given.",
)
@_option(
    "augment_views",
    "--augment-views",
    type=click.IntRange(min=0, max=64),
    default=4,
    help="Augmented views of every training clip built with the stand-in (0: none, only specaugment applies).",
)
@_option(
    "out",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory: run-config.toml, metrics.jsonl, checkpoints/, curves.png, summary.json. "
    "Default: runs/train, or the resumed run's directory.",
)
@_option(
    "checkpoint_every",
    "--checkpoint-every",
    type=click.IntRange(min=0),
    default=1000,
    help="Write a checkpoint every N training samples (0: only at epoch ends, which always get one).",
)
@_option(
    "keep_checkpoints",
    "--keep-checkpoints",
    type=click.IntRange(min=1),
    default=3,
    help="Keep this many newest checkpoints (plus the best by validation accuracy).",
)
@_option(
    "resume",
    "--resume",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Continue a run from a run directory (its latest checkpoint) or a checkpoint directory; the run "
    "config comes from the checkpoint, and the run ends with the weights of an uninterrupted run.",
)
@_option(
    "dtype",
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    help="Floating-point type of weights and state (the chip uses float32).",
)
@_option(
    "max_samples",
    "--max-samples",
    type=click.IntRange(min=1),
    default=None,
    help="Train on at most N samples per epoch (a fresh random subset each epoch), for quick runs.",
)
@_option(
    "dt",
    "--dt",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: time step in ms (the chip: 1); the trial keeps its length, so T grows as dt shrinks.",
)
@_option(
    "sizes",
    "--sizes",
    default=None,
    help="EventProp: layer sizes, input first, e.g. 5,120,3 (the yinyang network) or 5,64,64,3.",
)
@_option(
    "t_code",
    "--t-code",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: ms, latest input spike of the latency code (a feature v spikes at v t_code; the recipes: 27 "
    "at dt 1 ms, 25 at dt 0.25 ms; the network alone: 15).",
)
@_option(
    "init_mean",
    "--init-mean",
    default=None,
    help="EventProp: mean of each weight matrix's initial normal distribution in units of theta, one per "
    "matrix, e.g. 1.5,0.1 (the recipes'; the yinyang network alone: 1.5,0.5).",
)
@_option(
    "init_std",
    "--init-std",
    default=None,
    help="EventProp: standard deviation of each weight matrix's initial distribution, e.g. 0.8,0.2 (the recipes'; "
    "the yinyang network alone: 0.8,0.4).",
)
@_option(
    "tau0",
    "--tau0",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: ms, temperature of the first-spike-time softmax (network default 0.5).",
)
@_option(
    "tau1",
    "--tau1",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="EventProp: ms, time constant of the early-spike regulariser (network default 6.4).",
)
@_option(
    "alpha_reg",
    "--alpha-reg",
    type=FiniteFloatRange(min=0),
    default=None,
    help="EventProp: weight of the regulariser alpha (exp(t_label / tau1) - 1) (network default 3e-3).",
)
@_option(
    "loss_time",
    "--loss-time",
    type=click.Choice(["step", "crossing"]),
    default=None,
    help="EventProp: the output times the loss compares: 'step' (the first spike step, the paper's) or "
    "'crossing' (the threshold crossing interpolated within it, the times the prediction ranks; the recipes').",
)
@_option(
    "alpha_silent",
    "--alpha-silent",
    type=FiniteFloatRange(min=0),
    default=None,
    help="EventProp: weight of the voltage term alpha_silent (theta - max Vpre) of a label output that stays "
    "silent, which gives it a gradient towards spiking (the recipes: 1; the network alone: 0, off).",
)
@synapse_options
@_option(
    "monitor",
    "--monitor",
    is_flag=True,
    help="With --engine actors: start a Prometheus server on 127.0.0.1 (the Debian package prometheus) that scrapes "
    "Ray's metrics, the ray_pe_* ones among them, with the configuration Ray writes; prints its URL; stops with "
    "the run (its data stay in RUN/prometheus).",
)
@_option(
    "tensorboard",
    "--tensorboard",
    is_flag=True,
    help="Write TensorBoard event files into RUN/tensorboard: loss, accuracy and samples/s per batch, each PE's "
    "step latency and barrier wait (actors), and the epochs' train/validation/test loss and accuracy.",
)
@_option("log_every", "--log-every", type=click.IntRange(min=1), default=10, help="Batches per metrics.jsonl line.")
@_option("progress", "--progress/--no-progress", default=True, help="Show the progress bar.")
@click.pass_context
def train(ctx: click.Context, **options: Any) -> None:
    """Train a network with e-prop, BPTT or EventProp and report validation and test accuracy after each epoch.

    E-prop and BPTT: without --data the offline stand-in of Speech Commands is synthesised once into --cache, and
    every accuracy is labelled synthetic. EventProp: Yin-Yang is generated offline with the published seeds (or
    read from --data as written by pe-actors data yinyang). The Ray dashboard URL is printed when the actors
    engine starts Ray.
    """
    source = ctx.get_parameter_source
    # Given: on the command line or by --config (click puts the file's values in its default map); the rest take
    # the defaults, or for --rule eventprop the EventProp recipe's values.
    given = {
        name: value
        for name, value in options.items()
        if name != "config_file" and source(name) not in (click.core.ParameterSource.DEFAULT, None)
    }
    if options["rule"] in rule(options["rule"]).aliases and source("engine") == click.core.ParameterSource.COMMANDLINE:
        backend = rule(options["rule"]).aliases[options["rule"]]
        click.echo(f"Note: --rule {options['rule']} trains on the {backend} engine; --engine is ignored.")
    with library_errors():
        config = resolve(given) if options["resume"] is None else RunConfig(**(given | {"resume": options["resume"]}))
        training.train(config, callbacks=(ctx.obj or {}).get("callbacks", ()), given=given)
