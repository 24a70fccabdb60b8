"""``pe-actors adapt``: on-chip adaptation of a trained network to a new condition, online at batch 1.

A thin adapter: its options are made from the settings' declarations
(:data:`pe_actors.run.adapting.AdaptRunConfig`), and it runs :func:`pe_actors.run.adapting.adapt`, which writes
the curves, the memory per PE and the adapted checkpoint (docs/adaptation.md).
"""

from __future__ import annotations

from typing import Any

import click

from pe_actors.run import adapting
from pe_actors_launcher.options import library_errors
from pe_actors_launcher.setting_options import setting_options


@click.command("adapt")
@setting_options(adapting.AdaptRunConfig, required=("checkpoint",))
def adapt_command(**options: Any) -> None:
    """Adapt a trained network to a new condition by learning online at batch 1 on the PEs (one learning step per
    sample, each synapse keeping its eligibility trace), evaluating the new condition and the original task
    before adapting and every --eval-every samples.

    The weights of the checkpoint are placed on the synapses the checkpoint was trained with, or on --synapses
    (float weights programmed into new devices, --drift-before seconds of drift later). The last line printed is
    "Adapted: new condition A % -> B % after N samples; original task C % -> D %".
    """
    with library_errors():
        adapting.adapt(adapting.AdaptRunConfig(**options))
