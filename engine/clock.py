"""One clock for the engine and for SpiffWorkflow's timers.

SpiffWorkflow's timer events read ``datetime.now`` from their own module. The
engine takes its clock as a dependency (tests move it ten days ahead), so while
a workflow runs the engine's clock is installed into that module through a
context variable; outside such a block the real time is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer

Clock = Callable[[], datetime]

_current: ContextVar[Clock | None] = ContextVar("engine_clock", default=None)


def utcnow() -> datetime:
    return datetime.now(UTC)


class _EngineDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        clock = _current.get()
        if clock is None:
            return datetime.now(tz)
        value = clock()
        return value.astimezone(tz) if tz is not None else value.astimezone().replace(tzinfo=None)


_spiff_timer.datetime = _EngineDatetime


@contextmanager
def workflow_time(clock: Clock) -> Iterator[None]:
    token = _current.set(clock)
    try:
        yield
    finally:
        _current.reset(token)
