"""The one step loop, and the in-process transport (docs/runtime.md).

:func:`step_loop` drives PE programs through the rounds of their phases over any transport: the in-process lists
below (all PEs of a group in one process), the node's shared-memory mailbox (one PE per actor process,
:class:`pe_actors.runtime.mailbox.MailboxTransport`) or Ray actor calls submitted by the driver
(:class:`pe_actors.runtime.ray_transport.RayCallTransport`). The profiler times this same loop (the programs' named
sections, :mod:`pe_actors.studies.profiling`). Nothing here imports Ray.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from pe_actors.runtime.program import Channel, PEProgram, Phase


class Transport(Protocol):
    """How packets move between the PEs of a group."""

    def run(self, pe: int, phase: Phase, t: int) -> None:
        """Round (phase, t) of PE ``pe``: hand it its inbox, run its step, post its packets."""
        ...

    def sync(self, phase: Phase, t: int) -> None:
        """The barrier that ends a posting round."""
        ...


def step_loop(phases: Iterable[Phase], transport: Transport, local: Sequence[int]) -> None:
    """Run every round of ``phases`` for the PEs ``local`` that this process drives (one PE in an actor, the whole
    group in-process or on the driver of the Ray transport), with a barrier after each posting round."""
    for phase in phases:
        for t in phase.steps():
            for pe in local:
                transport.run(pe, phase, t)
            if phase.syncs:
                transport.sync(phase, t)


class Posts:
    """Which channels each PE posts on in each phase, worked out once per (phase, PE) rather than every round, and
    the check that a program's outbox holds exactly those (every transport runs it each round)."""

    def __init__(self, channels: dict[str, Channel]) -> None:
        self.channels = channels
        self._cache: dict[tuple[str, int], list[Channel]] = {}

    def of(self, phase: Phase, pe: int) -> list[Channel]:
        """The channels PE ``pe`` must post on in each round of ``phase``, in the phase's order."""
        key = (phase.name, pe)
        found = self._cache.get(key)
        if found is None:
            found = [self.channels[name] for name in phase.posts if pe in self.channels[name].senders]
            self._cache[key] = found
        return found

    def check(self, outbox: dict[str, Any], phase: Phase, pe: int, t: int) -> list[Channel]:
        """The channels of :meth:`of`; a RuntimeError when the outbox posts on others or misses one."""
        expected = self.of(phase, pe)
        if len(outbox) != len(expected) or any(channel.name not in outbox for channel in expected):
            names = sorted(c.name for c in expected)
            raise RuntimeError(
                f"PE {pe} posted on {sorted(outbox)} in round {phase.name} {t}; the phase declares {names}"
            )
        return expected


class InProcessInbox:
    """The inbox of one PE in the in-process transport."""

    def __init__(self, transport: InProcessTransport, pe: int) -> None:
        self.transport, self.pe = transport, pe

    def read(self, channel: str) -> Any:
        """The packets posted to this PE on ``channel`` in the previous round (see :class:`Channel`)."""
        spec = self.transport.channels[channel]
        if self.pe not in spec.receivers:
            raise RuntimeError(f"PE {self.pe} is not a receiver of channel {channel!r}")
        posted = self.transport.posted
        if (channel, spec.senders[0]) not in posted:
            raise RuntimeError(f"channel {channel!r} was not posted in the previous round")
        packets = [posted[(channel, sender)] for sender in spec.senders]
        if spec.kind == "spikes":
            return packets[0] if len(packets) == 1 else np.concatenate(packets, axis=1)
        return packets


class InProcessTransport:
    """All PEs of a group in this process: packets stay Python objects, passed by reference."""

    def __init__(self, programs: Sequence[PEProgram], channels: Iterable[Channel]) -> None:
        self.programs = programs
        self.channels = {c.name: c for c in channels}
        self.posts = Posts(self.channels)
        self.posted: dict[tuple[str, int], Any] = {}
        self._posting: dict[tuple[str, int], Any] = {}

    def run(self, pe: int, phase: Phase, t: int) -> None:
        """Run PE ``pe``'s step on the packets of the previous round; keep its posts for the next."""
        outbox = self.programs[pe].step(phase.name, t, InProcessInbox(self, pe))
        self.posts.check(outbox, phase, pe, t)
        for name, packet in outbox.items():
            self._posting[(name, pe)] = packet

    def sync(self, phase: Phase, t: int) -> None:
        """Every PE has posted: the posts become the next round's inbox."""
        self.posted, self._posting = self._posting, {}
