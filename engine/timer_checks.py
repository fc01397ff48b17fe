"""Deploy-time checks of a model's timer expressions (the spec side of timers).

Kept apart from engine.timers (the rows the scheduler fires), which needs the runtime:
the spec must not import the runtime that imports the spec.
"""

from __future__ import annotations

import ast

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimerEventDefinition,
)

from engine import durations


def check_expression(definition: TimerEventDefinition, expression: str) -> str | None:
    """A constant timer expression that cannot be armed, as a pt-BR message.

    Unreadable values and values outside engine.durations' bounds (a duration of more
    than a few years, an unbounded or too frequent repetition) are refused at deploy,
    before any start of the process meets them.
    """
    try:
        value = ast.literal_eval(expression.strip())
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        return None  # a data name (e.g. prazo_analise): checked when it is armed
    try:
        durations.check(definition, value)
    except durations.TimerValueRejected as exc:
        return exc.message
    return None
