"""A timer's expression read back in pt-BR, for the modeler's properties panel.

A designer types the Python expression the engine evaluates (``"P10D"``, ``prazo_analise``)
and sees what it means ("10 dias", "dois dias úteis a partir do início da etapa") or why
it cannot be armed — the same checks as at deploy (engine.durations), as one types.
Nothing here runs the expression: constants are read with ``ast.literal_eval``, names
are looked up in the model itself (its ``businessDeadline:<var>`` properties and the
constants its scripts assign), so the answer is bounded and side-effect free.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine import durations, specs
from engine.errors import ProcessDefinitionError

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
KINDS = (durations.DURATION, durations.DATE, durations.CYCLE)
MAX_EXPRESSION = 500
_MAX_SCRIPT = 20_000
_BRASILIA = ZoneInfo("America/Sao_Paulo")
_WORDS = ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez"]
# An ISO 8601 value typed without the quotes Python needs.
_BARE_ISO = re.compile(r"^(R\d*/)?(P[0-9YMWDTHS.,]+|\d{4}-\d{2}-\d{2}\S*)(/\S+)?$", re.IGNORECASE)
_UNITS = [
    ("years", "ano", "anos"),
    ("months", "mês", "meses"),
    ("weeks", "semana", "semanas"),
    ("days", "dia", "dias"),
    ("hours", "hora", "horas"),
    ("minutes", "minuto", "minutos"),
    ("seconds", "segundo", "segundos"),
]


@dataclass(frozen=True)
class TimerPreview:
    preview: str | None  # what the value means, in pt-BR
    error: str | None  # why it cannot be armed, in pt-BR

    def as_dict(self) -> dict[str, str | None]:
        return {"preview": self.preview, "error": self.error}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}".replace(".", ",")


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " e " + parts[-1]


def duration_text(parsed: dict[str, float]) -> str:
    """{'days': 10} → "10 dias"; {'days': 1, 'hours': 2} → "1 dia e 2 horas"."""
    parts = [
        f"{_number(parsed[key])} {one if float(parsed[key]) == 1 else many}"
        for key, one, many in _UNITS
        if parsed.get(key)
    ]
    return _join(parts) if parts else "0 segundos"


def _delta_text(delta: timedelta) -> str:
    days, rest = delta.days, delta.seconds
    return duration_text({"days": days, "hours": rest // 3600, "minutes": rest % 3600 // 60})


def business_days_text(days: int) -> str:
    """2 → "dois dias úteis" (words up to ten, as people write deadlines)."""
    word = _WORDS[days] if 0 <= days < len(_WORDS) else str(days)
    return f"{word} dia útil" if days == 1 else f"{word} dias úteis"


def _moment_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        return f"em {moment:%d/%m/%Y} às {moment:%H:%M} (sem fuso horário: acrescente -03:00)"
    local = moment.astimezone(_BRASILIA)
    return f"em {local:%d/%m/%Y} às {local:%H:%M} (horário de Brasília)"


def _constant_preview(kind: str, text: str) -> str:
    if kind == durations.DURATION:
        return duration_text(TimerEventDefinition.parse_iso_duration(text))
    if kind == durations.CYCLE:
        count, _start, period = TimerEventDefinition.parse_iso_recurring_interval(text)
        times = "1 vez" if count == 1 else f"{count} vezes"
        return f"{times}, a cada {_delta_text(period)}"
    return _moment_text(TimerEventDefinition.parse_time_or_duration(text))


def _model_facts(xml: str) -> tuple[dict[str, str], dict[str, object]]:
    """(businessDeadline:<var> → its expression, constants the scripts assign)."""
    if not xml:
        return {}, {}
    try:
        tree = specs.safe_parse_xml(xml.encode("utf-8"))
    except ProcessDefinitionError:
        return {}, {}
    deadlines = {}
    for prop in tree.iter(f"{{{SPIFF_NS}}}property"):
        name = prop.get("name") or ""
        if name.startswith("businessDeadline:"):
            deadlines[name.split(":", 1)[1]] = (prop.get("value") or "").strip()
    constants: dict[str, object] = {}
    for script in tree.iter(f"{{{BPMN_NS}}}script"):
        source = script.text or ""
        if len(source) > _MAX_SCRIPT:
            continue
        try:
            module = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for statement in module.body:
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and isinstance(statement.value, ast.Constant)
            ):
                constants[statement.targets[0].id] = statement.value.value
    return deadlines, constants


def _name_preview(kind: str, name: str, xml: str) -> str:
    deadlines, constants = _model_facts(xml)
    if kind == durations.DATE and name in deadlines:
        source = deadlines[name]
        days: object = None
        try:
            days = ast.literal_eval(source)
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            days = constants.get(source)
        origin = f"businessDeadline:{name} do processo"
        if isinstance(days, int) and not isinstance(days, bool) and days >= 0:
            return f"{business_days_text(days)} a partir do início da etapa ({origin})"
        return f"o prazo em dias úteis “{source}” a partir do início da etapa ({origin})"
    value = constants.get(name)
    if isinstance(value, str):
        try:
            durations.check_kind(kind, value)
            return f"{_constant_preview(kind, value.strip())} (valor de {name} nos scripts)"
        except durations.TimerValueRejected:
            pass
    return f"o valor do dado “{name}” do chamado quando o temporizador é armado"


def preview(kind: str, expression: str, xml: str = "") -> TimerPreview:
    """What ``expression`` means for a timer of ``kind``, or why it cannot be armed."""
    if kind not in KINDS:
        return TimerPreview(
            None, "Escolha o tipo de temporizador: duração, data e hora ou repetição."
        )
    text = (expression or "").strip()
    if not text:
        return TimerPreview(None, 'Informe o valor do temporizador, ex.: "P10D".')
    if len(text) > MAX_EXPRESSION:
        return TimerPreview(None, f"A expressão passa de {MAX_EXPRESSION} caracteres.")
    if _BARE_ISO.match(text):
        return TimerPreview(
            None, f'Escreva o valor entre aspas: "{text}" (o valor é uma expressão Python).'
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return TimerPreview(None, "Expressão Python inválida: confira aspas e parênteses.")
    try:
        value = ast.literal_eval(tree)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        if isinstance(tree.body, ast.Name):
            return TimerPreview(_name_preview(kind, tree.body.id, xml), None)
        return TimerPreview(
            "calculado com os dados do chamado quando o temporizador é armado", None
        )
    try:
        durations.check_kind(kind, value)
    except durations.TimerValueRejected as exc:
        message = exc.message
        return TimerPreview(None, message[:1].upper() + message[1:] + ".")
    return TimerPreview(_constant_preview(kind, value.strip()), None)
