"""The analysis deadline rule, shared by the service and headless scenario runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine import business_days


def analysis_deadline(
    wf_data: dict[str, Any], spent_seconds: int, now: datetime
) -> datetime | None:
    """When the coming analysis is due: the model's budget (``prazo_analise_dias_uteis``)
    in business time, less what earlier rounds already spent; None without a budget."""
    days = wf_data.get("prazo_analise_dias_uteis")
    if days is None:
        return None
    remaining = int(float(days) * business_days.DAY) - spent_seconds
    return business_days.add_business_seconds(now, remaining) if remaining > 0 else now
