"""Analyst use cases: the queue, claiming and releasing, the analysis page, lookups."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.orm import joinedload

from engine import (
    access_log,
    catalogs,
    forms,
    groups,
    orgaos,
    tasks,
    users,
)
from engine.db import rows_changed
from engine.errors import Conflict, NotFound, TaskNotReady, ValidationFailed
from engine.models import (
    TASK_READY,
    Chamado,
    HumanTask,
    Submission,
    User,
)
from engine.prepared import Prepared
from engine.queue import INCIDENTS, QueueFilters, QueuePage, list_queue, orgaos_for_filter
from engine.usecases.base import (
    ANALYST_ROLES,
    STAFF_ROLES,
    Actor,
    ChamadoView,
    UseCaseBase,
)

_TASKS = HumanTask.__table__
# The task a claim takes: still open, free, and of one of the analyst's groups.
_CLAIMABLE = (
    _TASKS.c.id == bindparam("task_id"),
    _TASKS.c.state == TASK_READY,
    _TASKS.c.assignee_id.is_(None),
    _TASKS.c.group.in_(bindparam("groups", expanding=True)),
)
# Claimed only while free: of two analysts claiming at once, exactly one matches.
# Both claim statements run on the driver (engine.prepared), their group list expanded
# once per length.
_CLAIM = Prepared(
    update(_TASKS)
    .where(*_CLAIMABLE)
    .values(assignee_id=bindparam("assignee_id"), claimed_at=bindparam("claimed_at"))
    .returning(_TASKS.c.chamado_id, _TASKS.c.title, _TASKS.c.group)
)
_CHAMADOS = Chamado.__table__
# The first time the team takes the ticket up (engine.dashboard's first analysis): kept
# by the first claim (or reassignment) of a staff task; a later one does not move it.
# A claim runs it before claiming, with the task found by the claim's own conditions: the
# ticket row is then locked before the task row, the order of every step that changes a
# ticket (a step holding the ticket and about to cancel the task, against a claim holding
# the task and waiting for the ticket, was a deadlock). A claim that then finds the task
# taken rolls it back with everything else.
_FIRST_ANALYSIS = (
    update(_CHAMADOS)
    .where(_CHAMADOS.c.id == bindparam("chamado_id"), _CHAMADOS.c.first_analysis_at.is_(None))
    .values(first_analysis_at=bindparam("at"))
)
_FIRST_ANALYSIS_BY_CLAIM = Prepared(
    update(_CHAMADOS)
    .where(
        _CHAMADOS.c.id
        == select(_TASKS.c.chamado_id)
        .where(*_CLAIMABLE, _TASKS.c.group != groups.REQUESTER)
        .scalar_subquery(),
        _CHAMADOS.c.first_analysis_at.is_(None),
    )
    .values(first_analysis_at=bindparam("claimed_at"))
)


class Analysis(UseCaseBase):
    def claim(self, actor: Actor, task_id: int) -> None:
        self._require_roles(actor, ANALYST_ROLES)
        now = self.clock()
        with self.transaction() as session:
            params = {
                "task_id": task_id,
                "groups": self._groups(session, actor),
                "assignee_id": actor.id,
                "claimed_at": now,
            }
            _FIRST_ANALYSIS_BY_CLAIM.execute(session, params)
            claimed = _CLAIM.first(session, params)
            if claimed is None:
                task = session.get(HumanTask, task_id)
                if task is None or task.group not in self._groups(session, actor):
                    raise NotFound("Tarefa não encontrada.")
                if task.state != "ready":
                    raise TaskNotReady("Esta tarefa não está mais disponível.")
                raise Conflict("Esta tarefa já foi assumida por outra pessoa.")
            self._audit(
                session,
                claimed.chamado_id,
                actor.id,
                "tarefa.assumida",
                f"{claimed.title}: assumida",
                public=False,
            )

    def release(self, actor: Actor, task_id: int) -> None:
        with self.transaction() as session:
            result = session.execute(
                update(HumanTask)
                .where(
                    HumanTask.id == task_id,
                    HumanTask.state == TASK_READY,
                    HumanTask.assignee_id == actor.id,
                    HumanTask.group != tasks.REQUESTER_GROUP,
                )
                .values(assignee_id=None, claimed_at=None)
            )
            if rows_changed(result) != 1:
                raise Conflict("Você não é responsável por esta tarefa; nada foi alterado.")
            task = session.get(HumanTask, task_id)
            assert task is not None
            self._audit(
                session,
                task.chamado,
                actor.id,
                "tarefa.liberada",
                f"{task.title}: liberada",
                public=False,
            )

    def reassign(self, actor: Actor, task_id: int, to_cpf: str) -> None:
        self._require_roles(actor, frozenset({"supervisor"}))
        with self.transaction() as session:
            target = session.scalar(select(User).where(User.cpf == to_cpf))
            roles = users.roles_for(session, target.cpf) if target else set()
            if target is None or not (roles & ANALYST_ROLES):
                raise ValidationFailed({"analista": "Escolha um(a) analista cadastrado(a)."})
            # The ticket first, then the task (the claim's order; the task first deadlocked
            # with a step holding the ticket and about to cancel the task).
            self._lock_ticket_of_task(session, task_id)
            task = session.get(HumanTask, task_id, with_for_update={"of": HumanTask})
            if task is None or task.group == tasks.REQUESTER_GROUP:
                raise NotFound("Tarefa não encontrada.")
            if task.group not in groups.of_user(session, target.id, roles):
                raise ValidationFailed(
                    {"analista": "Esta pessoa não faz parte do grupo desta tarefa."}
                )
            if task.state != "ready":
                raise TaskNotReady("Esta tarefa não está mais disponível.")
            now = self.clock()
            task.assignee_id = target.id
            task.claimed_at = now
            session.connection().execute(
                _FIRST_ANALYSIS, {"chamado_id": task.chamado_id, "at": now}
            )
            self._audit(
                session,
                task.chamado,
                actor.id,
                "tarefa.reatribuida",
                f"{task.title}: atribuída a {target.display_name}",
                public=False,
                details={"para": target.cpf},
            )

    def queue(self, actor: Actor, filters: QueueFilters) -> QueuePage:
        """A page of the queue; its incidents view is for every staff role (admins retry)."""
        self._require_roles(actor, STAFF_ROLES if filters.view == INCIDENTS else ANALYST_ROLES)
        with self.reading() as session:
            return list_queue(
                session,
                self._groups(session, actor),
                actor.id,
                filters,
                self.clock(),
                self.settings.queue_page_size,
            )

    def my_groups(self, actor: Actor) -> list[tuple[str, str]]:
        """(key, name) of the groups whose tasks the actor sees, for the queue's filter."""
        with self.reading() as session:
            keys = set(self._groups(session, actor))
            return [(g.key, g.name) for g in groups.list_groups(session) if g.key in keys]

    def category_options(self) -> list[catalogs.CatalogOption]:
        """The choices of every published form field that fills the ticket's category
        (``x-instance: categoria`` with an ``x-catalog``), for the queue's filter."""
        with self.reading() as session:
            names: list[str] = []
            for _process_id, version_id in self._published_versions(session):
                for schema in self.bundle(session, version_id).forms.values():
                    for prop in schema.get("properties", {}).values():
                        if isinstance(prop, dict) and prop.get("x-instance") == "categoria":
                            catalog = prop.get("x-catalog")
                            if catalog and catalog not in names:
                                names.append(catalog)
            found: dict[str, catalogs.CatalogOption] = {}
            for name in names:
                for option in catalogs.options(session, name):
                    found.setdefault(option.code, option)
            return list(found.values())

    def queue_orgaos(self, actor: Actor) -> list[tuple[int, str]]:
        self._require_roles(actor, STAFF_ROLES)  # admins filter the incidents view too
        with self.reading() as session:
            return orgaos_for_filter(session)

    def analysts(self) -> list[User]:
        with self.reading() as session:
            cpfs = {g.cpf for g in users.list_grants(session, ANALYST_ROLES)}
            return list(session.scalars(select(User).where(User.cpf.in_(cpfs)).order_by(User.name)))

    def analysis(
        self, actor: Actor, chamado_id: int, channel: str = access_log.PAGE
    ) -> ChamadoView:
        """A ticket as staff see it; the read is recorded (engine.access_log, ``channel``:
        the page or the API) unless the reader is its requester."""
        self._require_roles(actor, STAFF_ROLES)
        with self.reading() as session:
            chamado = session.get(
                Chamado,
                chamado_id,
                options=[joinedload(Chamado.requester), joinedload(Chamado.orgao)],
            )
            if chamado is None or not self._may_read_ticket(session, actor, chamado):
                raise NotFound("Chamado não encontrado.")
            self._record_access(session, actor, chamado, channel)
            view = self._view(session, chamado, public_only=False)
            # What the requester changed: their last two sendings of the same form.
            last = session.scalar(
                select(Submission)
                .where(
                    Submission.chamado_id == chamado.id,
                    Submission.group == tasks.REQUESTER_GROUP,
                )
                .order_by(Submission.id.desc())
                .limit(1)
            )
            before = last and session.scalar(
                select(Submission)
                .where(
                    Submission.chamado_id == chamado.id,
                    Submission.form_schema == last.form_schema,
                    Submission.id < last.id,
                )
                .order_by(Submission.id.desc())
                .limit(1)
            )
            if last is not None and before is not None:
                shown = next((f for f in view.forms if f.form_schema == last.form_schema), None)
                labels = {"orgaos": orgaos.Labels(session)}
                schema = shown.schema if shown else {}
                view.changes = forms.diff(before.data, last.data, schema, labels)
            mine = self._groups(session, actor)
            staff_tasks = [t for t in view.open_tasks if t.group != tasks.REQUESTER_GROUP]
            view.analysis_task = next(
                (t for t in staff_tasks if t.assignee_id == actor.id),
                next((t for t in staff_tasks if t.group in mine), None),
            )
            return view

    def search_orgaos(self, q: str, limit: int = 15) -> list[tuple[int, str]]:
        with self.reading() as session:
            return orgaos.Labels(session).search(q, limit)

    def orgao_label(self, orgao_id: Any) -> str | None:
        try:
            code = int(str(orgao_id))
        except (TypeError, ValueError):
            return None
        cached = self.orgao_labels.cached(code)
        if cached is not None:
            return cached
        with self.reading() as session:
            return self.orgao_labels.label(session, code)

    def chamado_orgao(self, chamado: Chamado) -> str | None:
        """The ticket's órgão as pages show it, without a lazy load."""
        if chamado.orgao_id is None:
            return None
        # The joined órgão may be stale right after a submission changed orgao_id.
        joined = chamado.orgao if "orgao" not in inspect(chamado).unloaded else None
        if joined is not None and joined.id == chamado.orgao_id:
            return orgaos.display(joined.sigla, joined.name)
        return self.orgao_label(chamado.orgao_id)

    def catalog(self, name: str) -> list[catalogs.CatalogOption]:
        with self.reading() as session:
            return catalogs.options(session, name)
