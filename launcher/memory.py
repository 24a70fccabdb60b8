"""``pe-actors memory``: bytes per PE by category, next to the paper's Table 1 and Table 6 figures."""

from __future__ import annotations

import click
import numpy as np

from pe_actors.config import NETWORKS, network_config
from pe_actors.memory import (
    MEMORY_CATEGORIES,
    PAPER_FLOAT_BYTES,
    paper_table1_floats,
    paper_table6_floats,
    pe_memory,
)


def _kb(n_bytes: float) -> str:
    return f"{n_bytes / 1024:10.2f}"


@click.command("memory")
@click.option(
    "--network",
    type=click.Choice(sorted(NETWORKS)),
    default="gsc",
    show_default=True,
    help="Network whose sizes and constants to start from.",
)
@click.option("--n-in", type=click.IntRange(min=1), help="Input neurons (default: the network's).")
@click.option("--n-rec", type=click.IntRange(min=1), help="Recurrent ALIF neurons (default: the network's).")
@click.option("--n-out", type=click.IntRange(min=1), help="Output neurons (default: the network's).")
@click.option("--steps", type=click.IntRange(min=1), help="Time steps per sample, T (default: the network's).")
@click.option(
    "--pes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="PEs per group, P; each owns a slice of the recurrent neurons.",
)
@click.option(
    "--sub-batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Samples each PE vectorises, k (each adds its own eligibility and accumulator).",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    show_default=True,
    help="Floating-point type of the PE's arrays (the chip uses float32).",
)
def memory(network, n_in, n_rec, n_out, steps, pes, sub_batch, dtype) -> None:
    """Bytes each PE allocates, by category, read from the arrays a PE really holds.

    Printed next to the paper's Table 1 count for the same sizes and slice (its 80/20/12 network on one PE:
    24,980 floats = 97.57 KB) and its Table 6 E-prop and BPTT totals, with the ratio ours / paper.
    """
    sizes = {
        key: value
        for key, value in {"n_in": n_in, "n_rec": n_rec, "n_out": n_out, "n_steps": steps}.items()
        if value is not None
    }
    try:
        config = network_config(network).with_sizes(**sizes)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    if pes > config.n_rec:
        raise click.BadParameter(f"--pes {pes} exceeds the {config.n_rec} recurrent neurons", param_hint="--pes")
    report = pe_memory(config, pes, sub_batch, np.dtype(dtype).type)
    largest = max(report, key=lambda entry: entry.total)
    paper = paper_table1_floats(config.n_in, config.n_rec, config.n_out, config.n_steps, largest.neurons)
    click.echo(
        f"Network {config.n_in}/{config.n_rec}/{config.n_out}, T = {config.n_steps}, P = {pes}, "
        f"k = {sub_batch}, {dtype}; largest PE: PE {largest.index} with {largest.neurons} neurons"
    )
    click.echo(f"{'category':<14}{'ours KB':>10}{'paper KB':>10}{'ratio':>8}{'group KB':>11}")
    for name in MEMORY_CATEGORIES:
        ours = largest.bytes_by_category[name]
        theirs = paper[name] * PAPER_FLOAT_BYTES
        ratio = f"{ours / theirs:8.2f}" if theirs else f"{'-':>8}"
        group = sum(entry.bytes_by_category[name] for entry in report)
        click.echo(f"{name:<14}{_kb(ours)}{_kb(theirs)}{ratio}{_kb(group)}")
    ours_total = largest.total
    paper_total = sum(paper.values()) * PAPER_FLOAT_BYTES
    group_total = sum(entry.total for entry in report)
    click.echo(f"{'total':<14}{_kb(ours_total)}{_kb(paper_total)}{ours_total / paper_total:8.2f}{_kb(group_total)}")
    click.echo(
        f"Floats per input/recurrent synapse on a PE: {largest.floats_per_synapse:g} "
        f"(W, 2 ADAM moments, and per sample ea + accumulator; the paper's layout needs 7)"
    )
    eprop, bptt = paper_table6_floats(config.n_in, config.n_rec, config.n_out, config.n_steps)
    click.echo(
        f"Paper Table 6 for the whole network: E-prop {_kb(eprop * PAPER_FLOAT_BYTES).strip()} KB, "
        f"BPTT {_kb(bptt * PAPER_FLOAT_BYTES).strip()} KB; ours, whole group: {_kb(group_total).strip()} KB "
        f"(ratio to paper E-prop {group_total / (eprop * PAPER_FLOAT_BYTES):.2f})"
    )
