"""``pe-actors adapt``: on-chip adaptation of a trained network to a new condition, online at batch 1.

A thin adapter: it parses the options into a :class:`pe_actors.run.adapting.AdaptRunConfig` and runs
:func:`pe_actors.run.adapting.adapt`, which writes the curves, the memory per PE and the adapted checkpoint
(docs/adaptation.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pe_actors.rules import Rule, rule, rule_names
from pe_actors.run import adapting
from pe_actors.run.config import MAX_SEED
from pe_actors_launcher.options import FiniteFloatRange, existing_dir, library_errors
from pe_actors_launcher.synapse_options import synapse_options


def _opt(*flags: str, **kwargs: Any):
    return click.option(*flags, show_default=True, **kwargs)


def _per_rule(what: Callable[[Rule], str]) -> str:
    """A default that depends on the checkpoint's rule, as ``--help`` states it: "e-prop 1, EventProp 0"."""
    return ", ".join(f"{rule(name).title} {what(rule(name))}" for name in rule_names())


@click.command("adapt")
@_opt(
    "--checkpoint",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The trained network: a checkpoint directory, or a run directory (its best checkpoint by validation), "
    "from any engine.",
)
@_opt(
    "--gsc-dir",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    help="The new condition as a GSC-layout folder (pe-actors data synth --condition): adaptation samples are the "
    "clips in neither validation_list.txt nor testing_list.txt (or --adapt-list), evaluation clips testing_list.txt; "
    "featurised with the checkpoint's feature parameters and normalisation.",
)
@_opt(
    "--data",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    help="The new condition as features instead: prepared GSC features (their train split adapts, their test "
    "split evaluates), or for an EventProp checkpoint a Yin-Yang directory (pe-actors data yinyang --rotate).",
)
@_opt(
    "--adapt-list",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --gsc-dir: a file of clip paths (relative to the folder) to adapt on instead of the training "
    "clips, the first --per-class of each class in list order.",
)
@_opt(
    "--per-class",
    type=click.IntRange(min=1),
    default=None,
    help="With --adapt-list: clips taken per class [default: all listed].",
)
@_opt(
    "--original-data",
    type=click.Path(path_type=Path),
    callback=existing_dir,
    default=None,
    help="The original task's data, whose test split measures forgetting [default: the data the checkpoint was "
    "trained on: its --data, else the offline stand-in (EventProp: Yin-Yang with the published seeds)].",
)
@_opt(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cache/standin"),
    help="Where the offline stand-in is cached when the original task is the stand-in.",
)
@_opt(
    "--samples",
    type=click.IntRange(min=1),
    default=None,
    help="Adaptation samples: learning steps at batch 1, drawn without replacement in an order seeded by --seed "
    "[default: 300, or all the new condition holds when it holds fewer].",
)
@_opt(
    "--eval-every",
    type=click.IntRange(min=1),
    default=10,
    help="Adaptation samples between evaluations on the new condition's held-out samples and the original test "
    "set (also before the first and after the last).",
)
@_opt(
    "--lr",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="ADAM learning rate, constant while adapting; ADAM starts fresh [default: "
    f"{_per_rule(lambda r: r.adaptation.lr_text)}].",
)
@_opt(
    "--rehearse-every",
    type=click.IntRange(min=0),
    default=None,
    help="Rehearsal against forgetting: after every K adaptation samples, one more learning step on a sample of "
    "the original task's training split (held by the host, not in a PE's SRAM). 0: never. [default: "
    f"{_per_rule(lambda r: str(r.adaptation.rehearse_every))}]",
)
@_opt(
    "--freeze",
    default=None,
    help="Weights that do not learn while adapting, comma-separated, or none: e-prop w_in, w_rec, w_out; "
    "EventProp w_0 (input to first layer), w_1, ... [default: "
    f"{_per_rule(lambda r: ','.join(r.adaptation.frozen) or 'none')}; e-prop's only input weights learning: the "
    "new voice is in the input, and the original task forgets least]. docs/adaptation.md, 'Forgetting'.",
)
@_opt(
    "--engine",
    type=click.Choice(["actors", "inprocess", "offchip", "replay"]),
    default="actors",
    help="Where the network learns: actors (one Ray actor per PE, the chip's runtime), inprocess (the same PE "
    "programs in this process, same results), or offchip/replay (the rule's fast off-chip engine: not on-chip "
    "learning).",
)
@_opt("--pes", type=click.IntRange(min=1), default=12, help="PEs per group (EventProp: per layer).")
@_opt(
    "--transport",
    type=click.Choice(["shm", "ray"]),
    default="shm",
    help="Per-step spike exchange of the actors engine (shared-memory mailbox, or Ray's channels).",
)
@_opt(
    "--schedule",
    type=click.Choice(["pipelined", "layered"]),
    default="pipelined",
    help="How EventProp's PEs exchange packets: pipelined (a round per time step, as on the chip) or layered (a "
    "round per layer carrying all T steps; the same learning, far fewer barriers). docs/eventprop.md.",
)
@_opt("--address", default=None, help="Ray cluster to join ('auto' or 'ray://HOST:PORT'); default: a local Ray.")
@_opt(
    "--dashboard-port",
    type=click.IntRange(min=1, max=65535),
    default=8265,
    help="Port of the local Ray's dashboard on 127.0.0.1.",
)
@synapse_options
@_opt(
    "--drift-before",
    type=FiniteFloatRange(min=0),
    default=0.0,
    help="Seconds of device time (drift) between placing the network on its synapses and the first adaptation "
    "sample; for pcm synapses.",
)
@_opt(
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=0,
    help="Seed of the order of the adaptation samples (and of new devices' noise).",
)
@_opt(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/adapt"),
    help="Directory for adaptation.csv/.json/.png, memory.json/.png and checkpoints/ (the adapted network).",
)
@_opt(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    help="Threads featurising a --gsc-dir folder.",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@click.pass_context
def adapt_command(ctx: click.Context, **options: Any) -> None:
    """Adapt a trained network to a new condition by learning online at batch 1 on the PEs (one learning step per
    sample, each synapse keeping its eligibility trace), evaluating the new condition and the original task
    before adapting and every --eval-every samples.

    The weights of the checkpoint are placed on the synapses the checkpoint was trained with, or on --synapses
    (float weights programmed into new devices, --drift-before seconds of drift later). The last line printed is
    "Adapted: new condition A % -> B % after N samples; original task C % -> D %".
    """
    source = ctx.get_parameter_source
    options["progress"] = not options.pop("no_progress")
    if source("synapses") == click.core.ParameterSource.DEFAULT:
        options["synapses"] = None  # the checkpoint's synapses
    with library_errors():
        adapting.adapt(adapting.AdaptRunConfig(**options))
