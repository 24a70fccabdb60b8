"""Network configuration: sizes and time constants (docs/eprop.md).

Users give time constants in steps of ``dt`` (10 ms on the chip); the decay factors ``alpha``, ``rho`` and
``kappa`` are derived here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from pe_actors.core.fields import from_plain_dict
from pe_actors.core.settings import ConfigError
from pe_actors.networks import CompiledGraph


@dataclass(frozen=True)
class EpropConfig:
    """Sizes and constants of the ALIF SRNN of docs/eprop.md (defaults: the ``gsc`` network).

    Time constants are in time steps: ``alpha = exp(-1/tau_m)``, ``rho = exp(-1/tau_a)``,
    ``kappa = exp(-1/tau_out)``.
    """

    n_in: int = 80
    n_rec: int = 120
    n_out: int = 12
    n_steps: int = 100
    tau_m: float = 5.0
    tau_a: float = 150.0
    tau_out: float = 10.0
    b0: float = 1.6
    beta: float = 0.184

    def __post_init__(self) -> None:
        for name in ("n_in", "n_rec", "n_out", "n_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"EpropConfig.{name} must be a positive integer, got {value!r}")
        for name in ("tau_m", "tau_a", "tau_out"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"EpropConfig.{name} must be a positive time constant in steps, got {value!r}")
        for name in ("b0", "beta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"EpropConfig.{name} must be a finite number >= 0, got {value!r}")

    @property
    def alpha(self) -> float:
        """Membrane decay per step, exp(-1/tau_m)."""
        return math.exp(-1.0 / self.tau_m)

    @property
    def rho(self) -> float:
        """Threshold-adaptation decay per step, exp(-1/tau_a)."""
        return math.exp(-1.0 / self.tau_a)

    @property
    def kappa(self) -> float:
        """Readout (and eligibility low-pass) decay per step, exp(-1/tau_out)."""
        return math.exp(-1.0 / self.tau_out)

    @property
    def n_pre(self) -> int:
        """Presynaptic neurons of a recurrent neuron: the inputs, then the recurrent neurons."""
        return self.n_in + self.n_rec

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, for msgpack metadata and run configs."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EpropConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError that lists the valid ones."""
        return from_plain_dict(cls, values)

    def with_sizes(self, **sizes: int) -> EpropConfig:
        """A copy with other sizes (or constants)."""
        return replace(self, **sizes)


#: ``gsc``: keyword spotting on 80 speech features; ``shd``: the Spiking Heidelberg Digits' 700 channels binned into
#: 100 steps of 10 ms, 20 classes (the sizes follow the data: a run sets n_in and n_out from it).
EPROP_NETWORKS: dict[str, EpropConfig] = {
    "gsc": EpropConfig(),
    "shd": EpropConfig(n_in=700, n_rec=128, n_out=20, n_steps=100),
}

#: The names e-prop's network description and networks had before the rules stood side by side (still read).
NetworkConfig = EpropConfig
NETWORKS = EPROP_NETWORKS


def network_config(name: str) -> EpropConfig:
    """The named network configuration; the valid names are the keys of :data:`EPROP_NETWORKS`."""
    try:
        return EPROP_NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; valid names are {sorted(EPROP_NETWORKS)}") from None


def run_network(settings: Any) -> EpropConfig:
    """The network a run's settings name (``settings.network``); a ConfigError names ``pes`` when a group would
    have more PEs than recurrent neurons."""
    network = network_config(settings.network)
    if settings.pes > network.n_rec:
        raise ConfigError(f"--pes {settings.pes} exceeds the {network.n_rec} recurrent neurons", "pes")
    return network


def event_binning(network: Any) -> tuple[float, int]:
    """(bin in ms, steps) of event data for ``network``: its T steps over 1 s; a network graph's own step."""
    if isinstance(network, CompiledGraph):
        return network.network.dt_s * 1000.0, int(network.n_steps)
    return 1000.0 / network.n_steps, int(network.n_steps)


def infer_config(params: dict, n_steps: int, base: EpropConfig | None = None) -> EpropConfig:
    """The configuration whose sizes match ``params`` and ``n_steps``; constants from ``base`` (default gsc).

    When ``base`` is given its sizes must agree with the arrays, otherwise a ValueError names the mismatch.
    """
    for key in ("w_in", "w_rec", "w_out"):
        if key not in params:
            raise ValueError(f"params lacks {key!r}; expected keys 'w_in', 'w_rec', 'w_out'")
    n_in, n_rec = params["w_in"].shape
    if params["w_rec"].shape != (n_rec, n_rec) or params["w_out"].shape[0] != n_rec:
        raise ValueError(
            f"inconsistent weight shapes: w_in {params['w_in'].shape}, w_rec {params['w_rec'].shape}, "
            f"w_out {params['w_out'].shape}; expected (n_in, n_rec), (n_rec, n_rec), (n_rec, n_out)"
        )
    sizes = {"n_in": n_in, "n_rec": n_rec, "n_out": params["w_out"].shape[1], "n_steps": n_steps}
    if base is None:
        return EpropConfig(**sizes)
    for key, value in sizes.items():
        if getattr(base, key) != value:
            raise ValueError(f"config.{key} = {getattr(base, key)} but the arrays imply {value}")
    return base
