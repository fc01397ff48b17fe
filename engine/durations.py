"""Timer values (ISO 8601 dates, durations and cycles) within sane bounds.

SpiffWorkflow turns a duration into a ``timedelta`` by walking month by month: ``P99999999999Y``
loops a trillion times, ``P99999999999999D`` overflows ``timedelta`` (every start of the
process then fails). Values are checked here, from the parsed components and before any
date arithmetic, both when a model is deployed (constant expressions, engine.timers) and
when a timer is armed at run time (values computed from task data, engine.scripting).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)

# A deadline or a cycle period longer than this is a typo, not a plan.
MAX_SPAN = timedelta(days=5 * 366)
MAX_SPAN_TEXT = "5 anos"
# A repeating timer fires at most this often, at most this many times: each firing is a
# step of the ticket's workflow, which grows with every one.
MIN_CYCLE_PERIOD = timedelta(hours=1)
MAX_CYCLES = 1000
_MAX_TEXT = 100
# Upper bounds of each designator in days (a year is at most 366 days, a month 31).
_DAYS_PER = {
    "years": 366,
    "months": 31,
    "weeks": 7,
    "days": 1,
    "hours": 1 / 24,
    "minutes": 1 / 1440,
    "seconds": 1 / 86400,
}
_EXAMPLES = 'ex.: "P10D", "PT4H", "2026-12-01T09:00:00-03:00" ou "R3/P1D"'


class TimerValueRejected(ValueError):
    """A timer value outside the bounds or unreadable; ``message`` is pt-BR."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _span_days(parsed: dict[str, Any]) -> float:
    return sum(float(v) * _DAYS_PER.get(k, 0) for k, v in parsed.items())


def _duration(text: str) -> timedelta:
    """A bounded duration ``P...`` as the longest timedelta it can mean."""
    invalid = f"{text!r} não é uma duração ISO 8601 válida ({_EXAMPLES})"
    try:
        parsed = TimerEventDefinition.parse_iso_duration(text)
    except Exception as exc:
        raise TimerValueRejected(invalid) from exc
    if not parsed:
        raise TimerValueRejected(invalid)
    days = _span_days(parsed)
    if days > MAX_SPAN.days:
        raise TimerValueRejected(
            f"a duração {text!r} passa do limite de {MAX_SPAN_TEXT}: confira o valor"
        )
    return timedelta(days=days)


def _moment(text: str) -> None:
    try:
        moment = TimerEventDefinition.parse_time_or_duration(text)
    except Exception as exc:
        raise TimerValueRejected(f"{text!r} não é uma data ISO 8601 válida ({_EXAMPLES})") from exc
    if not isinstance(moment, datetime):  # a duration where a date is due
        raise TimerValueRejected(
            f"{text!r} é uma duração, mas este temporizador espera uma data "
            '(ex.: "2026-12-01T09:00:00-03:00")'
        )


def _cycle(text: str) -> None:
    components = text.upper().replace("--", "/").strip("R").split("/")
    count = components[0]
    if len(components) not in (2, 3) or not re.fullmatch(r"\d{0,9}", count):
        raise TimerValueRejected(f"{text!r} não é uma repetição ISO 8601 válida ({_EXAMPLES})")
    if not count or int(count) > MAX_CYCLES:
        raise TimerValueRejected(
            f"a repetição {text!r} deve dizer quantas vezes se repete, no máximo {MAX_CYCLES} "
            '(ex.: "R3/P1D")'
        )
    periods = [_duration(c) for c in components[1:] if c.startswith("P")]
    for c in components[1:]:
        if not c.startswith("P"):
            _moment(c)  # the start or the end of the repetition
    if len(periods) != 1:
        raise TimerValueRejected(f"{text!r} não é uma repetição ISO 8601 válida ({_EXAMPLES})")
    if periods[0] < MIN_CYCLE_PERIOD:
        raise TimerValueRejected(f"a repetição {text!r} deve ter intervalo de pelo menos 1 hora")
    try:  # bounded now: SpiffWorkflow's own reading must succeed too
        TimerEventDefinition.parse_iso_recurring_interval(text)
    except Exception as exc:
        raise TimerValueRejected(
            f"{text!r} não é uma repetição ISO 8601 válida ({_EXAMPLES})"
        ) from exc


# The BPMN element each kind of timer writes its expression in.
DURATION, DATE, CYCLE = "timeDuration", "timeDate", "timeCycle"


def check(definition: TimerEventDefinition, value: Any) -> None:
    """Raises TimerValueRejected unless ``value`` is a timer value the definition can arm."""
    if isinstance(definition, CycleTimerEventDefinition):
        check_kind(CYCLE, value)
    elif isinstance(definition, DurationTimerEventDefinition):
        check_kind(DURATION, value)
    else:
        check_kind(DATE, value)


def check_kind(kind: str, value: Any) -> None:
    """``check`` by the BPMN element's name (``timeDuration``, ``timeDate``, ``timeCycle``):
    the modeler's panel checks a value before any definition exists."""
    if not isinstance(value, str):
        raise TimerValueRejected("o valor do temporizador deve ser um texto ISO 8601 entre aspas")
    text = value.strip()
    if not text or len(text) > _MAX_TEXT:
        raise TimerValueRejected(f"{value[:_MAX_TEXT]!r} não é um valor ISO 8601 ({_EXAMPLES})")
    if kind == CYCLE:
        _cycle(text)
    elif kind == DURATION:
        _duration(text)
    else:
        _moment(text)
