"""Deploy-time checks of a model's timer expressions (the spec side of timers).

Kept apart from engine.timers (the rows the scheduler fires), which needs the runtime:
the spec must not import the runtime that imports the spec.
"""

from __future__ import annotations

import ast

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)


def check_expression(definition: TimerEventDefinition, expression: str) -> str | None:
    """A constant timer expression that cannot be parsed, as a pt-BR message."""
    try:
        value = ast.literal_eval(expression.strip())
    except (ValueError, SyntaxError):
        return None  # a data name (e.g. prazo_analise): checked when it runs
    if not isinstance(value, str):
        return f"a expressão {expression!r} deve ser um texto ISO 8601 entre aspas"
    try:
        if isinstance(definition, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
        elif type(definition).__name__ == "DurationTimerEventDefinition":
            TimerEventDefinition.parse_iso_duration(value)
        else:
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception:
        return f'{value!r} não é uma data, duração ou repetição ISO 8601 válida (ex.: "P10D")'
    return None
