"""Populations of neurons: the neuron models a network is made of and their per-step dynamics (docs/networks.md).

Every model is one case of a single discrete-time update at step t (all state zero before the first step), for
neuron j with input drive d_j[t] (the bias plus every incoming connection's weighted sources, see
:mod:`pe_actors.networks.graph`):

    I_j[t]   = a_j I_j[t-1] + g_syn_j d_j[t]                      synaptic current (current-based models; else I = d)
    A_j[t]   = rho_j A_j[t-1] + (1 - rho_j) z_j[t-1]               threshold adaptation (ALIF; else A = 0)
    th_j[t]  = theta_j + beta_j A_j[t]                              threshold
    U_j[t]   = b_j V_j[t-1] + (1 - b_j) v_leak_j + g_mem_j I_j[t] - [delayed reset] th_j[t] z_j[t-1]
    z_j[t]   = 1 if U_j[t] > th_j[t] else 0                        spike (spiking models)
    V_j[t]   = v_reset_j where z_j[t] = 1 (reset to a value), U_j[t] - th_j[t] z_j[t] (by subtraction),
               else U_j[t]

``U`` is the membrane before the reset, the voltage every recorder reports as ``v``. The coefficients are per neuron
and per step: the builder derives them from time constants in seconds at the network's step dt
(:mod:`pe_actors.networks.builder`), NIR import from the forward-Euler reading of NIR's equations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


class NetworkError(ValueError):
    """A network description that cannot be built or run; the message names the population or connection."""


@dataclass(frozen=True)
class NeuronModel:
    """What a neuron model has: ``spiking`` (a threshold and a reset), a ``synapse`` current (current-based) and
    an ``adaptive`` threshold; ``description`` in words."""

    name: str
    description: str
    spiking: bool
    synapse: bool = False
    adaptive: bool = False


#: The neuron models, by the names a population gives.
MODELS: dict[str, NeuronModel] = {
    model.name: model
    for model in (
        NeuronModel("lif", "leaky integrate-and-fire", spiking=True),
        NeuronModel("cuba_lif", "current-based leaky integrate-and-fire", spiking=True, synapse=True),
        NeuronModel("alif", "adaptive leaky integrate-and-fire (e-prop's ALIF)", spiking=True, adaptive=True),
        NeuronModel("if", "integrate-and-fire (no leak)", spiking=True),
        NeuronModel("li", "leaky integrator (a readout)", spiking=False),
        NeuronModel("cuba_li", "current-based leaky integrator (a readout)", spiking=False, synapse=True),
    )
}

#: How a spiking neuron resets: to ``v_reset`` at its spike step, or by subtracting its threshold.
RESETS = ("value", "subtract")

#: The per-neuron coefficients of a population, each an array of its size (see the module docstring).
COEFFICIENTS = ("decay_mem", "gain_mem", "v_leak", "decay_syn", "gain_syn", "threshold", "v_reset",
                "decay_adapt", "beta", "bias")


@dataclass(frozen=True, eq=False)
class Population:
    """``size`` neurons of one ``model`` named ``name``, with per-neuron coefficients (arrays of ``size``) of the
    update in the module docstring. ``reset`` is ``"value"`` or ``"subtract"``; ``reset_delayed`` subtracts the
    threshold at the step after the spike instead (e-prop's ALIF and snnTorch's default). Coefficients the model
    does not have are None; ``bias`` None is no bias. Build one with :func:`population`."""

    name: str
    size: int
    model: str
    decay_mem: np.ndarray
    gain_mem: np.ndarray
    v_leak: np.ndarray
    decay_syn: np.ndarray | None = None
    gain_syn: np.ndarray | None = None
    threshold: np.ndarray | None = None
    reset: str | None = None
    v_reset: np.ndarray | None = None
    reset_delayed: bool = False
    decay_adapt: np.ndarray | None = None
    beta: np.ndarray | None = None
    bias: np.ndarray | None = None

    @property
    def kind(self) -> NeuronModel:
        """The population's neuron model."""
        return MODELS[self.model]

    @property
    def spiking(self) -> bool:
        """Whether the population spikes (its outgoing connections carry spikes; else its voltage)."""
        return self.kind.spiking

    def coefficient(self, name: str) -> np.ndarray | None:
        """The per-neuron array of coefficient ``name`` (None when the model has none)."""
        return getattr(self, name)

    def uniform(self, name: str) -> float | None:
        """The one value coefficient ``name`` has for every neuron, None when it differs between neurons (or the
        model has none)."""
        values = self.coefficient(name)
        if values is None or values.size == 0 or np.any(values != values.flat[0]):
            return None
        return float(values.flat[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain form (a coefficient equal for all neurons as one number)."""
        values: dict[str, Any] = {"name": self.name, "size": self.size, "model": self.model}
        for name in COEFFICIENTS:
            array = self.coefficient(name)
            if array is not None:
                one = self.uniform(name)
                values[name] = one if one is not None else array.tolist()
        if self.reset is not None:
            values["reset"] = self.reset
            values["reset_delayed"] = self.reset_delayed
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Population:
        """Inverse of :meth:`to_dict`; a NetworkError names what is wrong."""
        if not isinstance(values, dict):
            raise NetworkError(f"a population must be a mapping, got {type(values).__name__}")
        unknown = sorted(set(values) - {"name", "size", "model", "reset", "reset_delayed", *COEFFICIENTS})
        if unknown:
            raise NetworkError(f"population {values.get('name')!r}: unknown field(s) {unknown}")
        rest = {k: v for k, v in values.items() if k not in ("name", "size", "model")}
        return population(values.get("name"), values.get("size"), values.get("model"), **rest)


def population(name: Any, size: Any, model: Any, **coefficients: Any) -> Population:
    """A checked :class:`Population`: each coefficient a number (for every neuron) or a sequence of ``size``
    finite numbers; the model's defaults (docs/networks.md) for the ones not given. A NetworkError names the
    population and the coefficient that is wrong."""
    if not isinstance(name, str) or not name:
        raise NetworkError(f"a population needs a non-empty name, got {name!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise NetworkError(f"population {name!r}: size must be a positive integer, got {size!r}")
    if model not in MODELS:
        raise NetworkError(f"population {name!r}: unknown neuron model {model!r}; the models are {sorted(MODELS)}")
    kind = MODELS[model]
    reset = coefficients.pop("reset", "value" if kind.spiking else None)
    delayed = coefficients.pop("reset_delayed", False)
    allowed = {"decay_mem", "gain_mem", "v_leak", "bias"}
    allowed |= {"decay_syn", "gain_syn"} if kind.synapse else set()
    allowed |= {"threshold", "v_reset"} if kind.spiking else set()
    allowed |= {"decay_adapt", "beta"} if kind.adaptive else set()
    extra = sorted(k for k, v in coefficients.items() if v is not None and k not in allowed)
    if extra:
        raise NetworkError(f"population {name!r}: a {model} neuron has no {', '.join(extra)}")
    if kind.spiking:
        if reset not in RESETS:
            raise NetworkError(f"population {name!r}: reset must be one of {RESETS}, got {reset!r}")
        if delayed not in (True, False):
            raise NetworkError(f"population {name!r}: reset_delayed must be true or false, got {delayed!r}")
        if delayed and reset != "subtract":
            raise NetworkError(f"population {name!r}: a delayed reset subtracts the threshold; give reset='subtract'")
    elif reset is not None or delayed:
        raise NetworkError(f"population {name!r}: a {model} neuron does not spike, so it has no reset")
    defaults = {"decay_mem": None, "gain_mem": None, "v_leak": 0.0, "decay_syn": None, "gain_syn": 1.0,
                "threshold": 1.0, "v_reset": 0.0, "decay_adapt": None, "beta": 0.0}
    if model == "if":
        defaults.update(decay_mem=1.0, gain_mem=1.0)
    arrays: dict[str, np.ndarray | None] = {}
    for key in COEFFICIENTS:
        if key not in allowed:
            arrays[key] = None
            continue
        value = coefficients.get(key, defaults.get(key))
        if value is None:
            if key == "bias":
                arrays[key] = None
                continue
            raise NetworkError(f"population {name!r}: a {model} neuron needs {key}")
        arrays[key] = _per_neuron(name, key, value, size)
    for key in ("decay_mem", "decay_syn", "decay_adapt"):
        values = arrays[key]
        if values is not None and np.any((values < 0) | (values > 1)):
            raise NetworkError(f"population {name!r}: {key} must lie in [0, 1] (a decay per step), got "
                               f"{values[(values < 0) | (values > 1)][:3].tolist()}")
    return Population(name, size, model, reset=reset, reset_delayed=bool(delayed), **arrays)


def _per_neuron(name: str, key: str, value: Any, size: int) -> np.ndarray:
    """``value`` as a float64 array of ``size`` finite numbers."""
    try:
        array = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise NetworkError(f"population {name!r}: {key} must be a number or {size} numbers, got {value!r}") from None
    if array.ndim == 0:
        array = np.full(size, float(array))
    if array.shape != (size,):
        raise NetworkError(f"population {name!r}: {key} has shape {array.shape}; the population has {size} neurons")
    if not np.all(np.isfinite(array)):
        raise NetworkError(f"population {name!r}: {key} holds NaN or Inf")
    array.setflags(write=False)
    return array


def decay(tau_s: Any, dt_s: float, discretisation: str, what: str) -> np.ndarray:
    """The decay per step of a time constant ``tau_s`` (s): exp(-dt/tau) (``"exp"``, the exact decay of the leak
    over one step) or 1 - dt/tau (``"euler"``, NIR's reference and snnTorch); ``what`` names it in errors."""
    tau = np.asarray(tau_s, np.float64)
    if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
        raise NetworkError(f"{what} must be positive time constants in seconds, got {tau_s!r}")
    if discretisation == "exp":
        return np.exp(-dt_s / tau)
    if discretisation == "euler":
        if np.any(tau < dt_s):
            raise NetworkError(f"{what} {float(tau.min()):g} s is shorter than the step {dt_s:g} s; forward Euler "
                               "needs tau >= dt")
        return 1.0 - dt_s / tau
    raise NetworkError(f"discretisation must be 'exp' or 'euler', got {discretisation!r}")

