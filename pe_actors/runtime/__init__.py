"""The Ray runtime: PE actors, per-step spike exchange, master reduction and batch groups (SPEC section 3).

The only package of pe_actors that imports Ray. Ray must be initialised first, for example by
:func:`launcher.ray_session.start_ray`, which declares the ``pe`` resource the placement groups use.
"""

from pe_actors.runtime.engine import TRANSPORTS, ActorEngine, PEGroupError

__all__ = ["TRANSPORTS", "ActorEngine", "PEGroupError"]
