"""What a running training or adaptation owns, and gives back when it ends: its run directory, the signals that
stop it cleanly, and its engine (with Ray and the PE actors, and a Prometheus server when asked)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pe_actors.core.logs import log
from pe_actors.run.rundir import RunDir, owned
from pe_actors.training.callbacks import StopRequest


class RunError(RuntimeError):
    """A run that started could not finish (a non-finite loss, PE actors that would not start, no epoch)."""


class RunContext:
    """Owns a run while it runs (a context manager): the run directory ``out`` (its lock: no second process writes
    into it), the :class:`~pe_actors.training.callbacks.StopRequest` that SIGTERM and Ctrl-C set while
    :meth:`stoppable`, and the engine of :meth:`start`, released by :meth:`release` or at the end."""

    def __init__(self, out: Path | str) -> None:
        self.rundir = RunDir(Path(out))
        self.stop = StopRequest()
        self._owned = ExitStack()
        self._engine = ExitStack()

    @property
    def path(self) -> Path:
        """The run directory."""
        return self.rundir.path

    def __enter__(self) -> RunContext:
        self._owned.enter_context(owned(self.rundir.path))
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
        self._owned.__exit__(*exc)

    def start(self, engine: Any, monitor: bool = False) -> Any:
        """Start ``engine`` (for the PE actors: Ray, the placement groups, the actors, the mailboxes), log what the
        start-up took and the dashboard's URL, and with ``monitor`` start a Prometheus server scraping Ray's metrics
        into RUN/prometheus; a failed start is a :class:`RunError`. Both stop at :meth:`release`."""
        try:
            engine.start()
        except (ConnectionError, RuntimeError, ValueError) as error:
            engine.close()
            raise RunError(f"cannot start the PE actors: {error}") from None
        self._engine.callback(engine.close)
        startup = getattr(engine, "startup", None)
        if startup:
            log.info(
                f"Started {startup['actors']} PE actors in {startup['seconds']:.1f} s "
                f"({startup['seconds_per_actor']:.2f} s per actor, all groups at once)"
            )
        if getattr(engine, "dashboard_url", None):
            from pe_actors.runtime.cluster import dashboard_hint

            hint = dashboard_hint()
            log.info(f"Ray dashboard: {engine.dashboard_url}" + (f" ({hint})" if hint else ""))
        if monitor:
            self._monitor()
        return engine

    def _monitor(self) -> None:
        from pe_actors.runtime.monitor import PrometheusMonitor

        try:
            server = PrometheusMonitor(self.rundir.prometheus).start()
        except (FileNotFoundError, RuntimeError) as error:
            self.release()
            raise RunError(f"--monitor: {error}") from None
        self._engine.callback(server.stop)
        log.info(f"Prometheus: {server.url} (scraping Ray's metrics, ray_pe_* among them; it stops with the run)")

    def release(self) -> None:
        """Stop the engine (and the monitor) now; the run directory stays owned until the context ends."""
        self._engine.close()

    @contextmanager
    def stoppable(self) -> Iterator[StopRequest]:
        """For the block, SIGTERM and Ctrl-C set :attr:`stop` (a second signal interrupts at once). Installed after
        Ray has started, the handlers replace the one that would print Ray's C++ signal dump; in a thread other
        than the main one (Ray Tune's trials) signals stay as they are."""
        main = threading.current_thread() is threading.main_thread()
        signals = (signal.SIGTERM, signal.SIGINT) if main else ()
        previous = {sig: signal.signal(sig, self.stop.handler) for sig in signals}
        try:
            yield self.stop
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
