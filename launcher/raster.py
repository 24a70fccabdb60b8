"""``pe-actors raster``: input, recurrent spikes and readout of one sample over time, from a checkpoint or fresh
weights (the forward pass of docs/eprop.md, recorded step by step by
:func:`pe_actors.rules.eprop.bptt.bptt_forward`); for EventProp (docs/eventprop.md) the input, hidden and output
spikes of one Yin-Yang sample with the output first-spike times and the predicted class."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from pe_actors.reports.figures import pyplot, save_figure, write_json
from pe_actors.rules.eprop.bptt import bptt_forward
from pe_actors.rules.eprop.config import NetworkConfig, infer_config
from pe_actors.rules.eprop.gradients import init_params
from pe_actors.rules.eprop.readout import softmax
from pe_actors_launcher.plots import network_options, out_option, prepare_out, resolve_network

#: Length of one time step in seconds (10 ms on the chip), for firing rates.
STEP_S = 0.01


def load_checkpoint_params(path: Path) -> tuple[dict[str, np.ndarray], NetworkConfig, list[str] | None]:
    """Weights, network and class names of a checkpoint (or the best checkpoint of a run directory)."""
    from pe_actors.core.checkpoint import load_checkpoint, resolve_checkpoint

    try:
        checkpoint = load_checkpoint(resolve_checkpoint(path, prefer="best"))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--checkpoint") from error
    params = {key: checkpoint.engine_state[key] for key in ("w_in", "w_rec", "w_out") if key in checkpoint.engine_state}
    network = checkpoint.meta.get("network")
    try:
        base = NetworkConfig.from_dict(network) if isinstance(network, dict) else None
        config = infer_config(params, base.n_steps if base else NetworkConfig().n_steps, base)
    except ValueError as error:
        raise click.BadParameter(f"checkpoint {checkpoint.path}: {error}", param_hint="--checkpoint") from error
    names = checkpoint.meta.get("class_names")
    return params, config, list(names) if isinstance(names, list) else None


def record_sample(params: dict[str, np.ndarray], x: np.ndarray, config: NetworkConfig) -> dict[str, np.ndarray]:
    """Spikes z (T, n_rec), readout y^t = zbar^t W_out (T, n_out) and ybar (n_out) of one sample x (T, n_in)."""
    dtype = np.result_type(params["w_in"], np.float32)
    record = bptt_forward({key: np.asarray(value, dtype) for key, value in params.items()},
                          np.asarray(x, dtype)[None], config)  # fmt: skip
    zbar = record["zbar"][:, 0]
    return {
        "z": record["z"][:, 0],
        "v": record["v"][:, 0],
        "y": zbar @ np.asarray(params["w_out"], dtype),
        "logits": record["logits"][0],
    }


def raster_summary(trace: dict[str, np.ndarray], label: int | None, class_names: list[str]) -> dict:
    """Spike counts and rates, prediction and probabilities of a recorded sample."""
    z = trace["z"]
    counts = z.sum(axis=0)
    n_steps = z.shape[0]
    probabilities = softmax(trace["logits"][None].astype(np.float64))[0]
    predicted = int(np.argmax(trace["logits"]))
    return {
        "label": label,
        "label_name": None if label is None else class_names[label],
        "predicted": predicted,
        "predicted_name": class_names[predicted],
        "logits": trace["logits"],
        "probabilities": probabilities,
        "total_spikes": int(counts.sum()),
        "mean_rate_hz": float(counts.mean() / (n_steps * STEP_S)),
        "silent_neurons": int(np.sum(counts == 0)),
        "spikes_per_step": z.sum(axis=1),
        "spikes_per_neuron": counts,
    }


def plot_raster(
    x: np.ndarray,
    trace: dict,
    summary: dict,
    class_names: list[str],
    title: str,
    path: Path,
    neurons_by_pe: list[slice] | None = None,
) -> Path:
    """Three panels over time: the input features, the recurrent spike raster (with ``neurons_by_pe``, each PE's
    neurons in a band of its own colour, labelled), the readout y^t per class."""
    plt = pyplot()
    n_steps = x.shape[0]
    fig, (ax_in, ax_rec, ax_out) = plt.subplots(
        3, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": [1, 1.4, 1]}
    )
    image = ax_in.imshow(x.T, aspect="auto", origin="lower", cmap="viridis", extent=(-0.5, n_steps - 0.5, -0.5,
                         x.shape[1] - 0.5), interpolation="nearest")  # fmt: skip
    fig.colorbar(image, cax=ax_in.inset_axes([1.01, 0.0, 0.015, 1.0]), label="feature")
    ax_in.set_ylabel("input channel")
    ax_in.set_title(title, fontsize=10)
    steps, neurons = np.nonzero(trace["z"])
    if neurons_by_pe:
        palette = plt.get_cmap("tab10")
        owner = np.zeros(trace["z"].shape[1], int)
        for pe, part in enumerate(neurons_by_pe):
            owner[part] = pe
            if pe % 2:
                ax_rec.axhspan(part.start - 0.5, part.stop - 0.5, color="0.93", zorder=0)
            ax_rec.text(1.005, (part.start + part.stop - 1) / 2 / trace["z"].shape[1], f"PE {pe}",
                        transform=ax_rec.transAxes, fontsize=6, va="center", color=palette(pe % 10))  # fmt: skip
        ax_rec.scatter(steps, neurons, s=4, marker="|", c=[palette(owner[n] % 10) for n in neurons])
    else:
        ax_rec.scatter(steps, neurons, s=4, marker="|", color="black")
    ax_rec.set_ylim(-0.5, trace["z"].shape[1] - 0.5)
    ax_rec.set_ylabel("recurrent neuron")
    ax_rec.set_title(
        f"{summary['total_spikes']} spikes, {summary['mean_rate_hz']:.1f} Hz mean rate, "
        f"{summary['silent_neurons']} silent neurons",
        fontsize=9,
    )
    colors = plt.get_cmap("tab20")
    for k, name in enumerate(class_names):
        is_label = k == summary["label"]
        is_predicted = k == summary["predicted"]
        width = 2.2 if is_label or is_predicted else 0.8
        marker = " (label)" if is_label else ""
        marker += " (predicted)" if is_predicted else ""
        ax_out.plot(np.arange(n_steps), trace["y"][:, k], color=colors(k % 20), linewidth=width, label=name + marker)
    ax_out.set_xlabel("time step (10 ms)")
    ax_out.set_ylabel("readout y^t")
    ax_out.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return save_figure(fig, path)


def eventprop_raster(checkpoint: Path | None, split: str, index: int, seed: int, out_dir: Path | None) -> None:
    """The EventProp raster of Yin-Yang sample ``index`` of ``split`` (generated with the published seeds)."""
    from pe_actors.rules.eventprop.config import EVENTPROP_NETWORKS, EventPropConfig
    from pe_actors.rules.eventprop.encoding import encode
    from pe_actors.rules.eventprop.network import forward, init_eventprop_params, read_output
    from pe_actors.runtime.group import weights_only
    from pe_actors_datasets import YINYANG_CLASS_NAMES
    from pe_actors_datasets.yinyang import YINYANG_SPLITS, yinyang

    if checkpoint is not None:
        from pe_actors.core.checkpoint import load_checkpoint, resolve_checkpoint

        try:
            loaded = load_checkpoint(resolve_checkpoint(checkpoint, prefer="best"))
            config = EventPropConfig.from_dict(loaded.meta["network"])
        except (ValueError, KeyError, TypeError) as error:
            raise click.BadParameter(str(error), param_hint="--checkpoint") from error
        params, source = weights_only(loaded.engine_state), f"checkpoint {checkpoint}"
    else:
        config = EVENTPROP_NETWORKS["yinyang"]
        params, source = init_eventprop_params(config, seed), f"fresh weights (seed {seed})"
    size, split_seed = YINYANG_SPLITS[split]
    if index >= size:
        raise click.BadParameter(f"--index {index} but the {split} split holds {size} samples", param_hint="--index")
    features, labels = yinyang(index + 1, split_seed)
    spikes = encode(features[index : index + 1], config)
    tapes = forward({k: np.asarray(v, np.float64) for k, v in params.items()}, spikes, config)
    readout = read_output(tapes[-1][2], tapes[-1][1], None, config)
    first = readout.first[0]
    predicted, label = int(np.argmax(readout.logits[0])), int(labels[index])
    layers = [spikes[0]] + [tape[2][0] for tape in tapes]
    times = np.arange(config.n_steps) * config.dt
    plt = pyplot()
    heights = [1.2] + [2.5] * (len(layers) - 2) + [1.2]
    fig, axes = plt.subplots(len(layers), 1, figsize=(8, 1.6 * sum(heights)), sharex=True,
                             gridspec_kw={"height_ratios": heights})  # fmt: skip
    names = ["input (x, y, 1-x, 1-y, bias)"] + [f"layer {layer}" for layer in range(1, len(layers) - 1)] + ["output"]
    for ax, raster, name in zip(axes, layers, names, strict=True):
        steps, neurons = np.nonzero(raster)
        ax.scatter(times[steps], neurons, s=6, marker="|", color="black")
        ax.set_ylabel(name, fontsize=8)
        ax.set_ylim(-0.5, raster.shape[1] - 0.5)
    out_ax = axes[-1]
    for k, step in enumerate(first):
        if step < config.n_steps:
            colour = "tab:green" if k == predicted else "tab:red"
            out_ax.scatter([step * config.dt], [k], s=60, facecolors="none", edgecolors=colour)
    out_ax.set_yticks(range(config.n_out), YINYANG_CLASS_NAMES[: config.n_out], fontsize=8)
    out_ax.set_xlabel("time (ms)")
    verdict = "correct" if predicted == label else "wrong"
    axes[0].set_title(
        f"Yin-Yang {split} sample {index} (x = {features[index, 0]:.2f}, y = {features[index, 1]:.2f}), label "
        f"{YINYANG_CLASS_NAMES[label]}, predicted {YINYANG_CLASS_NAMES[predicted]} ({verdict}); {source}",
        fontsize=8,
    )
    out_dir = prepare_out(out_dir)
    summary = {
        "rule": "eventprop",
        "sample": f"Yin-Yang {split} sample {index}",
        "source": source,
        "network": config.to_dict(),
        "label": YINYANG_CLASS_NAMES[label],
        "predicted": YINYANG_CLASS_NAMES[predicted],
        "first_spike_ms": {
            YINYANG_CLASS_NAMES[k]: (None if s >= config.n_steps else float(s * config.dt)) for k, s in enumerate(first)
        },  # fmt: skip
        "spikes_per_layer": [int(r.sum()) for r in layers],
    }
    write_json(out_dir / "raster.json", summary)
    save_figure(fig, out_dir / "raster.png")
    spikes_text = ", ".join(f"{YINYANG_CLASS_NAMES[k]} {'silent' if v is None else f'{v:g} ms'}"
                            for k, v in enumerate(summary["first_spike_ms"].values()))  # fmt: skip
    click.echo(
        f"{summary['sample']}: label {summary['label']}, predicted {summary['predicted']}; first spikes: "
        f"{spikes_text}; spikes per layer {summary['spikes_per_layer']}"
    )
    click.echo(f"wrote {out_dir / 'raster.png'} and {out_dir / 'raster.json'}")


@click.command("raster")
@click.option(
    "--rule",
    type=click.Choice(["eprop", "eventprop"]),
    default=None,
    help="The rule of fresh weights (default eprop); a --checkpoint says its own rule. EventProp shows a Yin-Yang "
    "sample of --split (generated with the published seeds) at --index.",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, path_type=Path),
    help="Checkpoint directory, or a run directory (its best checkpoint); default: fresh weights from --seed.",
)
@network_options
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Prepared features to take the sample from (default: a standard normal input, no label).",
)
@click.option(
    "--split",
    type=click.Choice(["train", "validation", "test"]),
    default="test",
    show_default=True,
    help="Split of --data.",
)
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True, help="Sample index in --split.")
@click.option(
    "--pes",
    type=click.IntRange(min=1),
    default=None,
    help="e-prop: PEs per group, P; the recurrent neurons are coloured by the PE that holds them [default: 12, "
    "at most one per neuron].",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of fresh weights and inputs."
)
@out_option()
def raster(rule, checkpoint, network, n_in, n_rec, n_out, steps, data, split, index, pes, seed, out_dir) -> None:
    """Spike raster of one sample: its input features, the recurrent neurons' spikes and the readout per class over
    time, with the prediction. Writes raster.png and raster.json into --out.

    The network comes from --checkpoint (its stored network and weights; the size options are ignored) or is
    fresh (--network and size options, weights from --seed). An EventProp checkpoint (or --rule eventprop) shows
    the input, hidden and output spikes of a Yin-Yang sample with the output first-spike times.
    """
    if checkpoint is not None and rule is None:
        from pe_actors.core.checkpoint import read_meta, resolve_checkpoint

        try:
            rule = read_meta(resolve_checkpoint(checkpoint, prefer="best")).get("rule", "eprop")
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--checkpoint") from error
    if rule == "eventprop":
        if data is not None:
            raise click.BadParameter("EventProp rasters take Yin-Yang samples; leave out --data", param_hint="--data")
        eventprop_raster(checkpoint, split, index, seed, out_dir)
        return
    class_names = None
    if checkpoint is not None:
        params, config, class_names = load_checkpoint_params(checkpoint)
        source = f"checkpoint {checkpoint}"
    else:
        config = resolve_network(network, n_in, n_rec, n_out, steps)
        params = init_params(config, seed)
        source = f"fresh weights (seed {seed})"
    label = None
    if data is not None:
        from pe_actors_launcher.profile import load_samples

        features, labels = load_samples(data, split, config.n_steps, config.n_in)
        if index >= len(features):
            raise click.BadParameter(f"--index {index} but {split} holds {len(features)} samples", param_hint="--index")
        x = np.asarray(features[index], np.float32)
        label = int(labels[index])
        if class_names is None:
            from pe_actors_datasets import load_prepared

            class_names = load_prepared(data).class_names
        sample = f"{split} sample {index} of {data}"
    elif checkpoint is not None:
        # A trained network shows what it does on its own data: the sample of the data its checkpoint records.
        from pe_actors.core.checkpoint import load_checkpoint as read_checkpoint
        from pe_actors.core.checkpoint import resolve_checkpoint
        from pe_actors.run.config import ConfigError
        from pe_actors.run.data import recorded_dataset

        record = read_checkpoint(resolve_checkpoint(checkpoint, prefer="best")).record
        try:
            dataset, where = recorded_dataset(record, config)
        except ConfigError as error:
            raise click.BadParameter(f"the checkpoint's data: {error}; give --data", param_hint="--data") from None
        features, labels = getattr(dataset.splits, split)
        where = f"{where}, as the checkpoint records ({split} split)"
        if index >= len(features):
            raise click.BadParameter(f"--index {index} but {split} holds {len(features)} samples", param_hint="--index")
        x, label = np.asarray(features[index], np.float32), int(labels[index])
        sample = f"sample {index} of {where}"
    else:
        x = np.random.default_rng(seed).standard_normal((config.n_steps, config.n_in)).astype(np.float32)
        sample = f"standard normal input (seed {seed})"
    if class_names is None or len(class_names) != config.n_out:
        class_names = [f"class {k}" for k in range(config.n_out)]
    trace = record_sample(params, x, config)
    summary = raster_summary(trace, label, class_names)
    out_dir = prepare_out(out_dir)
    c = config
    pes = min(12, c.n_rec) if pes is None else pes
    if pes > c.n_rec:
        raise click.BadParameter(f"--pes {pes} exceeds the {c.n_rec} recurrent neurons", param_hint="--pes")
    from pe_actors.core.partition import split_neurons

    neurons_by_pe = split_neurons(c.n_rec, pes)
    title = f"{sample}\n{source}; network {c.n_in}/{c.n_rec}/{c.n_out}, neurons coloured by PE (P = {pes})"
    layout = [[part.start, part.stop] for part in neurons_by_pe]
    write_json(
        out_dir / "raster.json",
        {"sample": sample, "source": source, "network": c.to_dict(), "neurons_by_pe": layout, **summary},
    )
    plot_raster(x, trace, summary, class_names, title, out_dir / "raster.png", neurons_by_pe)
    verdict = "" if label is None else f", label {summary['label_name']}"
    click.echo(
        f"{sample}: predicted {summary['predicted_name']}{verdict}; {summary['total_spikes']} spikes "
        f"({summary['mean_rate_hz']:.1f} Hz mean, {summary['silent_neurons']} silent neurons)"
    )
    click.echo(f"wrote {out_dir / 'raster.png'} and {out_dir / 'raster.json'}")
