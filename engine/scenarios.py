"""Scenario tests of a process model, run headlessly before a version is published.

A scenario is the form input of each user task in the order the tasks come up,
and the end event the run must reach. It runs on the engine alone: a workflow
in memory on the parsed model, each input checked against the task's form (as
the service does: only declared fields, JSON Schema validation) and fed with
``runtime.complete``. Nothing is stored.

Steps (JSON):

- ``{"task": "<user task id>", "data": {...}}`` completes the ready user task
  with that id (``task`` may be omitted: the first ready one). ``data`` is merged
  over the last input given to the same form in this run, as the service prefills
  an adjustment with the last submission.
- ``{"timer": "<timer event id>"}`` makes that waiting timer fire now.

``processes/<name>.scenarios.json`` ships scenarios with a model:
``{"process_id": "...", "scenarios": [{"name", "expected_end", "steps"}]}``.

Editing a stored scenario carries its ``version`` as the designer's page showed it: when
someone else saved it meanwhile, nothing is written (:class:`~engine.errors.Conflict`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import forms, limits, runtime, sla
from engine.catalogs import CatalogOption
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import Scenario
from engine.specs import ProcessBundle

MAX_STEPS = 200
MAX_NAME = 200
STALE = (
    "Este cenário foi alterado por outra pessoa enquanto você o editava; nada foi gravado. "
    "Recarregue a página para ver a versão atual."
)


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    expected_end: str
    steps: list[dict[str, Any]]


@dataclass(frozen=True)
class StepResult:
    number: int  # 1-based, as designers count
    element_id: str | None
    ok: bool
    message: str


@dataclass
class ScenarioReport:
    name: str
    expected_end: str
    end_event: str | None = None
    steps: list[StepResult] = field(default_factory=list)
    message: str = ""
    # The elements the run went through, in order ("Nome (id)"): the path it took.
    path: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.end_event == self.expected_end and all(s.ok for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected_end": self.expected_end,
            "end_event": self.end_event,
            "message": self.message,
            "steps": [s.__dict__ for s in self.steps],
            "path": list(self.path),
        }


class _StepFailed(Exception):
    def __init__(self, element_id: str | None, message: str) -> None:
        super().__init__(message)
        self.element_id = element_id
        self.message = message


# ------------------------------------------------------------------ shape


def parse_steps(raw: Any) -> list[dict[str, Any]]:
    """Checks the JSON shape of a scenario's steps; raises ValidationFailed (pt-BR)."""
    if isinstance(raw, str):
        try:
            raw = limits.loads(raw)
        except limits.JsonRejected as exc:
            raise ValidationFailed({"steps": exc.message}) from exc
        except json.JSONDecodeError as exc:
            raise ValidationFailed(
                {"steps": f"JSON inválido na linha {exc.lineno}, coluna {exc.colno}."}
            ) from exc
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed({"steps": "Informe uma lista de passos."})
    if len(raw) > MAX_STEPS:
        raise ValidationFailed({"steps": f"No máximo {MAX_STEPS} passos."})
    steps = []
    for n, step in enumerate(raw, 1):
        if not isinstance(step, dict):
            raise ValidationFailed({"steps": f"Passo {n}: deve ser um objeto."})
        if "timer" in step:
            if not isinstance(step["timer"], str) or set(step) != {"timer"}:
                raise ValidationFailed({"steps": f'Passo {n}: use {{"timer": "id"}}.'})
        else:
            if not isinstance(step.get("data"), dict) or set(step) - {"task", "data"}:
                raise ValidationFailed(
                    {"steps": f'Passo {n}: use {{"task": "id", "data": {{...}}}}.'}
                )
            if "task" in step and not isinstance(step["task"], str):
                raise ValidationFailed({"steps": f"Passo {n}: task deve ser um texto."})
        steps.append(step)
    return steps


def spec_of(row: Scenario) -> ScenarioSpec:
    return ScenarioSpec(name=row.name, expected_end=row.expected_end, steps=list(row.steps))


# ------------------------------------------------------------------ running


def run(
    bundle: ProcessBundle,
    scenario: ScenarioSpec,
    catalogs: Mapping[str, Sequence[CatalogOption]] | None = None,
    now: datetime | None = None,
) -> ScenarioReport:
    now = now or datetime.now(UTC)
    report = ScenarioReport(name=scenario.name, expected_end=scenario.expected_end)
    last_input: dict[str, dict[str, Any]] = {}
    try:
        wf = runtime.start(bundle)
    except Exception as exc:  # the model's own start fails: report, never raise
        report.message = f"O processo falhou ao iniciar: {exc}"
        return report
    for number, step in enumerate(scenario.steps, 1):
        try:
            if "timer" in step:
                element = _fire_timer(wf, step["timer"])
                message = "Temporizador disparado."
            else:
                extra = _EngineVariables(bundle, now)
                element = _complete(wf, bundle, step, catalogs, last_input, extra)
                message = "Tarefa concluída."
        except _StepFailed as exc:
            report.steps.append(StepResult(number, exc.element_id, False, exc.message))
            report.message = f"Passo {number}: {exc.message}"
            report.path = path_of(wf)
            return report
        except Exception as exc:  # gateway without a matching flow, script errors
            named = step.get("task") or step.get("timer")
            report.steps.append(StepResult(number, named, False, str(exc)))
            report.message = f"Passo {number}: o motor falhou: {exc}"
            report.path = path_of(wf)
            return report
        report.steps.append(StepResult(number, element, True, message))
    report.path = path_of(wf)
    report.end_event = runtime.end_event(wf, bundle)
    report.message = _verdict(wf, bundle, report)
    return report


def path_of(wf: BpmnWorkflow) -> list[str]:
    """The BPMN elements the run completed, in the order it did: its events, tasks and the
    gateways that chose its branches (SpiffWorkflow's internal tasks have no BPMN id)."""
    done = sorted(
        (t for t in runtime.all_tasks(wf) if t.state == TaskState.COMPLETED),
        key=lambda t: t.last_state_change,
    )
    path = []
    for task in done:
        element = task.task_spec.bpmn_id
        if element:
            name = task.task_spec.bpmn_name
            path.append(f"{name} ({element})" if name else element)
    return path


def _verdict(wf: BpmnWorkflow, bundle: ProcessBundle, report: ScenarioReport) -> str:
    if report.end_event == report.expected_end:
        return f"Terminou em {report.expected_end}, como esperado."
    if report.end_event is None:
        waiting = ", ".join(t.task_spec.bpmn_id for t in runtime.ready_human_tasks(wf))
        return f"O processo não terminou: esperava {report.expected_end}" + (
            f"; aguardando {waiting}." if waiting else "."
        )
    return f"Terminou em {report.end_event}, mas o esperado era {report.expected_end}."


def _complete(
    wf: BpmnWorkflow,
    bundle: ProcessBundle,
    step: dict[str, Any],
    catalogs: Mapping[str, Sequence[CatalogOption]] | None,
    last_input: dict[str, dict[str, Any]],
    extra: _EngineVariables,
) -> str:
    ready = runtime.ready_human_tasks(wf)
    wanted = step.get("task")
    if not ready:
        end = runtime.end_event(wf, bundle)
        where = f"o processo já terminou em {end}" if end else "nenhuma tarefa está pronta"
        raise _StepFailed(wanted, f"Esperava a tarefa {wanted or '(qualquer)'}, mas {where}.")
    task = next((t for t in ready if t.task_spec.bpmn_id == wanted), None) if wanted else ready[0]
    if task is None:
        names = ", ".join(t.task_spec.bpmn_id for t in ready)
        raise _StepFailed(wanted, f"Esperava a tarefa {wanted}, mas a pronta é {names}.")
    element = task.task_spec.bpmn_id
    info = bundle.user_tasks.get(element)
    schema_name = info.form_schema if info else None
    schema = bundle.forms.get(schema_name or "", {})
    if catalogs is not None:
        schema = forms.resolve_catalogs(schema, catalogs)
    merged = {**last_input.get(schema_name or "", {}), **copy.deepcopy(step["data"])}
    # As the service does: only fields the form declares reach the task data.
    props = schema.get("properties", {})
    data = {k: v for k, v in merged.items() if k in props}
    errors = forms.validate(schema, data)
    if errors:
        listed = "; ".join(f"{k}: {v}" for k, v in errors.items())
        raise _StepFailed(element, f"O formulário de {element} recusou os dados: {listed}")
    runtime.complete(wf, task, {**data, **extra.for_task(task)})
    last_input[schema_name or ""] = data
    return element


@dataclass(frozen=True)
class _EngineVariables:
    """What the service adds to a completed task's data besides the form input: the
    model's business deadlines (engine.sla), for an instance with no group time spent."""

    bundle: ProcessBundle
    now: datetime

    def for_task(self, task: Any) -> dict[str, Any]:
        found = sla.business_deadlines(self.bundle.policy, task.data, 0, self.now)
        return {variable: due.isoformat() for variable, due in found.items()}


def _fire_timer(wf: BpmnWorkflow, element_id: str) -> str:
    waiting = [
        t for t in wf.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_id == element_id
    ]
    if not waiting:
        raise _StepFailed(element_id, f"O temporizador {element_id} não está aguardando.")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for task in waiting:
        task.internal_data["event_value"] = past
    # The first pass makes the timer ready, the second runs it and what follows.
    runtime.fire_timers(wf)
    runtime.fire_timers(wf)
    return element_id


# ------------------------------------------------------------------ storage


def list_for(session: Session, process_id: str) -> list[Scenario]:
    return list(
        session.scalars(
            select(Scenario).where(Scenario.process_id == process_id).order_by(Scenario.name)
        )
    )


def save(
    session: Session,
    process_id: str,
    name: str,
    steps: Any,
    expected_end: str,
    now: datetime,
    scenario_id: int | None = None,
    expected_version: int | None = None,
) -> Scenario:
    """A new scenario (``scenario_id`` None) or the edit of one, made on
    ``expected_version`` (required then): Conflict when it moved since."""
    scenario_id = scenario_id or None  # ids start at 1: 0 is no scenario, as before
    if scenario_id is not None and expected_version is None:
        raise ValueError("an edit carries the version of the scenario it was made on")
    name = name.strip()
    errors = {}
    if not name or len(name) > MAX_NAME:
        errors["name"] = f"Informe um nome de até {MAX_NAME} caracteres."
    elif wrong := limits.forbidden_character(name):  # PostgreSQL refuses a NUL in text
        errors["name"] = wrong
    if not expected_end.strip():
        errors["expected_end"] = "Informe o evento de fim esperado."
    if errors:
        raise ValidationFailed(errors)
    parsed = parse_steps(steps)
    # Locked, then compared (PostgreSQL: a second save waits for the first's commit and
    # reads its version; SQLite's writers queue anyway): exactly one of two saves of the
    # same version writes.
    row = (
        session.get(Scenario, scenario_id, with_for_update=True, populate_existing=True)
        if scenario_id is not None
        else None
    )
    if scenario_id is not None and (row is None or row.process_id != process_id):
        raise NotFound("Cenário não encontrado.")
    if row is not None and row.version != expected_version:
        raise Conflict(STALE)
    clash = session.scalar(
        select(Scenario).where(Scenario.process_id == process_id, Scenario.name == name)
    )
    if clash is not None and clash is not row:
        raise ValidationFailed({"name": "Já existe um cenário com este nome."})
    if row is None:
        row = Scenario(process_id=process_id, name=name, steps=parsed, expected_end="", version=1)
        session.add(row)
    else:
        row.version += 1
    row.name, row.steps, row.expected_end, row.updated_at = name, parsed, expected_end, now
    session.flush()
    return row


def delete(session: Session, process_id: str, scenario_id: int) -> None:
    row = session.get(Scenario, scenario_id)
    if row is None or row.process_id != process_id:
        raise NotFound("Cenário não encontrado.")
    session.delete(row)


def load_file(path: Path) -> tuple[str, list[ScenarioSpec]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    specs = [
        ScenarioSpec(
            name=str(item["name"]),
            expected_end=str(item["expected_end"]),
            steps=parse_steps(item["steps"]),
        )
        for item in raw["scenarios"]
    ]
    return str(raw["process_id"]), specs


def seed(session: Session, processes_dir: Path, now: datetime) -> int:
    """Adds the scenarios shipped in ``processes/*.scenarios.json`` that are not stored yet.

    Designers' edits win: a stored scenario with the same name is left alone.
    """
    added = 0
    for path in sorted(processes_dir.glob("*.scenarios.json")):
        process_id, specs = load_file(path)
        known = {row.name for row in list_for(session, process_id)}
        for spec in specs:
            if spec.name in known:
                continue
            session.add(
                Scenario(
                    process_id=process_id,
                    name=spec.name,
                    steps=spec.steps,
                    expected_end=spec.expected_end,
                    updated_at=now,
                )
            )
            added += 1
    session.flush()
    return added
