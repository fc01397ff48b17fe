"""Business-time deadlines a model declares (``businessDeadline:<var>``, engine.policy).

Shared by the service and headless scenario runs: each declared variable is set, before
a step runs, to that many business days (Brasília) from now, less the business time the
instance already spent with a group; a timer of the model reads the variable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine import business_days
from engine.policy import ProcessPolicy
from engine.scripting import evaluate


def business_deadlines(
    policy: ProcessPolicy, wf_data: dict[str, Any], spent_seconds: int, now: datetime
) -> dict[str, datetime]:
    found = {}
    for variable, expression in policy.business_deadlines.items():
        try:
            days = float(evaluate(expression, wf_data))
        except Exception:  # the name is set by a later step: no deadline yet
            continue
        remaining = int(days * business_days.DAY) - spent_seconds
        found[variable] = (
            business_days.add_business_seconds(now, remaining) if remaining > 0 else now
        )
    return found
