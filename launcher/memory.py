"""``pe-actors memory``: bytes per PE by category, next to the paper's Table 1 and Table 6 figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from pe_actors.core.engine import EVALUATION_BATCH
from pe_actors.reports.figures import write_json
from pe_actors.reports.memory import PE_SRAM_BYTES, plot_memory_vs_steps, plot_pe_memory
from pe_actors.rules import rule as rule_named
from pe_actors.studies.memory import (
    MEMORY_CATEGORIES,
    PAPER_FLOAT_BYTES,
    MemorySettings,
    memory_vs_steps,
    paper_comparison,
    pe_memory,
)
from pe_actors.synapses import DIGITAL
from pe_actors_launcher.plots import (
    network_options,
    out_option,
    prepare_out,
    resolve_network,
    rule_network,
    rule_options,
)
from pe_actors_launcher.setting_options import setting_options


def host_estimate(rule: str, config, batch: int, dtype: str) -> dict[str, float]:
    """Print and return what a training run of ``config`` at ``batch`` needs on the host, by part: the estimate
    ``train`` checks against the available memory before it allocates anything."""
    from pe_actors.studies.memory import run_memory_estimate

    parts = run_memory_estimate(rule, config, batch, np.dtype(dtype).itemsize, generated=True)
    detail = ", ".join(f"{name} {size / 2**20:.1f}" for name, size in parts.items())
    click.echo(f"A training run at batch {batch} (evaluating {max(batch, EVALUATION_BATCH)} samples at a time) needs "
               f"about {sum(parts.values()) / 2**20:.1f} MiB on the host ({detail} MiB), the estimate train checks "
               "before it starts")
    return parts


def rows_memory(rule_name: str, config, pes: int, sub_batch: int, dtype: str, out_dir) -> None:
    """The memory of a rule without a paper count to compare with: bytes per PE of its network by category (the
    rule's ``memory``), against a PE's 128 KB of SRAM."""
    spec = rule_named(rule_name)
    categories = spec.memory_categories.resolve()
    rows = spec.memory(config, pes, DIGITAL, np.dtype(dtype).type, sub_batch)
    sizes = "-".join(map(str, getattr(config, "sizes", None) or (config.n_in, config.n_out)))
    click.echo(f"{spec.title} {sizes}, T = {config.n_steps}, P = {pes}, k = {sub_batch}, {dtype}; KB per PE while "
               "training (a SpiNNaker 2 PE has 128 KB of SRAM)")
    click.echo(f"{'PE':<18}" + "".join(f"{n:>13}" for n in categories) + f"{'total':>9}")
    for row in rows:
        cells = "".join(f"{row['bytes_by_category'].get(n, 0) / 1024:13.2f}" for n in categories)
        click.echo(f"{row['label']:<18}{cells}{row['total_bytes'] / 1024:9.2f}")
    largest = max(row["total_bytes"] for row in rows)
    verdict = "fits" if largest <= PE_SRAM_BYTES else "does NOT fit"
    click.echo(f"largest PE {largest / 1024:.2f} KB: {verdict} in 128 KB of SRAM")
    out_dir = prepare_out(out_dir)
    host = host_estimate(rule_name, config, sub_batch, dtype)
    summary = {"rule": rule_name, "network": config.to_dict(), "sub_batch": sub_batch, "dtype": dtype,
               "host_run_bytes": host}
    write_json(out_dir / "memory.json", {**summary, "pe_sram_bytes": PE_SRAM_BYTES, "per_pe": rows})
    title = f"{spec.title} {sizes}, k = {sub_batch}, {dtype}"
    plot_pe_memory(rows, categories, out_dir / "memory.png", title)
    click.echo(f"wrote {out_dir / 'memory.json'} and {out_dir / 'memory.png'}")


def print_memory_vs_steps(config: Any, pes: int, sub_batch: int, dtype: str, eprop_neurons: int, bptt_neurons: int,
                          max_steps: int, out_dir: Path) -> None:
    """e-prop against BPTT memory over T (memory_vs_steps.json and .png) and where BPTT overtakes."""
    report = memory_vs_steps(config, pes, sub_batch, np.dtype(dtype).type, eprop_neurons, bptt_neurons, max_steps)
    write_json(out_dir / "memory_vs_steps.json", report)
    plot_memory_vs_steps(report, out_dir / "memory_vs_steps.png")
    for panel in report["panels"].values():
        text = {
            key: "never" if value is None else ("from T = 1" if value == 0 else f"T = {value:.0f}")
            for key, value in panel["crossover_steps"].items()
        }
        click.echo(
            f"E-prop {panel['eprop_neurons']} vs BPTT {panel['bptt_neurons']} neurons: BPTT needs more memory "
            f"beyond ours {text['ours']}, paper {text['paper']}"
        )
    click.echo(f"wrote {out_dir / 'memory_vs_steps.png'} and {out_dir / 'memory_vs_steps.json'}")


@click.command("memory")
@rule_options("bytes per PE against 128 KB of SRAM; no --plot")
@network_options
@setting_options(MemorySettings)
@out_option()
def memory(
    rule, dt, network, n_in, n_rec, n_out, steps, pes, sub_batch, dtype, plot, eprop_neurons, bptt_neurons, max_steps,
    out_dir,
) -> None:
    """Bytes each PE allocates, by category, read from the arrays a PE really holds.

    Printed next to the paper's Table 1 count for the same sizes and slice (its 80/20/12 network on one PE:
    24,980 floats = 97.57 KB) and its Table 6 E-prop and BPTT totals, with the ratio ours / paper. With --plot,
    E-prop vs BPTT memory against the number of time steps, ours and the paper's, and where BPTT overtakes.
    With --rule eventprop: bytes per PE of the yinyang network by category, against a PE's 128 KB of SRAM.
    """
    spec = rule_named(rule)
    if spec.paper_memory is None:
        if plot:
            raise click.UsageError(f"--plot compares a rule with its paper's BPTT count; the {rule} rule has none")
        rows_memory(rule, rule_network(rule, network, dt, pes), pes, sub_batch, dtype, out_dir)
        return
    config = resolve_network(rule, network, n_in, n_rec, n_out, steps)
    if pes > config.n_rec:
        raise click.BadParameter(f"--pes {pes} exceeds the {config.n_rec} recurrent neurons", param_hint="--pes")
    report = pe_memory(config, pes, sub_batch, np.dtype(dtype).type)
    largest = max(report, key=lambda entry: entry.total)
    paper = spec.paper_memory(config.n_in, config.n_rec, config.n_out, config.n_steps, largest.neurons)
    click.echo("\n".join(paper_comparison(paper, config, report, pes, sub_batch, dtype)))
    host = host_estimate(rule, config, sub_batch, dtype)
    out_dir = prepare_out(out_dir)
    per_pe = [entry.as_row() for entry in report]
    summary = {"rule": rule, "network": config.to_dict(), "pes": pes, "sub_batch": sub_batch, "dtype": dtype,
               "host_run_bytes": host}
    paper_bytes = {name: paper[name] * PAPER_FLOAT_BYTES for name in paper}
    write_json(
        out_dir / "memory.json",
        {**summary, "pe_sram_bytes": PE_SRAM_BYTES, "per_pe": per_pe, "paper_table1_bytes_largest_pe": paper_bytes},
    )
    title = f"e-prop {config.n_in}/{config.n_rec}/{config.n_out}, T = {config.n_steps}, P = {pes}, k = {sub_batch}"
    plot_pe_memory(per_pe, MEMORY_CATEGORIES, out_dir / "memory.png", title)
    click.echo(f"wrote {out_dir / 'memory.json'} and {out_dir / 'memory.png'}")
    if plot:
        print_memory_vs_steps(config, pes, sub_batch, dtype, eprop_neurons, bptt_neurons, max_steps, out_dir)
