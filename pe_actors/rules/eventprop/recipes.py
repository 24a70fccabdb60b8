"""EventProp's recipes on Yin-Yang (docs/eventprop.md); ``configs/`` holds the same as TOML for ``--config``.
``YINYANG`` is also what ``rule="eventprop"`` starts from."""

from __future__ import annotations

from types import MappingProxyType

_YINYANG = {
    "rule": "eventprop", "network": "yinyang", "engine": "offchip", "transport": "shm", "pes": 4, "groups": 1,
    "sub_batch": 32, "lr": 0.005, "l2": 0.0, "decay_every": 1, "dtype": "float64", "seed": 0,
}  # fmt: skip

#: The chip's time step: dt 1 ms, T = 30, a 27-ms input code, 100 epochs at lr 0.005 x 0.97 per epoch.
#: The loss and initial scale that keep every seed learning (docs/eventprop.md, "What limits accuracy"): crossing
#: times in the softmax, the silent label output's voltage term, weak initial output weights.
YINYANG = MappingProxyType({
    **_YINYANG, "t_code": 27.0, "epochs": 100, "lr_decay": 0.97,
    "loss_time": "crossing", "alpha_silent": 1.0, "init_mean": (1.5, 0.1), "init_std": (0.8, 0.2),
})  # fmt: skip
#: The finer step: dt 0.25 ms (T = 120) with a 25-ms input code, 80 epochs at lr 0.002 x 0.97 per epoch; the same
#: loss, with the network's initial scale (weak output weights leave most label outputs silent at this step).
YINYANG_FINE = MappingProxyType({
    **_YINYANG, "dt": 0.25, "t_code": 25.0, "epochs": 80, "lr": 0.002, "lr_decay": 0.97,
    "loss_time": "crossing", "alpha_silent": 1.0, "init_mean": (1.5, 0.5), "init_std": (0.8, 0.4),
})  # fmt: skip

RECIPES = {"yinyang-eventprop": YINYANG, "yinyang-eventprop-fine": YINYANG_FINE}
