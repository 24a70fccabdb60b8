"""``pe-actors export``: a trained network as a NIR graph (docs/interop.md)."""

from __future__ import annotations

from pathlib import Path

import click

from pe_actors.interop.nir import NIRError, to_nir, write_nir
from pe_actors.run.model import load
from pe_actors_launcher.options import FiniteFloatRange


@click.command("export")
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="A checkpoint directory, or a run directory (its best checkpoint by validation).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The NIR file to write (HDF5, read by nir.read, snnTorch, Norse, Lava, Sinabs, Rockpool).",
)
@click.option(
    "--dt",
    type=FiniteFloatRange(min=0, min_open=True),
    default=None,
    help="Seconds: the step the graph is written for (forward Euler, docs/interop.md) [default: the network's own "
    "step; snnTorch reads every graph at 1e-4].",
)
@click.option(
    "--approximate",
    is_flag=True,
    help="E-prop: write the ALIF neurons, which NIR has no primitive for, as LIF neurons at the baseline threshold "
    "with reset to zero (the exact network stays in the graph's metadata).",
)
def export(checkpoint: Path, out: Path, dt: float | None, approximate: bool) -> None:
    """Write a trained network as a NIR graph: EventProp as Linear and CubaLIF layers, e-prop (with --approximate)
    as a LIF cycle and a leaky-integrator readout."""
    try:
        graph = to_nir(load(checkpoint), dt=dt, approximate=approximate)
    except NIRError as error:
        hint = "--approximate" if "ALIF" in str(error) else "--checkpoint"
        raise click.BadParameter(str(error), param_hint=hint) from None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--checkpoint") from None
    try:
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True)
        write_nir(graph, out)
    except OSError as error:
        # A read-only folder, a path through a file, a full disk: one line; a previous file there is kept.
        raise click.BadParameter(f"cannot write {out}: {error.strerror or error}", param_hint="--out") from None
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    click.echo(f"Wrote {out}: {len(graph.nodes)} nodes ({', '.join(dict.fromkeys(kinds))}), {len(graph.edges)} edges")
