"""The ray transport, on the driver: each round of each PE is one Ray actor call whose arguments are the object
references of the packets posted to that PE in the previous round (docs/runtime.md, "Transports")."""

from __future__ import annotations

from typing import Any

from pe_actors.runtime.program import Channel, Phase
from pe_actors.runtime.steploop import Posts


class RayCallTransport:
    """The ray transport, on the driver: each round of each PE is one actor call whose arguments are the object
    references of the packets posted to that PE in the previous round, so Ray moves them actor to actor and the
    dependencies are the barrier. Calls are submitted ahead; nothing waits here."""

    def __init__(self, actors: list, channels: tuple[Channel, ...]) -> None:
        self.actors = actors
        self.channels = {c.name: c for c in channels}
        self.posts = Posts(self.channels)
        self.posted: dict[tuple[str, int], Any] = {}
        self._posting: dict[tuple[str, int], Any] = {}

    def run(self, pe: int, phase: Phase, t: int) -> None:
        """Submit PE ``pe``'s round with its inbox references."""
        keys = [key for key in self.posted if pe in self.channels[key[0]].receivers]
        mine = self.posts.of(phase, pe)
        call = self.actors[pe].ray_round.options(num_returns=max(len(mine), 1))
        refs = call.remote(phase.name, t, keys, *[self.posted[key] for key in keys])
        refs = [refs] if len(mine) <= 1 else refs
        for channel, ref in zip(mine, refs, strict=False):
            self._posting[(channel.name, pe)] = ref

    def sync(self, phase: Phase, t: int) -> None:
        """The round's posts become the next round's inbox (Ray orders the calls by their dependencies)."""
        self.posted, self._posting = self._posting, {}
