"""The EventProp network: layer sizes, time step, LIF and loss constants (docs/eventprop.md, "Network").

Time is in milliseconds. The decay factors ``a = exp(-dt/tau_syn)`` and ``b = exp(-dt/tau_mem)`` are derived
here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from pe_actors.core.fields import from_plain_dict
from pe_actors.core.settings import Settings, choice, float_range, setting

#: How the PEs of a group exchange packets (docs/eventprop.md, "On the PEs"): ``pipelined``, one round per time
#: step with layer l one step ahead of layer l - 1, as on the chip; or ``layered``, one round per layer carrying the
#: packets of all T steps.
SCHEDULES = ("pipelined", "layered")


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"EventPropConfig.{name} must be a positive integer, got {value!r}")


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"EventPropConfig.{name} must be a finite number > 0, got {value!r}")


#: The output times the loss compares: the first spike step, or the threshold crossing within it.
LOSS_TIMES = ("step", "crossing")


@dataclass(frozen=True)
class EventPropConfig:
    """A feed-forward network of LIF layers trained with EventProp (defaults: the ``yinyang`` network).

    ``sizes`` = (n_0, n_1, ..., n_L): n_0 input channels (a binary raster), then L LIF layers, the last one the
    output layer. ``n_steps`` steps of ``dt`` ms. ``init_mean`` / ``init_std`` give the normal distribution of
    each weight matrix W_{l-1} (one entry per matrix, in units of ``theta``).

    The latency code of the Yin-Yang features: a feature value v in [0, 1] spikes once, at step
    round(v * ``t_code`` / dt) (larger value, later spike); the bias channel spikes at step 0.

    The loss (docs/eventprop.md, "Loss"): ``loss_time`` says which output times the softmax of temperature
    ``tau0`` compares, ``"step"`` (f dt, the first spike step) or ``"crossing"`` (the threshold crossing
    interpolated within that step, the times the prediction ranks); ``alpha_reg`` and ``tau1`` weigh the
    early-spike term of the label output; ``alpha_silent`` weighs the voltage term of a silent label output,
    alpha_silent (theta - max_i Vpre_y[i]), which gives a label output that does not spike a gradient towards
    spiking (0: off, the paper's loss). ``alpha_hidden`` weighs the same term for silent hidden neurons;
    ``alpha_rate`` the mean membrane voltage of hidden neurons that spike more than ``rate_upper`` times a second
    on a sample (0: off), which lowers their rate.
    """

    sizes: tuple[int, ...] = (5, 120, 3)
    dt: float = 1.0
    n_steps: int = 30
    tau_mem: float = 20.0
    tau_syn: float = 5.0
    theta: float = 1.0
    tau0: float = 0.5
    tau1: float = 6.4
    alpha_reg: float = 3e-3
    loss_time: str = "step"
    alpha_silent: float = 0.0
    alpha_hidden: float = 0.0
    alpha_rate: float = 0.0
    rate_upper: float = 14.0
    t_code: float = 15.0
    init_mean: tuple[float, ...] = (1.5, 0.5)
    init_std: tuple[float, ...] = (0.8, 0.4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(self.sizes))
        object.__setattr__(self, "init_mean", tuple(self.init_mean))
        object.__setattr__(self, "init_std", tuple(self.init_std))
        if len(self.sizes) < 2:
            raise ValueError(f"EventPropConfig.sizes needs an input and at least one LIF layer, got {self.sizes!r}")
        for i, size in enumerate(self.sizes):
            _positive_int(f"sizes[{i}]", size)
        _positive_int("n_steps", self.n_steps)
        if self.n_steps < 2:
            raise ValueError(f"EventPropConfig.n_steps must be at least 2, got {self.n_steps!r}")
        for name in ("dt", "tau_mem", "tau_syn", "theta", "tau0", "tau1", "t_code"):
            _positive(name, getattr(self, name))
        for name in ("alpha_reg", "alpha_silent", "alpha_hidden", "alpha_rate", "rate_upper"):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"EventPropConfig.{name} must be a finite number >= 0, got {value!r}")
        if self.loss_time not in LOSS_TIMES:
            raise ValueError(f"EventPropConfig.loss_time must be one of {list(LOSS_TIMES)}, got {self.loss_time!r}")
        for name in ("init_mean", "init_std"):
            values = getattr(self, name)
            if len(values) != self.n_layers:
                raise ValueError(
                    f"EventPropConfig.{name} needs one value per weight matrix ({self.n_layers}), got {values!r}"
                )
            for value in values:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"EventPropConfig.{name} must hold finite numbers, got {values!r}")
        if min(self.init_std) < 0:
            raise ValueError(f"EventPropConfig.init_std must be >= 0, got {self.init_std!r}")
        if self.t_code / self.dt > self.n_steps - 1:
            raise ValueError(
                f"EventPropConfig.t_code = {self.t_code} ms reaches past the last step "
                f"({self.n_steps - 1} x dt = {(self.n_steps - 1) * self.dt:g} ms)"
            )

    @property
    def n_layers(self) -> int:
        """Number of LIF layers L (and of weight matrices)."""
        return len(self.sizes) - 1

    @property
    def n_in(self) -> int:
        """Input channels n_0."""
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        """Output neurons n_L."""
        return self.sizes[-1]

    @property
    def a(self) -> float:
        """Synaptic-current decay per step, exp(-dt/tau_syn)."""
        return math.exp(-self.dt / self.tau_syn)

    @property
    def b(self) -> float:
        """Membrane decay per step, exp(-dt/tau_mem)."""
        return math.exp(-self.dt / self.tau_mem)

    @property
    def duration(self) -> float:
        """Trial length T dt in ms."""
        return self.n_steps * self.dt

    def weight_keys(self) -> list[str]:
        """``w_0`` ... ``w_{L-1}``: W_{l-1} connects layer l-1 to layer l."""
        return [f"w_{layer}" for layer in range(self.n_layers)]

    def with_dt(self, dt: float) -> EventPropConfig:
        """The same network at another time step, keeping the trial length T dt."""
        _positive("dt", dt)
        return replace(self, dt=dt, n_steps=int(round(self.duration / dt)))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (lists for the tuples), for msgpack metadata and run configs."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EventPropConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError that lists the valid ones."""
        return from_plain_dict(cls, values)


@dataclass(frozen=True)
class EventPropSettings(Settings):
    """EventProp's own settings of a run: the network's time step, layer sizes and input code, its initial weight
    scales, and the loss constants (docs/eventprop.md); None keeps the named network's own."""

    dt: float | None = setting(
        default=None, **float_range(0, low_open=True, optional=True),
        help=(
            'EventProp: time step in ms (the chip: 1); the trial keeps its length, so T grows as dt shrinks.'
        ),
    )
    sizes: tuple[int, ...] | None = setting(
        default=None, kind="ints", optional=True,
        help=(
            'EventProp: layer sizes, input first, e.g. 5,120,3 (the yinyang network) or 5,64,64,3.'
        ),
    )
    t_code: float | None = setting(
        default=None, **float_range(0, low_open=True, optional=True),
        help=(
            'EventProp: ms, latest input spike of the latency code (a feature v spikes at v t_code; the '
            'recipes: 27 at dt 1 ms, 25 at dt 0.25 ms; the network alone: 15).'
        ),
    )
    init_mean: tuple[float, ...] | None = setting(
        default=None, kind="floats", optional=True,
        help=(
            "EventProp: mean of each weight matrix's initial normal distribution in units of theta, one per "
            "matrix, e.g. 1.5,0.1 (the recipes'; the yinyang network alone: 1.5,0.5)."
        ),
    )
    init_std: tuple[float, ...] | None = setting(
        default=None, kind="floats", optional=True,
        help=(
            "EventProp: standard deviation of each weight matrix's initial distribution, e.g. 0.8,0.2 (the "
            "recipes'; the yinyang network alone: 0.8,0.4)."
        ),
    )
    tau0: float | None = setting(
        default=None, **float_range(0, low_open=True, optional=True),
        help=(
            'EventProp: ms, temperature of the first-spike-time softmax (network default 0.5).'
        ),
    )
    tau1: float | None = setting(
        default=None, **float_range(0, low_open=True, optional=True),
        help=(
            'EventProp: ms, time constant of the early-spike regulariser (network default 6.4).'
        ),
    )
    alpha_reg: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'EventProp: weight of the regulariser alpha (exp(t_label / tau1) - 1) (network default 3e-3).'
        ),
    )
    loss_time: str | None = setting(
        default=None, **choice("step", "crossing", optional=True),
        help=(
            "EventProp: the output times the loss compares: 'step' (the first spike step, the paper's) or "
            "'crossing' (the threshold crossing interpolated within it, the times the prediction ranks; the "
            "recipes')."
        ),
    )
    alpha_silent: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'EventProp: weight of the voltage term alpha_silent (theta - max Vpre) of a label output that '
            'stays silent, which gives it a gradient towards spiking (the Yin-Yang recipes: 5; the network '
            'alone: 0, off).'
        ),
    )
    alpha_rate: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'EventProp: weight of the rate term of hidden neurons that fire too much, alpha_rate times the mean '
            "over a hidden layer's neurons that spike more often than --rate-upper on a sample of their mean "
            'membrane voltage over the trial, which lowers their rate (the shd recipe: 1; the networks alone: '
            '0, off).'
        ),
    )
    rate_upper: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'EventProp: spikes per second of a hidden neuron on a sample above which the rate term applies '
            '(default 14, as mlGeNN\'s SHD regulariser).'
        ),
    )
    readout: str | None = setting(
        default=None, **choice("exp_mean_v", "mean_v", optional=True),
        help=(
            "EventProp's sequence networks (shd): the class scores, the outputs' exponentially weighted mean "
            "voltage over the trial ('exp_mean_v', which weighs early steps up to e times the late ones: the "
            "network's) or their plain mean voltage ('mean_v')."
        ),
    )
    alpha_hidden: float | None = setting(
        default=None, **float_range(0, optional=True),
        help=(
            'EventProp: weight of the voltage term of silent hidden neurons, alpha_hidden times the mean over a '
            "hidden layer's neurons that stay silent on a sample of (theta - max Vpre), which gives a hidden "
            'neuron that has stopped spiking a gradient towards spiking again (the fine Yin-Yang recipe: 0.1; '
            'the network alone: 0, off).'
        ),
    )
