"""Moving running tickets to a newer version of their process.

SpiffWorkflow's ``diff_workflow`` aligns the ticket's tasks with the new spec
(by BPMN id, then by structure) and ``migrate_workflow`` swaps the specs and
re-predicts the ready tasks. A ticket can move when nothing it has done or is
doing disappeared from the new version and its ready tasks stay in the same
lane's group. The dry run performs the whole migration in memory, state
round-trip included, so what it promises the move delivers.

Only ready tasks are reset: a waiting timer keeps its due time (an unanswered
adjustment must not get ten fresh days because the model changed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.task import Task
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from engine import audit, runtime, tasks, timers
from engine.clock import workflow_time
from engine.errors import Conflict, NotFound
from engine.models import TASK_READY, Chamado, HumanTask, ProcessVersion
from engine.specs import ProcessBundle

BundleFor = Callable[[Session, int], ProcessBundle]
Clock = Callable[[], datetime]
_OPEN = TaskState.READY | TaskState.WAITING
_DEFINITE = (
    TaskState.COMPLETED | TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
)


@dataclass(frozen=True)
class Verdict:
    can_move: bool
    reason: str
    changed: tuple[str, ...] = ()  # ready or waiting steps whose definition changed


@dataclass(frozen=True)
class TicketCheck:
    chamado_id: int
    protocolo: str
    status: str
    from_version: int
    can_move: bool
    reason: str
    changed: tuple[str, ...] = field(default_factory=tuple)


def _names(found: list[Task]) -> str:
    return ", ".join(sorted({t.task_spec.bpmn_name or t.task_spec.bpmn_id for t in found}))


def migrate_state(
    old: ProcessBundle,
    new: ProcessBundle,
    state: str,
    clock: Clock,
) -> tuple[Verdict, BpmnWorkflow | None]:
    """The ticket's workflow moved to ``new`` in memory, or why it cannot move."""
    wf = runtime.load(old, state)
    if wf.is_completed():
        return Verdict(False, "O chamado já terminou."), None
    top, sub_diffs = diff_workflow(old.serializer.registry, wf, new.spec, new.subprocess_specs)
    if any(d is None for d in sub_diffs.values()):
        return Verdict(False, "Um subprocesso em uso não existe na nova versão."), None
    gone = [t for t in top.removed if t.state & _DEFINITE and t.task_spec.bpmn_id]
    if gone:
        return Verdict(
            False,
            f"Etapas já percorridas ou em andamento não existem na nova versão: {_names(gone)}.",
        ), None
    for task in runtime.ready_human_tasks(wf):
        target = top.alignment.get(task)
        before = old.group_of(task.task_spec.lane)
        after = new.group_of(getattr(target, "lane", None))
        if target is None or not getattr(target, "manual", False) or before != after:
            return Verdict(
                False,
                f"A etapa em andamento {_names([task])} muda de responsável ou de tipo na nova "
                "versão.",
            ), None
    changed = tuple(sorted({t.task_spec.bpmn_id for t in top.changed if t.state & _OPEN}))
    try:
        migrate_workflow(top, wf, new.spec, reset_mask=TaskState.READY)
        for sp_id, sp_diff in sub_diffs.items():
            sub = wf.subprocesses[sp_id]
            sub_spec = new.subprocess_specs[sub.spec.name]
            migrate_workflow(sp_diff, sub, sub_spec, reset_mask=TaskState.READY)
        wf.subprocess_specs = new.subprocess_specs
        with workflow_time(clock):
            wf.do_engine_steps()
        moved = runtime.dump(new, wf)
        runtime.load(new, moved)  # what is saved must load on the new version
    except Exception as exc:  # any engine failure means "cannot move", never a half move
        return Verdict(False, f"A migração falhou no motor: {exc}"), None
    reason = "Pode ser migrado."
    if changed:
        reason += f" Etapas atuais com definição alterada: {', '.join(changed)}."
    return Verdict(True, reason, changed), wf


def target_version(session: Session, process_id: str, version_id: int) -> ProcessVersion:
    row = session.get(ProcessVersion, version_id)
    if row is None or row.process_id != process_id or row.published_at is None:
        raise NotFound("Versão de destino não encontrada (precisa estar publicada).")
    return row


def candidates(session: Session, process_id: str, target_id: int) -> list[Chamado]:
    """Running tickets on older versions of the process, oldest first."""
    older = select(ProcessVersion.id).where(
        ProcessVersion.process_id == process_id, ProcessVersion.id < target_id
    )
    return list(
        session.scalars(
            select(Chamado)
            .where(Chamado.process_version_id.in_(older), Chamado.closed_at.is_(None))
            .order_by(Chamado.id)
        )
    )


def plan(
    session: Session,
    bundle_for: BundleFor,
    process_id: str,
    target_id: int,
    clock: Clock,
) -> list[TicketCheck]:
    """The dry run: ticket by ticket, whether it can move and why."""
    target_version(session, process_id, target_id)
    new = bundle_for(session, target_id)
    checks = []
    for chamado in candidates(session, process_id, target_id):
        old = bundle_for(session, chamado.process_version_id)
        verdict, _wf = migrate_state(old, new, chamado.workflow_state, clock)
        checks.append(_check(chamado, verdict))
    return checks


def _check(chamado: Chamado, verdict: Verdict) -> TicketCheck:
    return TicketCheck(
        chamado_id=chamado.id,
        protocolo=chamado.protocolo,
        status=chamado.status,
        from_version=chamado.process_version_id,
        can_move=verdict.can_move,
        reason=verdict.reason,
        changed=verdict.changed,
    )


def move(
    session: Session,
    bundle_for: BundleFor,
    process_id: str,
    chamado_id: int,
    target_id: int,
    actor_id: int,
    clock: Clock,
) -> TicketCheck:
    """Moves one ticket (in the caller's transaction) and audits it; refusals change nothing."""
    target_version(session, process_id, target_id)
    chamado = session.get(Chamado, chamado_id)
    version = session.get(ProcessVersion, chamado.process_version_id) if chamado else None
    if (
        chamado is None
        or version is None
        or version.process_id != process_id
        or version.id >= target_id
        or chamado.closed_at is not None
    ):
        raise NotFound("Chamado não encontrado entre os que podem ir para esta versão.")
    # The same version bump as every ticket action: a concurrent step loses, or we do.
    bumped: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Chamado)
        .where(Chamado.id == chamado.id, Chamado.version == chamado.version)
        .values(version=Chamado.version + 1)
    )
    if bumped.rowcount != 1:
        raise Conflict("O chamado foi alterado durante a migração; nada foi feito.")
    session.refresh(chamado)
    old = bundle_for(session, chamado.process_version_id)
    new = bundle_for(session, target_id)
    verdict, wf = migrate_state(old, new, chamado.workflow_state, clock)
    if wf is None:
        raise Conflict(f"{chamado.protocolo}: {verdict.reason}")
    now = clock()
    from_version = chamado.process_version_id
    chamado.process_version_id = target_id
    chamado.workflow_state = runtime.dump(new, wf)
    chamado.updated_at = now
    _refresh_open_rows(session, chamado, new)
    session.flush()  # the sync below reads and writes the rows directly
    tasks.sync(session, chamado, wf, new, now)
    timers.sync(session, chamado, wf, now)
    audit.record(
        session,
        "chamado.migrado",
        "Chamado migrado para uma nova versão do processo",
        chamado_id=chamado.id,
        actor_id=actor_id,
        at=now,
        details={
            "de": from_version,
            "para": target_id,
            "etapas_alteradas": list(verdict.changed),
        },
    )
    return _check(chamado, verdict)


def _refresh_open_rows(session: Session, chamado: Chamado, new: ProcessBundle) -> None:
    """Open task rows take the new version's title and forms (their task ids stay)."""
    for row in session.scalars(
        select(HumanTask).where(HumanTask.chamado_id == chamado.id, HumanTask.state == TASK_READY)
    ):
        info = new.user_tasks.get(row.task_name)
        if info is not None:
            row.title = info.title
            row.form_schema = info.form_schema
            row.form_ui_schema = info.form_ui_schema
