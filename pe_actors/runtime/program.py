"""What a PE program declares to the runtime: its channels, its phases and the per-PE step (docs/runtime.md).

SpiNNaker 2 does not know learning rules: its PEs run programs and exchange packets. A rule describes a group of
PEs as a :class:`GroupProgram` (the channels, the phases of a schedule, the per-PE programs, how full-matrix state
maps to slices), and each PE runs a :class:`PEProgram` whose :meth:`~PEProgram.step` consumes an inbox and returns
an outbox, one round at a time. A transport moves the packets; :func:`pe_actors.runtime.steploop.step_loop` is
the one loop that drives any program over any transport.

A round is one (phase, step). In a round every PE reads what was posted to it in the previous round (on demand,
through the :class:`Inbox`), computes, and posts one packet on each channel the phase declares it a sender of;
when the phase posts anything, a barrier ends the round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

#: Packet kinds a channel can carry: bit-packed spikes (k, n) of 0/1; a float array (k, n); sparse events, a
#: list of (flat index into (k, n), value) pairs, for packets that are non-zero only at a few entries.
CHANNEL_KINDS = ("spikes", "array", "events")


@dataclass(frozen=True)
class Channel:
    """A channel: ``senders`` post one packet each per round of a phase that declares it; ``receivers`` read them.

    ``widths[i]`` is the number of values per sample that sender ``senders[i]`` posts (its neurons, or the width of
    its array). A receiver reads spikes as one (k, sum(widths)) array in sender order, arrays as a list in sender
    order, events as a list of (indices, values) in sender order.
    """

    name: str
    kind: str
    senders: tuple[int, ...]
    receivers: tuple[int, ...]
    widths: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in CHANNEL_KINDS:
            raise ValueError(f"channel {self.name!r}: kind must be one of {CHANNEL_KINDS}, got {self.kind!r}")
        if len(self.widths) != len(self.senders) or min(self.widths, default=1) < 1:
            raise ValueError(f"channel {self.name!r}: one positive width per sender needed, got {self.widths}")
        if not self.senders or not self.receivers:
            raise ValueError(f"channel {self.name!r} needs at least one sender and one receiver")

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the mailbox header."""
        return {
            "name": self.name,
            "kind": self.kind,
            "senders": list(self.senders),
            "receivers": list(self.receivers),
            "widths": list(self.widths),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Channel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            values["name"],
            values["kind"],
            tuple(values["senders"]),
            tuple(values["receivers"]),
            tuple(values["widths"]),
        )


@dataclass(frozen=True)
class Phase:
    """``n_steps`` rounds named ``name``; steps run n_steps - 1 down to 0 when ``reverse`` (``first`` offsets the
    step numbers). ``posts`` lists the channels every one of their senders posts on in each round."""

    name: str
    n_steps: int
    posts: tuple[str, ...] = ()
    reverse: bool = False
    first: int = 0

    def steps(self) -> Iterator[int]:
        """The step numbers of the rounds, in the order they run."""
        order = range(self.n_steps - 1, -1, -1) if self.reverse else range(self.n_steps)
        return (self.first + t for t in order)

    @property
    def syncs(self) -> bool:
        """Whether a barrier ends each round (exactly when the phase posts)."""
        return bool(self.posts)


class Inbox(Protocol):
    """What a PE reads in a round: the packets posted to it in the previous round."""

    def read(self, channel: str) -> Any:
        """The channel's packets (see :class:`Channel` for the form); valid only during this round's step."""
        ...


#: ``timer(section, step)``: a context manager a program wraps its named sections in (the profiler passes one that
#: records their wall time; the default times nothing).
Timer = Callable[[str, int], AbstractContextManager[None]]


_UNTIMED = nullcontext()


def no_timer(section: str, step: int) -> AbstractContextManager[None]:
    """The default timer: times nothing (one shared, reusable null context, so the per-step sections of a PE
    program allocate nothing)."""
    return _UNTIMED


class PEProgram(Protocol):
    """The program one PE runs: per-round steps, the result of a sub-batch, the learning step and its state."""

    index: int
    timer: Timer
    adam_steps: int
    #: Device writes of the own synapses so far (see docs/synapses.md; 0 for float weights).
    writes: int

    def begin(self, x: np.ndarray, labels: np.ndarray | None) -> None:
        """Load a sub-batch (labels None: inference) and zero the per-sample state."""
        ...

    def step(self, phase: str, t: int, inbox: Inbox) -> dict[str, np.ndarray]:
        """One round: read the inbox, compute, return the packets to post by channel name."""
        ...

    def result(self) -> dict[str, Any]:
        """After the last round: ``grads`` (sums over the sub-batch, when learning) and, on the master,
        ``logits`` and ``loss`` (and rule-specific extras)."""
        ...

    def apply(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """The learning step with batch-mean gradients of the own slice."""
        ...

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of device time pass for the own synapses."""
        ...

    def state_dict(self) -> dict[str, np.ndarray]:
        """The own slice of weights and optimiser state, keyed like the full matrices."""
        ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Overwrite the own slice from :meth:`state_dict` output."""
        ...


class GroupProgram(Protocol):
    """A rule's description of one group of PEs (one network replica)."""

    n_pes: int
    n_out: int
    n_steps: int
    master: int
    channels: tuple[Channel, ...]
    #: Where the PEs' weights live (a :class:`~pe_actors.synapses.SynapseConfig`).
    synapses: Any
    #: Device seconds that pass per training sample (the engines advance the PEs after each learning step).
    sample_s: float

    def prepare(self, x: np.ndarray, labels: np.ndarray | None, dtype: np.dtype) -> tuple[np.ndarray, Any]:
        """A sub-batch as the PEs take it (validated, in the engine's dtype); labels None for inference."""
        ...

    def phases(self, learning: bool) -> tuple[Phase, ...]:
        """The schedule of a training (``learning``) or an inference sub-batch."""
        ...

    def make_program(self, pe: int, params: dict[str, np.ndarray], optimiser: Any, learning: bool) -> PEProgram:
        """The program PE ``pe`` runs, holding its slice of ``params``."""
        ...

    def gather_state(self, states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Full-matrix state from the PEs' slices (in PE order)."""
        ...

    def scatter_state(self, state: dict[str, np.ndarray], pe: int) -> dict[str, np.ndarray]:
        """The slice of a full-matrix state that PE ``pe`` holds."""
        ...

    def pe_layout(self) -> list[dict[str, Any]]:
        """Per PE: ``pe``, the ``layer`` of the population it holds a slice of, its ``neurons`` [first, stop),
        its ``synapses`` and whether it is the ``master`` (``pe-actors layout`` draws them)."""
        ...
