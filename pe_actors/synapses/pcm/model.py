"""The statistical PCM device model (docs/synapses.md, "Device model"), after Nandakumar et al. 2019 as used by
IBM's analog hardware toolkit: programming noise, conductance drift and 1/f read noise, numpy in and out.

Conductances are in microsiemens, times in seconds since the device was programmed. Every noisy method takes
``rng``: a numpy Generator, or standard normal draws of the result's shape (what the synapse stores pass, so that
each neuron's devices draw from a stream of their own).
"""

from __future__ import annotations

import math

import numpy as np

#: Drift reference time t0 in seconds.
T0_S = 20.0
#: Duration of one read, t_read, in seconds.
T_READ_S = 250e-9


def _normals(rng: np.random.Generator | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape)
    draws = np.asarray(rng)
    if draws.shape != shape:
        raise ValueError(f"standard normal draws have shape {draws.shape}, the devices {shape}")
    return draws


#: Device ages (seconds) up to which the drift and read-noise powers and logarithms are evaluated in float32: their
#: relative error, about 1e-7, lies far below every noise of the model, and float64 powers cost ten times more per
#: device. Longer ages (far beyond any experiment) are evaluated in float64, where float32 would overflow.
FLOAT32_AGES_S = 1e30


def ages(t_s: np.ndarray | float) -> np.ndarray:
    """Device ages (seconds since programming) clipped at 0, in float32 where they all fit
    (:data:`FLOAT32_AGES_S`), else in float64; float32 ages are taken as they are (what this returned before)."""
    t = np.asarray(t_s)
    if t.dtype == np.float32:
        return t
    t = np.maximum(t.astype(np.float64, copy=False), 0.0)
    return t.astype(np.float32) if t.size == 0 or t.max() < FLOAT32_AGES_S else t


class PCMModel:
    """PCM devices with conductances in [0, ``g_max``] uS; each noise has a scale (1: the model, 0: off).

    Args:
        g_max: the largest conductance in uS.
        prog_scale: scale of the programming noise's standard deviation.
        drift_scale: scale of the drift exponents nu.
        read_scale: scale of the 1/f read noise.
    """

    def __init__(
        self, g_max: float = 25.0, prog_scale: float = 1.0, drift_scale: float = 1.0, read_scale: float = 1.0
    ) -> None:
        for name, value, low in (
            ("g_max", g_max, None),
            ("prog_scale", prog_scale, 0.0),
            ("drift_scale", drift_scale, 0.0),
            ("read_scale", read_scale, 0.0),
        ):
            ok = math.isfinite(value) and (value > 0 if low is None else value >= low)
            if not ok:
                raise ValueError(
                    f"PCMModel {name} must be a finite number {'> 0' if low is None else '>= 0'}, got {value!r}"
                )
        self.g_max = float(g_max)
        self.prog_scale, self.drift_scale, self.read_scale = float(prog_scale), float(drift_scale), float(read_scale)

    def _x(self, target_us: np.ndarray) -> np.ndarray:
        return np.asarray(target_us, np.float64) / self.g_max

    def programming_sd(self, target_us: np.ndarray) -> np.ndarray:
        """sigma_prog(g_T) = prog_scale (0.26348 + 1.9650 x - 1.1731 x^2) g_max / 25 with x = g_T / g_max."""
        x = self._x(target_us)
        return self.prog_scale * (0.26348 + 1.9650 * x - 1.1731 * x * x) * self.g_max / 25.0

    def program(self, target_us: np.ndarray, rng: np.random.Generator | np.ndarray) -> np.ndarray:
        """Programmed conductances g_prog = max(0, g_T + sigma_prog(g_T) N(0, 1)) of devices aimed at ``target_us``."""
        target = np.asarray(target_us, np.float64)
        return np.maximum(0.0, target + self.programming_sd(target) * _normals(rng, target.shape))

    def drift_moments(self, target_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu_nu, sigma_nu) of the drift exponent at the target: mu = clip(-0.0155 ln x + 0.0244, 0.049, 0.1),
        sigma = clip(-0.0125 ln x - 0.0059, 0.008, 0.045), x = g_T / g_max clipped at >= 1e-7."""
        log_x = np.log(np.maximum(self._x(target_us), 1e-7))
        return np.clip(-0.0155 * log_x + 0.0244, 0.049, 0.1), np.clip(-0.0125 * log_x - 0.0059, 0.008, 0.045)

    def drift_exponents(self, target_us: np.ndarray, rng: np.random.Generator | np.ndarray) -> np.ndarray:
        """Drift exponents nu = drift_scale |N(mu_nu, sigma_nu)|, one per device, drawn when it is programmed."""
        mu, sigma = self.drift_moments(target_us)
        return self.drift_scale * np.abs(mu + sigma * _normals(rng, mu.shape))

    def conductance(self, g_prog: np.ndarray, nu: np.ndarray, t_s: np.ndarray | float) -> np.ndarray:
        """Drifted conductance g(t) = g_prog ((t + t0) / t0)^(-nu), t seconds since programming (t0 = 20 s)."""
        t = ages(t_s)
        factor = np.asarray(t * t.dtype.type(1 / T0_S))
        factor += t.dtype.type(1.0)
        return np.asarray(g_prog, np.float64) * factor ** -np.asarray(nu, t.dtype)

    def read_q(self, target_us: np.ndarray) -> np.ndarray:
        """The 1/f noise amplitude Q_s = min(0.2, 0.0088 / max(1e-3, x)^0.65), x = g_T / g_max (float32)."""
        x = np.asarray(target_us, np.float32) / np.float32(self.g_max)
        return np.minimum(np.float32(0.2), np.float32(0.0088) / np.maximum(np.float32(1e-3), x) ** np.float32(0.65))

    def read_sd(
        self, g_t: np.ndarray, t_s: np.ndarray | float, target_us: np.ndarray, q_s: np.ndarray | None = None
    ) -> np.ndarray:
        """Standard deviation of one read, read_scale g(t) Q_s sqrt(ln((t + t0 + t_read) / (2 t_read))), with
        Q_s of :meth:`read_q` for the programmed target (``q_s``: those values when the caller has them)."""
        q_s = self.read_q(target_us) if q_s is None else q_s
        t = ages(t_s)
        scalar = t.dtype.type
        growth = np.asarray(t + scalar(T0_S + T_READ_S))
        growth *= scalar(1 / (2 * T_READ_S))
        np.log(growth, out=growth)
        np.sqrt(growth, out=growth)
        growth *= scalar(self.read_scale)
        # In place where there is an age per device (the stores); a single age broadcasts.
        growth = np.multiply(growth, q_s, out=growth if growth.shape == np.shape(q_s) else None)
        return np.asarray(g_t, np.float64) * growth

    def read(
        self,
        g_t: np.ndarray,
        t_s: np.ndarray | float,
        rng: np.random.Generator | np.ndarray,
        target_us: np.ndarray,
        q_s: np.ndarray | None = None,
    ) -> np.ndarray:
        """One read g_read = max(0, g(t) + read_sd N(0, 1)) of devices at conductance ``g_t``, ``t_s`` seconds
        after they were programmed to ``target_us`` (the read noise depends on the target, see :meth:`read_sd`)."""
        g_t = np.asarray(g_t, np.float64)
        noise = self.read_sd(g_t, t_s, target_us, q_s)
        noise *= _normals(rng, g_t.shape)
        noise += g_t
        return np.maximum(noise, 0.0, out=noise)
