"""ADAM in the TensorFlow 1 form, the L2 term, and the step learning-rate schedule (docs/eprop.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OptimiserConfig:
    """Hyper-parameters of ADAM (TF1 form), L2 and the step schedule lr x decay every ``decay_every`` epochs, and
    the weight arrays that do not learn (``frozen``, by the rule's names: e-prop's ``w_in``, ``w_rec``, ``w_out``,
    EventProp's ``w_0`` ...; see :meth:`learned`)."""

    lr: float = 0.01
    l2: float = 0.05e-5
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-5
    lr_decay: float = 0.3
    decay_every: int = 6
    frozen: tuple[str, ...] = ()

    def learned(self, name: str, grad: np.ndarray) -> np.ndarray:
        """The gradient the weights ``name`` learn from: ``grad``, or zeros when they are frozen. A zero gradient
        keeps ADAM's first moment at zero when it starts from zero, so weights frozen from a fresh ADAM (as
        adaptation starts) never change."""
        return np.zeros_like(grad) if name in self.frozen else grad

    def __post_init__(self) -> None:
        checks = {
            "lr": self.lr > 0,
            "l2": self.l2 >= 0,
            "beta1": 0 <= self.beta1 < 1,
            "beta2": 0 <= self.beta2 < 1,
            "eps": self.eps > 0,
            "lr_decay": 0 < self.lr_decay <= 1,
            "decay_every": isinstance(self.decay_every, int) and self.decay_every >= 1,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not ok or not math.isfinite(value):
                raise ValueError(f"OptimiserConfig.{name} has an invalid value {value!r}")


def learning_rate(config: OptimiserConfig, epoch: int) -> float:
    """lr x lr_decay^(epoch // decay_every) for a 0-based epoch (the paper's lr x 0.3 every 6 epochs)."""
    return config.lr * config.lr_decay ** (epoch // config.decay_every)


def l2_gradient(weights: np.ndarray, l2: float) -> np.ndarray:
    """Gradient of the L2 term l2 * sum W^2, i.e. 2 l2 W."""
    return 2.0 * l2 * weights


class Adam:
    """ADAM moments of one weight array, updated in place in the TF1 form.

    n <- n + 1;  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    lr_t = lr sqrt(1 - b2^n) / (1 - b1^n);  W <- W - lr_t m / (sqrt(v) + eps)
    """

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, config: OptimiserConfig) -> None:
        self.config = config
        self.m = np.zeros(shape, dtype=dtype)
        self.v = np.zeros(shape, dtype=dtype)
        self.n = 0

    def step(self, weights: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """Apply one update to ``weights`` (in place) from gradient ``grad`` at learning rate ``lr``; a gradient
        holding NaN or Inf raises a FloatingPointError and changes nothing (weights, moments and step count)."""
        if not np.all(np.isfinite(grad)):
            raise FloatingPointError(f"non-finite gradient ({np.count_nonzero(~np.isfinite(grad))} entries): no update")
        c = self.config
        self.n += 1
        self.m *= c.beta1
        self.m += (1.0 - c.beta1) * grad
        self.v *= c.beta2
        self.v += (1.0 - c.beta2) * grad * grad
        lr_t = lr * math.sqrt(1.0 - c.beta2**self.n) / (1.0 - c.beta1**self.n)
        weights -= lr_t * self.m / (np.sqrt(self.v) + c.eps)
