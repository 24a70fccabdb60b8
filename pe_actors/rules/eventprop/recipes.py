"""EventProp's recipes on Yin-Yang (docs/eventprop.md); ``configs/`` holds the same as TOML for ``--config``.
``YINYANG`` is also what ``rule="eventprop"`` starts from."""

from __future__ import annotations

from types import MappingProxyType

_YINYANG = {
    "rule": "eventprop", "network": "yinyang", "engine": "offchip", "transport": "shm", "pes": 4, "groups": 1,
    "sub_batch": 32, "lr": 0.005, "l2": 0.0, "decay_every": 1, "dtype": "float64", "seed": 0,
}  # fmt: skip

#: The chip's time step: dt 1 ms, T = 30, 100 epochs at lr 0.005 x 0.97 per epoch.
YINYANG = MappingProxyType({**_YINYANG, "epochs": 100, "lr_decay": 0.97})
#: The finer step: dt 0.25 ms (T = 120) with a 25-ms input code, 80 epochs at lr 0.005 x 0.95 per epoch.
YINYANG_FINE = MappingProxyType({**_YINYANG, "dt": 0.25, "t_code": 25.0, "epochs": 80, "lr_decay": 0.95})

RECIPES = {"yinyang-eventprop": YINYANG, "yinyang-eventprop-fine": YINYANG_FINE}
