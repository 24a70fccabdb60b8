"""The PE runtime: PE programs' channels and phases (:mod:`~pe_actors.runtime.program`), the one step loop
(:mod:`~pe_actors.runtime.steploop`), the transports (in-process lists, the node's shared-memory mailbox
:mod:`~pe_actors.runtime.mailbox`, Ray calls :mod:`~pe_actors.runtime.ray_transport`), the wire format
(:mod:`~pe_actors.runtime.packets`), the in-process group (:mod:`~pe_actors.runtime.group`), the PE actor hosting any
program (:mod:`~pe_actors.runtime.actor`), the Ray cluster (:mod:`~pe_actors.runtime.cluster`) and the Ray metrics
and Prometheus monitor (docs/runtime.md).

The runtime hosts any :class:`~pe_actors.runtime.program.GroupProgram` and knows no learning rule. Of its modules
only ``cluster``, ``ray_transport``, ``metrics`` and ``monitor`` touch Ray (the actor engine,
:mod:`pe_actors.engines.actors`, is the other place), so the in-process engines use the runtime without Ray.
"""
