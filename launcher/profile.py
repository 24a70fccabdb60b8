"""``pe-actors profile``: wall time per PE function and step, like the paper's Figure 6, and the real-time check;
with ``--rule eventprop`` the time per PE of EventProp's four programs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from pe_actors.reports.figures import write_json
from pe_actors.reports.profile import plot_profile, plot_programs_profile
from pe_actors.rules import rule as rule_named
from pe_actors.studies.profiling import (
    ProfileSettings,
    function_profile_lines,
    measure_actors,
    profile_inprocess,
    profile_programs,
)
from pe_actors_launcher.plots import (
    network_options,
    out_option,
    prepare_out,
    resolve_network,
    rule_network,
    rule_options,
)
from pe_actors_launcher.setting_options import setting_options


def load_samples(data: Path, split: str, network: Any) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of ``split`` of ``data``, read by the network's rule's data source."""
    from pe_actors.rules import rule_of
    from pe_actors.run.config import ConfigError
    from pe_actors.run.data import load_splits

    try:
        x, labels = getattr(load_splits(rule_of(network).name, network, data).splits, split)
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--data") from None
    if x.ndim != 3 or x.shape[1:] != (network.n_steps, network.n_in):
        raise click.BadParameter(f"{str(data)!r} holds features of shape {x.shape[1:]}, the network needs "
                                 f"({network.n_steps}, {network.n_in})", param_hint="--data")
    return x, labels


def run_programs_profile(rule_name: str, network: Any, pes: int, sub_batch: int, batches: int, warmup: int,
                         seed: int, out_dir: Path) -> None:
    """The profile of a rule whose PEs take no per-synapse kernel (EventProp, a plug-in): the time per PE of each
    section of its programs on its example inputs; printed, and written as profile.json and profile.png."""
    spec = rule_named(rule_name)
    count = sub_batch * (warmup + batches)
    x = np.concatenate([spec.example_input(network, seed + k) for k in range(count)])
    labels = np.random.default_rng(seed).integers(0, network.n_out, count)
    summary = profile_programs(network, x, labels, n_pes=pes, sub_batch=sub_batch, batches=batches, warmup=warmup,
                               seed=seed)
    out_dir = prepare_out(out_dir)
    write_json(out_dir / "profile.json", summary)
    plot_programs_profile(summary, out_dir / "profile.png")
    sections = summary["sections"]
    click.echo(f"{spec.title} {rule_name}, T = {network.n_steps}, {summary['n_pes']} PEs, k = {sub_batch}, {batches} "
               "timed sub-batches on the rule's example inputs (in-process; us per step of the trial)")
    click.echo(f"{'PE':<4}{'layer':>6}{'neurons':>10}" + "".join(f"{name:>15}" for name in sections) + f"{'step':>10}")
    for entry in summary["per_pe"]:
        times = "".join(f"{entry['programs_s_per_step'][name] * 1e6:15.2f}" for name in sections)
        click.echo(f"{entry['pe']:<4}{entry['layer']:>6}{entry['neurons']:>10}{times}{entry['step_s'] * 1e6:10.2f}")
    verdict = "fits" if summary["fits_real_time"] else "does NOT fit"
    click.echo(f"slowest PE {summary['step_s'] * 1e3:.4f} ms per step: {verdict} the real-time budget of "
               f"{summary['budget_s'] * 1e3:g} ms")
    click.echo(f"wrote {out_dir / 'profile.png'} and {out_dir / 'profile.json'}")


@click.command("profile")
@rule_options("per PE and program (forward, loss, backward, weight update)")
@network_options
@setting_options(ProfileSettings)
@out_option()
def profile(
    rule, dt, network, n_in, n_rec, n_out, steps, pes, sub_batch, batches, warmup, actors, kernel, statistic, data,
    split, dtype, budget_ms, seed, out_dir,
) -> None:
    """Wall time per PE function and step, as in the paper's Figure 6, and whether a step fits the budget.

    Writes profile.png and profile.json into --out. The sync wait of the in-process group is the measured spike
    gather plus the barrier wait the PEs would see side by side. A rule whose PEs take no per-synapse kernel
    (--rule eventprop) gets the time per PE of each section of its programs on its example inputs.
    """
    if not rule_named(rule).takes("kernel", "inprocess"):
        # A rule whose PEs take no per-synapse kernel: the time of each section of its programs.
        if actors or data is not None:
            raise click.UsageError(f"--actors and --data belong to e-prop's per-function profile, not {rule}'s")
        return run_programs_profile(rule, rule_network(rule, network, dt, pes), pes, sub_batch, batches, warmup,
                                    seed, out_dir)
    rule_network(rule, network, dt, pes)  # refuses a setting of another rule and more PEs than neurons, naming them
    config = resolve_network(rule, network, n_in, n_rec, n_out, steps)
    if pes > config.n_rec:
        raise click.BadParameter(f"--pes {pes} exceeds the {config.n_rec} recurrent neurons", param_hint="--pes")
    x = labels = None
    if data is not None:
        x, labels = load_samples(data, split, config)
    out_dir = prepare_out(out_dir)
    result = profile_inprocess(config, n_pes=pes, sub_batch=sub_batch, batches=batches, warmup=warmup, x=x,
                               labels=labels, dtype=np.dtype(dtype).type, seed=seed, budget_s=budget_ms / 1e3,
                               kernel=kernel, statistic=statistic)
    summary = result.to_dict()
    summary["inputs"] = str(data) if data is not None else "standard normal (synthetic)"
    actor_timing = measure_actors(config, pes, sub_batch, batches, warmup, seed, np.dtype(dtype).type,
                                  budget_ms / 1e3, x, labels) if actors else None
    summary |= {"actors": actor_timing} if actors else {}
    write_json(out_dir / "profile.json", summary)
    plot_profile(result, out_dir / "profile.png", actor_timing)
    click.echo(
        f"Network {config.n_in}/{config.n_rec}/{config.n_out}, T = {config.n_steps}, P = {pes}, k = {sub_batch}, "
        f"{dtype}, {batches} timed sub-batches (in-process, {kernel} kernels; shares of the {statistic} step)"
    )
    click.echo("\n".join(function_profile_lines(result, summary, budget_ms, actor_timing)))
    click.echo(f"wrote {out_dir / 'profile.png'} and {out_dir / 'profile.json'}")
