"""The Ray cluster of a run's PE actors: start an embedded local Ray or join a cluster, the ``pe`` resource the
placement groups take, and the error a failed PE group raises.

A local Ray binds several ports (GCS, raylet, object manager, metrics, workers). When this module starts a local
Ray in a process that has not imported Ray yet, every one of them is bound to 127.0.0.1 (see
:func:`loopback_only`); the dashboard is kept on 127.0.0.1 unless the caller asks otherwise. The custom resource
``pe`` (one unit per PE actor and placement-group bundle) is declared here for a local Ray, and by
``ray start --resources`` on a cluster (see ``cluster.yaml``). Ray is imported only when a function needs it.

Ray 2.60 protects a new local Ray's dashboard with a token (kept in ``~/.ray/auth_token``); the dashboard asks for
it in an "Authentication Token Required" dialog, and ``ray get-auth-token`` prints it (:func:`dashboard_hint`).
A local Ray started here asks for token authentication explicitly (``RAY_AUTH_MODE=token`` unless the user set
the variable), which is Ray's default without the warning it prints on every run.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import warnings
from typing import Any

#: The variable Ray reads when it is imported: "0" makes it treat the machine as unable to join a cluster, so it
#: takes 127.0.0.1 as the node address and binds its servers (metrics endpoint included) to loopback only.
LOOPBACK_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: Ray's authentication mode: "token" (a new local Ray's default) or "disabled".
AUTH_VARIABLE = "RAY_AUTH_MODE"
#: The custom resource a PE actor (and each placement-group bundle) takes one unit of.
PE_RESOURCE = "pe"
#: Set (to "1") in the environment of PE actor processes only (the actor engine's runtime_env).
PE_PROCESS_VARIABLE = "PE_ACTORS_PE_PROCESS"
#: The worker setup hook a run's Ray starts every worker process with (see :func:`lean_pe_process`).
SETUP_HOOK = "pe_actors.runtime.cluster.lean_pe_process"
#: Packages a Ray worker imports when they are installed, to register serializers for them (Ray's serialization
#: add-ons), and a PE never sends: about 4.6 MB of private memory each per process.
UNUSED_IN_PE = ("pyarrow", "pydantic")


class _Unavailable:
    """A meta path finder that makes ``names`` (and their submodules) unimportable in this process."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is kept out of PE actor processes", name=fullname)
        return None


def lean_pe_process() -> None:
    """Ray's worker setup hook (run before a worker takes any task): in a PE actor process (``PE_ACTORS_PE_PROCESS``
    set by the actor engine), make pyarrow and pydantic unimportable, so that Ray's serialization context skips
    the serializers it would register for them; other workers of the job are left as they are. Keeps a PE actor
    at about 51 MB private instead of 60 (docs/runtime.md, "Memory per actor")."""
    if os.environ.get(PE_PROCESS_VARIABLE) == "1" and not any(name in sys.modules for name in UNUSED_IN_PE):
        sys.meta_path.insert(0, _Unavailable(UNUSED_IN_PE))


def loopback_only(address: str | None) -> bool:
    """Before Ray is imported, make a local Ray (``address`` None or "local") bind all its ports to 127.0.0.1.
    Returns whether that is in force; it cannot be once Ray is imported (Ray reads the setting at import), and
    it is never applied to a run that joins a cluster."""
    if address not in (None, "", "local"):
        return False
    if "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_VARIABLE, "0")
        os.environ.setdefault(AUTH_VARIABLE, "token")
    return os.environ.get(LOOPBACK_VARIABLE) == "0"


def start_ray(
    address: str | None = None,
    num_pe_slots: int = 12,
    dashboard_host: str = "127.0.0.1",
    dashboard_port: int = 8265,
    job_name: str | None = None,
) -> str:
    """Initialise Ray for a run and return the dashboard URL.

    Args:
        address: None (or ``"local"``) starts an embedded local Ray declaring ``num_pe_slots`` units of the ``pe``
            resource, never joining another cluster on the machine (a ``ray start`` one, RAY_ADDRESS);
            ``"auto"``, ``"host:port"`` or a ``ray://`` address joins a running cluster, which must declare at least
            ``num_pe_slots`` of them.
        num_pe_slots: PE actors the run will start, P x G.
        dashboard_host: interface of a local dashboard (127.0.0.1 keeps it off the network).
        dashboard_port: its port; when taken (another local Ray), a free port the OS picks.
        job_name: the name the dashboard's Jobs view shows for this driver (its ``job_name`` metadata).

    If Ray is already initialised in this process it is reused (and checked for the ``pe`` resource).
    """
    loopback_only(address)
    import ray

    if not isinstance(num_pe_slots, int) or isinstance(num_pe_slots, bool) or num_pe_slots < 1:
        raise ValueError(f"num_pe_slots must be a positive integer, got {num_pe_slots!r}")
    if address is not None and not isinstance(address, str):
        raise TypeError(f"address must be a string or None, got {type(address).__name__}")
    if not ray.is_initialized():
        job = ray.job_config.JobConfig(metadata={"job_name": job_name}) if job_name else None
        if address in (None, "", "local"):
            context = _start_local(ray, job, num_pe_slots, dashboard_host, dashboard_port)
        else:
            context = ray.init(
                address=address, job_config=job, log_to_driver=False, logging_level=logging.WARNING,
                runtime_env={"worker_process_setup_hook": SETUP_HOOK},
            )
        url = context.dashboard_url or ""
    else:
        url = _dashboard_url()
    check_pe_resources(num_pe_slots, "the run's PE actors")
    return url if url.startswith("http") or not url else f"http://{url}"


#: How often a local Ray is started again when its dashboard did not start: another process took its port between
#: the check and Ray's bind, or the dashboard process failed on a loaded machine (about one start in ten: "Failed to
#: read dashboard.err"); each time on a port the OS picks.
PORT_ATTEMPTS = 5
#: What Ray's errors say when the dashboard, not the run, failed to start.
DASHBOARD_FAILURES = ("already occupied", "address already in use", "dashboard.err", "dashboard failed",
                      "Failed to start the dashboard")


def _start_local(ray: Any, job: Any, num_pe_slots: int, dashboard_host: str, dashboard_port: int) -> Any:
    """ray.init of a new local Ray with the ``pe`` slots, retrying on another free port when the dashboard's port
    is taken between :func:`_free_port`'s check and Ray's bind (Ray then refuses with "already occupied", or its
    dashboard fails with "address already in use")."""
    port, attempts = dashboard_port, 0
    while True:
        try:
            return ray.init(
                # "local" starts a new Ray; without it ray.init joins whatever cluster RAY_ADDRESS or the last
                # `ray start` (its current-cluster file, even a stale one) names, and then refuses the resources.
                address="local",
                job_config=job,
                runtime_env={"worker_process_setup_hook": SETUP_HOOK},
                resources={PE_RESOURCE: num_pe_slots},
                include_dashboard=True,
                dashboard_host=dashboard_host,
                dashboard_port=_free_port(dashboard_host, port),
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=True,
                # Ray nices its workers to 15 by default; PE actors are the workload, not background jobs.
                _system_config={"worker_niceness": 0},
            )
        except Exception as error:  # Ray raises ValueError, or a plain Exception from its dashboard's start
            attempts += 1
            retry = any(text in str(error) for text in DASHBOARD_FAILURES)
            # Whatever the failed start left running (its raylet, GCS) goes before the next one, or before the error.
            ray.shutdown()
            if not retry or attempts == PORT_ATTEMPTS:
                raise
            port = 0  # the next attempt takes a port the OS picks


def dashboard_hint() -> str:
    """How to get past the dashboard's token dialog, or "" when this process's Ray does not use token
    authentication (``RAY_AUTH_MODE`` other than ``token``)."""
    if os.environ.get(AUTH_VARIABLE, "").lower() != "token":
        return ""
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    command = ray_cli if os.path.exists(ray_cli) else "ray"
    return f"token authentication: paste the output of `{command} get-auth-token` into the dashboard's dialog"


def _free_port(host: str, preferred: int) -> int:
    """``preferred`` when it can be bound on ``host``, else a free port the OS picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError(f"no free TCP port on {host} for the Ray dashboard")


def _dashboard_url() -> str:
    try:
        from ray._private.worker import global_worker

        return global_worker.node.address_info.get("webui_url", "") or ""
    except AttributeError:
        return ""


def stop_ray() -> None:
    """Shut down this process's connection to Ray (and the embedded local Ray, if it started one)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


class PEGroupError(RuntimeError):
    """A PE group failed (an actor died, or a barrier timed out); the message names the group and the PE.

    ``groups`` lists the failed groups; :meth:`ActorEngine.recover` rebuilds them.
    """

    def __init__(self, message: str, groups: list[int]) -> None:
        super().__init__(message)
        self.groups = groups


def check_pe_resources(needed: int, what: str) -> None:
    """Check that the Ray cluster declares ``needed`` units of the ``pe`` resource for ``what``.

    A single-node Ray that declares fewer can never place the run: ValueError. A multi-node cluster may still
    add nodes (its autoscaler scales on pending placement groups): a warning, and the placement waits.
    """
    import ray

    declared = ray.cluster_resources().get(PE_RESOURCE, 0)
    if declared >= needed:
        return
    message = (
        f"{what} need {needed} units of the Ray resource {PE_RESOURCE!r}, the cluster declares {declared:g}; "
        f"start Ray with pe_actors.runtime.cluster.start_ray(num_pe_slots={needed}) or start its nodes with "
        f"`ray start --resources '{{\"{PE_RESOURCE}\": N}}'` (cluster.yaml does)"
    )
    if len([node for node in ray.nodes() if node.get("Alive")]) <= 1:
        raise ValueError(message)
    warnings.warn(message + "; waiting for the autoscaler to add nodes", RuntimeWarning, stacklevel=3)
