"""E-prop's recipes: run settings that reproduce the documented results (README, docs/eprop.md). The files in
``configs/`` are the same recipes as TOML, for the command line's ``--config``; a test keeps them equal."""

from __future__ import annotations

from types import MappingProxyType

_GSC = {"network": "gsc", "rule": "eprop", "engine": "actors", "pes": 12, "groups": 1, "l2": 0.05e-5,
        "lr_decay": 0.3, "decay_every": 6, "seed": 0}

#: The main job: 12 PE actors, batch 32, 8 epochs (``pe-actors train`` with its defaults).
MAIN = MappingProxyType({**_GSC, "transport": "shm", "sub_batch": 32, "epochs": 8, "lr": 0.01})
#: The chip's recipe: batch 1, lr 0.001, 30 epochs (adaptation's learning rate comes from it).
CHIP_BATCH1 = MappingProxyType({**_GSC, "sub_batch": 1, "epochs": 30, "lr": 0.001})
#: The paper's recipe: batch 100 as 100 groups of 12 PEs at sub-batch 1, lr 0.01, 30 epochs.
PAPER_BATCH100 = MappingProxyType({**_GSC, "groups": 100, "sub_batch": 1, "epochs": 30, "lr": 0.01})

RECIPES = {"main": MAIN, "gsc-chip-batch1": CHIP_BATCH1, "gsc-paper-batch100": PAPER_BATCH100}

#: E-prop's batch-1 learning rate while only the input weights learn, with rehearsal: measured on the new speaker
#: with 5 models, 0.001 (the chip recipe's) reaches 85.5 % after 128 samples, 0.0015 86.8 % with 0.9 points of
#: forgetting, 0.002 87.2 % with 2.0 (docs/adaptation.md, "Forgetting").
ADAPT_LR = 0.0015


def adapt_lr(network: object) -> float:
    """The adaptation learning rate when none is given: :data:`ADAPT_LR`."""
    return ADAPT_LR
