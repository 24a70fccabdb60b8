"""Where a run's lines go: the library logs through :mod:`logging`, on the logger ``pe_actors``.

Progress lines (a run's start, each epoch, where results were written) are INFO records; what a user must not miss
(a network falling silent, an interrupted run, a setting that changes nothing) WARNING records. The library only
logs: a program decides where the records go. ``pe-actors`` prints INFO to standard output and WARNING to standard
error (:func:`to_streams`); :func:`pe_actors.train` and :func:`pe_actors.adapt` print them the same way while
they run (only the warnings with ``progress=False``), unless the program has given the logger ``pe_actors`` a
handler of its own, which then receives every record instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: The logger of the library (its modules log to children of it or to it directly).
log = logging.getLogger("pe_actors")
log.addHandler(logging.NullHandler())


class StreamsHandler(logging.Handler):
    """Writes a record's message as it is: INFO and below to standard output, WARNING and above to standard
    error (the streams looked up at each record, so that a redirected or captured stream is followed)."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            print(self.format(record), file=stream, flush=True)
        except (OSError, ValueError):  # a closed stream must not stop a run
            self.handleError(record)


#: The one handler that prints the library's records on the standard streams.
_STREAMS = StreamsHandler()
_STREAMS.setFormatter(logging.Formatter("%(message)s"))


def configured() -> bool:
    """True when the program has given the library's logger ``pe_actors`` a handler of its own."""
    return any(not isinstance(handler, (logging.NullHandler, StreamsHandler)) for handler in log.handlers)


def to_streams(level: int = logging.INFO) -> logging.Handler:
    """Print the library's records of ``level`` and above on the standard streams (see :class:`StreamsHandler`;
    once, however often it is called); returns the handler."""
    _STREAMS.setLevel(level)
    if _STREAMS not in log.handlers:
        log.addHandler(_STREAMS)
    if log.level == logging.NOTSET or log.level > level:
        log.setLevel(level)
    return _STREAMS


@contextmanager
def console(progress: bool) -> Iterator[None]:
    """For the block, print the library's records (only warnings when not ``progress``) unless the program has
    given the logger a handler of its own."""
    if configured():
        yield
        return
    attached, level, logger_level, propagate = _STREAMS in log.handlers, _STREAMS.level, log.level, log.propagate
    to_streams(logging.INFO if progress else logging.WARNING)
    log.propagate = False  # printed once, here, whatever handlers the root logger has
    try:
        yield
    finally:
        if not attached:
            log.removeHandler(_STREAMS)
        _STREAMS.setLevel(level)
        log.setLevel(logger_level)
        log.propagate = propagate


@contextmanager
def quiet() -> Iterator[None]:
    """For the block, log only warnings (a caller that reports progress its own way, such as a tuner)."""
    previous = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(previous)
