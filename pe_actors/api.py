"""The notebook-level API: :func:`train` trains as ``pe-actors train`` does, with its options as keyword arguments,
and returns a :class:`Run`; :func:`adapt` runs ``pe-actors adapt`` and returns its curve; :func:`load` turns a run
directory or checkpoint into a :class:`Model` with ``predict``, ``evaluate`` and ``state``.

A run's result is its best-validation epoch: that epoch's checkpoint is kept, :func:`load` (like
``pe-actors evaluate``) picks it, and :attr:`Run.best` holds its record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pe_actors.core.logs import console
from pe_actors.run.config import RunConfig, resolve
from pe_actors.run.model import Model, load
from pe_actors.run.rundir import Run
from pe_actors.training.trainer import Callback

__all__ = ["Model", "Run", "RunConfig", "adapt", "load", "train"]


def train(
    config: str | Path | Mapping[str, Any] | RunConfig | None = None,
    data: Any = None,
    callbacks: Sequence[Callback] = (),
    **options: Any,
) -> Run:
    """Train as ``pe-actors train`` does and return the finished :class:`Run`.

    ``options`` are ``train``'s options as keyword arguments (``sub_batch=4`` for ``--sub-batch 4``,
    ``progress=False`` for ``--no-progress``); ``config`` a recipe's name (``"gsc-paper-batch100"``), a run-config
    TOML file, a mapping or a :class:`RunConfig`, which the options override; ``data`` a prepared feature
    directory, or the arrays to train on (``(x, labels)``, of which a validation and a test split are held out,
    or ``{"train": (x, labels), "validation": ..., "test": ...}``); ``callbacks``
    (:class:`pe_actors.training.trainer.Callback` objects) are called after the run's own. An unknown option is a
    TypeError naming it, a bad value a ValueError naming the option; Ctrl-C stops the run after the current batch
    (KeyboardInterrupt), and ``train(resume=RUN)`` continues it. Its lines are logged (:mod:`pe_actors.core.logs`)
    and printed while it runs, only its warnings with ``progress=False``.
    """
    from pe_actors.run.config import settings_of
    from pe_actors.run.training import train as run_training

    if not isinstance(options.get("network", ""), str):
        options["nir"] = graph_file(options.pop("network"), options.get("out"), options.get("seed", 0))
    arrays = None
    if data is not None and not isinstance(data, (str, Path)):
        arrays = data
    elif data is not None:
        options["data"] = data
    given = {**settings_of(config), **options}
    if given.get("resume") is None:
        run_config = resolve(options, config)
    else:
        unknown = sorted(set(given) - set(RunConfig.names()))
        if unknown:
            raise TypeError(f"unknown option {unknown[0]!r}; valid options are {sorted(RunConfig.names())}")
        run_config = RunConfig(**given)
    with console(run_config.progress):
        return run_training(run_config, data=arrays, callbacks=callbacks, given=given)


def graph_file(network: Any, out: str | Path | None, seed: int) -> Path:
    """A network object given to :func:`train` as the NIR file the run trains (``--nir``): a network graph (its
    weights drawn from ``seed``) or a network read by ``from_nir`` (its own weights), written into the run
    directory under a name that its content decides, so that a resumed run finds it again."""
    import hashlib
    import json

    import numpy as np

    from pe_actors.interop.nir import ImportedNetwork, graph_to_nir, write_nir
    from pe_actors.networks import Network
    from pe_actors.run.training import DEFAULT_OUT

    if isinstance(network, ImportedNetwork) and isinstance(getattr(network.network, "network", None), Network):
        network = ImportedNetwork(None, network.network.network, network.params)
    if isinstance(network, Network):
        network = ImportedNetwork(None, network, network.init_params(seed))
    if not isinstance(network, ImportedNetwork) or not isinstance(network.network, Network):
        raise TypeError(f"network must be a named network, a pe_actors.networks.Network or a network read by "
                        f"pe_actors.from_nir, got {type(network).__name__}")
    graph = graph_to_nir(network.network, network.params, approximate=True)
    digest = hashlib.sha256(json.dumps(network.network.to_dict(), sort_keys=True).encode())
    for key in sorted(network.params):
        digest.update(key.encode() + np.ascontiguousarray(network.params[key], np.float64).tobytes())
    folder = Path(out or DEFAULT_OUT)
    folder.mkdir(parents=True, exist_ok=True)
    return write_nir(graph, folder / f"network-{digest.hexdigest()[:12]}.nir")


def adapt(config: Mapping[str, Any] | None = None, **options: Any) -> dict:
    """Adapt a trained network as ``pe-actors adapt`` does, with its options as keyword arguments
    (``checkpoint=RUN``, ``gsc_dir=FOLDER``, ``samples=100``, ``progress=False``) over ``config`` (a mapping or a
    :class:`pe_actors.run.adapting.AdaptRunConfig`), and return its ``adaptation.json``: the curve (accuracy on
    the new condition and the original task after each evaluation point), the sample order and the settings. The
    adapted network is ``load(out)``. An unknown option is a TypeError naming it, a bad value a ValueError naming
    the option."""
    from pe_actors.run.adapting import AdaptRunConfig
    from pe_actors.run.adapting import adapt as run_adaptation

    settings = AdaptRunConfig.of(config, **options)
    with console(settings.progress):
        return run_adaptation(settings)
