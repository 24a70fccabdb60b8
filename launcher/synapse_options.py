"""The device options shared by ``pe-actors train`` and ``pe-actors pcm``: where the weights live
(docs/synapses.md)."""

from __future__ import annotations

from collections.abc import Callable

import click

from pe_actors.synapses import kind_names, synapse_kind
from pe_actors_launcher.options import FiniteFloatRange


def synapse_options(command: Callable) -> Callable:
    """Add ``--synapses`` and the device options to a click command."""
    options = [
        click.option(
            "--synapses",
            type=click.Choice(kind_names()),
            default="digital",
            show_default=True,
            help="Where the weights live: "
            + "; ".join(f"{name} ({synapse_kind(name).description})" for name in kind_names())
            + ". Device synapses train in the loop, ADAM acting on a float shadow. E-prop only.",
        ),
        click.option(
            "--bits",
            type=click.IntRange(1, 16),
            default=None,
            help="Levels per device of quantised or pcm synapses, 2^bits [default: 4].",
        ),
        click.option(
            "--prog-noise",
            type=FiniteFloatRange(min=0),
            default=None,
            help="pcm: scale of the programming noise (1: the device model, 0: off) [default: 1].",
        ),
        click.option(
            "--drift",
            type=FiniteFloatRange(min=0),
            default=None,
            help="pcm: scale of the drift exponents (1: the device model, 0: no drift) [default: 1].",
        ),
        click.option(
            "--read-noise",
            type=FiniteFloatRange(min=0),
            default=None,
            help="pcm: scale of the 1/f read noise (1: the device model, 0: off) [default: 1].",
        ),
        click.option(
            "--g-max",
            type=FiniteFloatRange(min=0, min_open=True),
            default=None,
            help="Largest device conductance in uS [default: 25].",
        ),
        click.option(
            "--drift-compensation/--no-drift-compensation",
            default=None,
            help="pcm: scale each matrix's read by its programmed over its read conductance sum [default: off].",
        ),
        click.option(
            "--clip-sd",
            type=FiniteFloatRange(min=0, min_open=True),
            default=None,
            help="Clip range w_max of each matrix in standard deviations of its initial weights [default: 10; "
            "e-prop's trained weights grow to 2-5 times their initial spread].",
        ),
        click.option(
            "--sample-seconds",
            type=FiniteFloatRange(min=0),
            default=None,
            help="Device time per training sample in seconds (a GSC clip lasts 1 s) [default: 1].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command
