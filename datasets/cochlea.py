"""A spiking cochlea: the model that turned speech into the spikes of the Spiking Heidelberg Digits and Spiking
Speech Commands (Cramer et al. 2020, whose implementation is the PyPI package ``lauscher``), vectorised over the
channels (docs/data.md, "A spiking cochlea").

A mono clip at ``fs`` Hz passes four stages; every number below is the model's.

1. **Level.** The clip is scaled to an RMS of 0.3 and multiplied by a Hann window spanning the whole clip.
2. **Basilar membrane** (the hydrodynamic shallow-water model of Sieroka, Dosch and Rupp 2006). The membrane's
   ``channels`` places c lie evenly in [0, 3.5]; its stiffness s(c) = c0 exp(-alpha c) - a, damping
   r(c) = r0 exp(-alpha c / 2) with r0 = d sqrt(c0 m), and

       xi(w, c) = s(c) - m w^2 - i w r(c),   g(w, c) = w sqrt(rho / (h xi(w, c))),   K(w) = sqrt(a + m w^2),
       B(w, c)  = -sqrt(xi(w, c)) + i (2 K^2 + i w r(c)) / (2 K),
       G(w, c)  = 2 g(w, 0) / alpha - 2 i sqrt(2) w / (alpha sqrt(2 h) K) log(B(w, 0) / (exp(alpha c / 2) B(w, c))),
       P(w, c)  = sqrt(G / g(w, c)) H0(G)                       (H0 the Hankel function of the first kind),
       Z(w)     = sqrt(2 c0 / h) (i J0(k) + Y0(k)) / (J1(k) - i Y1(k)),   k = (2 w / alpha) sqrt(2 / (h c0)),
       V(w, c)  = 2 w P(w, c) Z(w) / (xi(w, c) P(w, 0)),

   with a = 3500, alpha = 3, rho = 1, c0 = 1e9, d = 0.15, h = 0.1, m = 0.05. The first fs / 2 + 1 bins of the
   clip's spectrum, at angular frequencies w spread evenly over [2 pi, 2 pi fs / 2], are multiplied by V(w, c);
   the real part of their inverse transform is the membrane velocity of place c, at fs / 2 Hz (as the model
   computes it). V depends only on the clip's length and rate, so it is computed once for each.
3. **Inner hair cells** (Meddis 1986, 1988): per channel, transmitter in the free pool q, the cleft c and the
   reprocessing store w; per sample, with the velocity b and the constants per sample (rates divided by the rate):

       k      = g (b + A) / (b + A + B) if b + A > 0, else 0
       q     <- max(q + (y (M - q) if q < M else 0) - k q + x w, 0)
       c     <- max(c + k q - (l + r) c, 0),   w <- max(w + r c - x w, 0)   (c, w, q on the right: before)

   with y = 5.05, g = 2000, l = 2500, r = 6580, x = 66.3, A = 5, B = 300, M = 1 per second, starting at the
   resting state; the firing probability of the sample is c h / fs with h = 50000.
4. **Bushy cells**: per channel, 40 auditory-nerve fibres each spike on a sample with that probability, except
   within 1 ms of their last spike; their spikes drive one LIF neuron through exponential synapses (tau_syn
   0.5 ms, weight 13000 / 40 per fibre, membrane tau 1 ms, clipped at the threshold 1, refractory 1 ms after a
   spike). The neuron's spikes are the channel's events.

The fibres draw from a ``numpy.random.RandomState`` channel after channel, as lauscher draws from numpy's global
generator, so with the same seed both give the same spikes (tested); lauscher takes minutes a clip, this a few
seconds (docs/data.md gives the measured speeds).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Basilar membrane constants (stage 2 of the module docstring).
A_STIFF, ALPHA, RHO, C_MAX, C0, DAMPING, H, MASS = 3500.0, 3.0, 1.0, 3.5, 1e9, 0.15, 0.1, 0.05
#: Hair-cell constants (stage 3), per second.
HC_Y, HC_G, HC_L, HC_R, HC_X, HC_A, HC_B, HC_H, HC_M = 5.05, 2000.0, 2500.0, 6580.0, 66.3, 5.0, 300.0, 50000.0, 1.0
#: Bushy-cell constants (stage 4).
FIBRES, BUSHY_TAU_MEM, BUSHY_TAU_SYN, BUSHY_REFRACTORY, BUSHY_WEIGHT = 40, 1e-3, 5e-4, 1e-3, 13e3
#: Output channels of the SHD and SSC releases.
CHANNELS = 700


def level(samples: np.ndarray) -> np.ndarray:
    """Stage 1: the clip at an RMS of 0.3, under a Hann window over its whole length (each half of it a half of
    a Hann window twice the half's length, as the model ramps up and down)."""
    x = np.asarray(samples, np.float64) * (0.3 / np.sqrt(np.mean(np.asarray(samples, np.float64) ** 2)))
    half = len(x) // 2
    ramp = np.hanning(2 * half)[:half]
    x[:half] *= ramp
    if half:
        x[-half:] *= ramp[::-1]
    return x


def _xi(w: np.ndarray, c: np.ndarray) -> np.ndarray:
    r = DAMPING * math.sqrt(C0 * MASS) * np.exp(-ALPHA * c / 2.0)
    return C0 * np.exp(-ALPHA * c) - A_STIFF - MASS * w**2 - 1j * w * r


def _b(w: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
    r = DAMPING * math.sqrt(C0 * MASS) * np.exp(-ALPHA * c / 2.0)
    return -np.sqrt(_xi(w, c)) + 1j * (2.0 * k**2 + 1j * w * r) / (2.0 * k)


def _p(w: np.ndarray, c: np.ndarray) -> np.ndarray:
    from scipy import special

    k = np.sqrt(A_STIFF + MASS * w**2)
    zero = np.zeros_like(c)
    g0 = w * np.sqrt(RHO / (H * _xi(w, zero)))
    g = w * np.sqrt(RHO / (H * _xi(w, c)))
    ratio = _b(w, zero, k) / (np.exp(ALPHA * c / 2.0) * _b(w, c, k))
    big_g = 2.0 * g0 / ALPHA - (2.0 * 1j * math.sqrt(2.0) * w) / (ALPHA * math.sqrt(2.0 * H) * k) * np.log(ratio)
    return np.sqrt(big_g / g) * special.hankel1(0, big_g)


def _z(w: np.ndarray) -> np.ndarray:
    from scipy import special

    k = 2.0 * w / ALPHA * math.sqrt(2.0 / (H * C0))
    return math.sqrt(2.0 * C0 / H) * (1j * special.j0(k) + special.y0(k)) / (special.j1(k) - 1j * special.y1(k))


@lru_cache(maxsize=4)
def membrane_transfer(n_samples: int, fs: int, channels: int = CHANNELS) -> np.ndarray:
    """V(w, c) of stage 2 (channels, n_samples // 2 + 1) for clips of ``n_samples`` at ``fs`` Hz."""
    bins = n_samples // 2 + 1
    w = (2.0 * np.pi * np.linspace(1, fs // 2, bins))[None, :]
    c = np.linspace(0.0, C_MAX, channels)[:, None]
    return 2.0 * w / _xi(w, c) * _p(w, c) * _z(w) / _p(w, np.zeros_like(c))


def basilar_membrane(x: np.ndarray, fs: int, channels: int = CHANNELS) -> np.ndarray:
    """Stage 2: the membrane velocity (channels, len(x) // 2 + 1) of the levelled clip ``x``, at fs // 2 Hz."""
    bins = len(x) // 2 + 1
    spectrum = np.fft.fft(x)[:bins]
    return np.real(np.fft.ifft(membrane_transfer(len(x), fs, channels) * spectrum[None, :], axis=1))


@lru_cache(maxsize=1)
def _kernels():
    """The compiled per-channel loops of stages 3 and 4 (numba, imported and compiled on first use)."""
    import numba

    @numba.njit(cache=True)
    def hair_cells(velocity, fs):
        ymdt, xdt, ydt = HC_Y * HC_M / fs, HC_X / fs, HC_Y / fs
        rdt, gdt, hdt, lrdt = HC_R / fs, HC_G / fs, HC_H / fs, (HC_L + HC_R) / fs
        k0 = HC_G * HC_A / (HC_A + HC_B)
        c0 = HC_M * HC_Y * k0 / (HC_L * k0 + HC_Y * (HC_L + HC_R))
        q0 = c0 * (HC_L + HC_R) / k0
        w0 = c0 * HC_R / HC_X
        out = np.empty_like(velocity)
        for ch in range(velocity.shape[0]):
            q, c, w = q0, c0, w0
            for j in range(velocity.shape[1]):
                b = velocity[ch, j]
                k = gdt * (b + HC_A) / (b + HC_A + HC_B) if b + HC_A > 0 else 0.0
                replenish = ymdt - ydt * q if q < HC_M else 0.0
                eject = k * q
                loss = lrdt * c
                reuptake = rdt * c
                reprocess = xdt * w
                q = max(q + replenish - eject + reprocess, 0.0)
                c = max(c + eject - loss, 0.0)
                w = max(w + reuptake - reprocess, 0.0)
                out[ch, j] = c * hdt
        return out

    @numba.njit(cache=True)
    def refractory(spikes, gap):
        for fibre in range(spikes.shape[1]):
            last = -gap
            for j in range(spikes.shape[0]):
                if spikes[j, fibre]:
                    if j - last < gap:
                        spikes[j, fibre] = False
                    else:
                        last = j
        return spikes

    @numba.njit(cache=True)
    def pairwise_sum(values):
        # numpy's summation order for a contiguous float64 vector shorter than 128 (eight running sums, then
        # combined pairwise), so that the neuron's drive is bit for bit the reference's.
        n = values.shape[0]
        if n < 8:
            total = 0.0
            for i in range(n):
                total += values[i]
            return total
        r = values[:8].copy()
        top = n - n % 8
        for i in range(8, top, 8):
            for k in range(8):
                r[k] += values[i + k]
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for i in range(top, n):
            total += values[i]
        return total

    @numba.njit(cache=True)
    def bushy_cell(fibres, fs, out):
        dt = 1.0 / fs
        decay_mem = math.exp(-dt / BUSHY_TAU_MEM)
        decay_syn = math.exp(-dt / BUSHY_TAU_SYN)
        weight = BUSHY_WEIGHT / FIBRES
        refractory_steps = BUSHY_REFRACTORY * fs
        current = np.zeros(fibres.shape[1])
        v_last = 0.0
        counter = 0.0
        for step in range(fibres.shape[0]):
            v = 0.0
            if step > 0:
                if counter <= 0:
                    if v_last < 1.0:
                        v = v_last * decay_mem
                    else:
                        counter = refractory_steps
                        out[step - 1] = True
                for k in range(current.shape[0]):
                    current[k] = current[k] * decay_syn
            for k in range(current.shape[0]):
                current[k] += fibres[step, k]
            if counter <= 0:
                v += pairwise_sum(current) * weight * dt
            if v > 1.0:
                v = 1.0
            counter -= 1
            v_last = v
        return out

    return hair_cells, refractory, bushy_cell


def cochlea_spikes(samples: np.ndarray, fs: int, seed: int | None = 0, channels: int = CHANNELS,
                   random: np.random.RandomState | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The spikes of a mono clip ``samples`` at ``fs`` Hz through the four stages of the module docstring: spike
    times (s, sorted, within a time by channel) and channels. The fibres draw from ``random`` (default: a
    ``RandomState(seed)``)."""
    hair_cells, refractory, bushy_cell = _kernels()
    velocity = basilar_membrane(level(samples), fs, channels)
    rate = fs // 2
    probability = hair_cells(velocity, float(rate))
    random = np.random.RandomState(seed) if random is None else random
    dense = np.zeros((channels, probability.shape[1]), np.bool_)
    for ch in range(channels):
        fibres = random.rand(probability.shape[1], FIBRES) < probability[ch][:, None]
        fibres = refractory(fibres, BUSHY_REFRACTORY * rate)
        bushy_cell(fibres.astype(np.float64), float(rate), dense[ch])
    steps, units = np.nonzero(dense.T)
    return steps / rate, units
