"""EventProp's recipes on Yin-Yang (docs/eventprop.md); ``configs/`` holds the same as TOML for ``--config``.
``YINYANG`` is also what ``rule="eventprop"`` starts from."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_YINYANG = {
    "rule": "eventprop", "network": "yinyang", "engine": "offchip", "transport": "shm", "pes": 4, "groups": 1,
    "sub_batch": 32, "lr": 0.005, "l2": 0.0, "decay_every": 1, "dtype": "float64", "seed": 0,
}

#: The chip's time step: dt 1 ms, T = 30, a 27-ms input code, 100 epochs at lr 0.005 x 0.97 per epoch.
#: The loss and initial scale that keep every seed learning (docs/eventprop.md, "What limits accuracy"): crossing
#: times in the softmax, weak initial output weights, and a voltage term for silent label outputs strong enough
#: to bring them in from that weak start (alpha_silent 5: at 1, 2 of 20 seeds stayed mostly silent, 66 and 87 %).
YINYANG = MappingProxyType({
    **_YINYANG, "t_code": 27.0, "epochs": 100, "lr_decay": 0.97,
    "loss_time": "crossing", "alpha_silent": 5.0, "init_mean": (1.5, 0.1), "init_std": (0.8, 0.2),
})
#: The finer step: dt 0.25 ms (T = 120) with a 25-ms input code and the continuous-time reference's 200 hidden
#: neurons, 80 epochs at lr 0.001 x 0.98 per epoch; the same loss with the hidden voltage term, which keeps hidden
#: neurons from dying after a bad step (docs/eventprop.md, "Silent outputs and dead neurons").
YINYANG_FINE = MappingProxyType({
    **_YINYANG, "sizes": (5, 200, 3), "dt": 0.25, "t_code": 25.0, "epochs": 80, "lr": 0.001, "lr_decay": 0.98,
    "loss_time": "crossing", "alpha_silent": 5.0, "alpha_hidden": 0.1, "init_mean": (1.5, 0.3),
    "init_std": (0.8, 0.25),
})

#: Spoken digits and commands (SHD, SSC): the shd network (docs/eventprop.md, "Sequences"), after mlGeNN's SHD
#: example: 256 recurrent hidden neurons at dt 1 ms, the outputs' exponentially weighted mean voltage, batch 32,
#: lr 0.001, the whole sample shifted along the channels each epoch, the rate term on hidden neurons above 14
#: spikes a second (weighed 0.02: 0.1 and 1 held learning back); float32, 100 epochs.
SHD = MappingProxyType({
    **_YINYANG, "network": "shd", "epochs": 100, "lr": 0.001, "lr_decay": 1.0, "dtype": "float32",
    "augment": ("channel_shift",), "alpha_rate": 0.02,
})

RECIPES = {"yinyang-eventprop": YINYANG, "yinyang-eventprop-fine": YINYANG_FINE, "shd-eventprop": SHD}

#: The recipe's settings that belong to the yinyang network's input (its latency code, its initial scales), which a
#: run of another network does not take from the recipe.
YINYANG_ONLY = ("t_code", "init_mean", "init_std")


def run_defaults(explicit: Mapping[str, Any]) -> dict[str, Any]:
    """What an EventProp run starts from under the settings given ``explicit``-ly: the SHD recipe :data:`SHD` for
    event data (``shd_dir``) or the shd network, else the Yin-Yang recipe :data:`YINYANG` (without its input code
    and initial scales for another network) and no augmentation."""
    if explicit.get("shd_dir") is not None or explicit.get("network") == "shd":
        return dict(SHD)
    defaults: dict[str, Any] = {**YINYANG, "augment": ()}
    if explicit.get("network", defaults["network"]) != "yinyang":
        for name in YINYANG_ONLY:
            defaults.pop(name)
    return defaults


#: EventProp's batch-1 learning rate, measured on Yin-Yang rotated by 30 degrees in 300 samples with the
#: yinyang-eventprop models of seeds 0-2: 0.001 gains 6 points on the rotation, 0.003 gains 12 (the most), 0.01
#: gains 9 and forgets most of the original task (docs/adaptation.md). It is stable because the loss's voltage
#: term keeps every label output spiking, so no single-sample step silences an output for good.
ADAPT_LR = 0.003
#: The batch-1 learning rate of a network trained without the voltage term (alpha_silent 0, the paper's loss):
#: above 0.0005 its label outputs fall silent under single-sample steps and never learn again.
ADAPT_LR_WITHOUT_VOLTAGE_TERM = 0.0003


def adapt_lr(network: Any) -> float:
    """The adaptation learning rate when none is given: :data:`ADAPT_LR`, or
    :data:`ADAPT_LR_WITHOUT_VOLTAGE_TERM` for a network trained without the voltage term."""
    return ADAPT_LR if network.alpha_silent > 0 else ADAPT_LR_WITHOUT_VOLTAGE_TERM
