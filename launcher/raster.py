"""``pe-actors raster``: one sample through a network, its input and every population over time, from a checkpoint
or fresh weights (:func:`pe_actors.run.simulate.raster`, drawn by :mod:`pe_actors.reports.raster`)."""

from __future__ import annotations

import click

from pe_actors.core.settings import ConfigError
from pe_actors.reports.figures import write_json
from pe_actors.reports.raster import plot_raster
from pe_actors.rules import rule as rule_of_name
from pe_actors.run.config import RunConfig
from pe_actors.run.model import load
from pe_actors.run.simulate import RasterSettings
from pe_actors.run.simulate import raster as raster_of
from pe_actors_launcher.plots import network_options, out_option, prepare_out, resolve_network
from pe_actors_launcher.setting_options import setting_options

#: The rule of fresh weights when none is named: a run's.
DEFAULT_RULE = RunConfig.rule


@click.command("raster")
@setting_options(RasterSettings, names=("rule", "checkpoint"))
@network_options
@setting_options(RasterSettings, names=("data", "split", "index", "pes", "seed"))
@out_option()
def raster(rule, checkpoint, network, n_in, n_rec, n_out, steps, data, split, index, pes, seed, out_dir) -> None:
    """Spikes and voltages of one sample: its input, every population of the network over time, and the
    prediction. Writes raster.png and raster.json into --out.

    The network comes from --checkpoint (its stored network and weights; the size options are ignored) or is
    fresh (--network and the size options of the rule's network, weights from --seed).
    """
    try:
        if checkpoint is not None:
            source = load(checkpoint)
        else:
            # The named network if the rule has it, else the rule's first (EventProp's yinyang).
            networks = rule_of_name(rule or DEFAULT_RULE).networks.resolve()
            name = network if network in networks else next(iter(networks))
            source = resolve_network(rule or DEFAULT_RULE, name, n_in, n_rec, n_out, steps)
        result = raster_of(source, data, split, index, seed, pes)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint=f"--{error.field or 'data'}") from None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--checkpoint" if checkpoint else None) from None
    summary = result.summary()
    out_dir = prepare_out(out_dir)
    write_json(out_dir / "raster.json", summary)
    plot_raster(result, out_dir / "raster.png")
    verdict = "" if result.label is None else f", label {summary['label_name']}"
    spikes = "; ".join(f"{name} {p['total_spikes']} spikes ({p['silent_neurons']} silent neurons)"
                       for name, p in summary["populations"].items())
    click.echo(f"{result.sample}: predicted {summary['predicted_name']}{verdict}; {spikes}")
    click.echo(f"wrote {out_dir / 'raster.png'} and {out_dir / 'raster.json'}")
