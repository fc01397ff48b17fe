"""Painel (engine.dashboard): the figures of a period for supervisors and admins.

Who sees what: an admin, every process; a supervisor, the processes whose published
model has a lane worked by one of their groups (engine.groups: by CPF or by role) — the
tickets their groups may see; anyone else is refused. The filters of órgão, service and
process narrow that scope; a process outside it is refused as a filter, never shown.

Each fact is one bounded query of the period (engine.dashboard's docstring says why and
how it scales): the tickets sent in it, those closed in it, the open ones by age, the
satisfaction answers given in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select, type_coerce
from sqlalchemy.orm import Session

from engine import catalogs, dashboard, groups
from engine.dashboard import Facts, Filters, Metric
from engine.errors import Forbidden, ValidationFailed
from engine.models import AwareDateTime, Chamado, HumanTask, ProcessVersion, SatisfactionSurvey
from engine.usecases.base import Actor, UseCaseBase

REFUSED = (
    "O painel é para supervisores e administradores. "
    "Peça o papel de Supervisor(a) a um(a) administrador(a), se precisar dele."
)
_VIEWERS = frozenset({"supervisor", "admin"})
_TASKS = HumanTask.__table__
# The first time the team took up the ticket: the first claim, or the completion of a
# staff task nobody claimed (a released claim is forgotten with the task's claimed_at).
_FIRST_ANALYSIS = type_coerce(
    select(func.min(func.coalesce(_TASKS.c.claimed_at, _TASKS.c.completed_at)))
    .where(_TASKS.c.chamado_id == Chamado.id, _TASKS.c.group != groups.REQUESTER)
    .scalar_subquery(),
    AwareDateTime(),
)


@dataclass(frozen=True)
class Panel:
    filters: Filters
    metrics: list[Metric]
    # The choices of the filters: the órgãos and services of the period's tickets (so
    # a choice always finds something), the processes the person may see.
    orgaos: list[tuple[int, str]]
    servicos: list[str]
    processos: list[tuple[str, str]]
    everything: bool  # an admin: every process

    def metric(self, key: str) -> Metric:
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(key)


class Dashboard(UseCaseBase):
    def filters(self, actor: Actor, args: dict[str, str]) -> Filters:
        """The request's filters (422 naming each bad one), for a person who may see."""
        self._viewer(actor)
        today = dashboard.local_day(self.clock())
        return dashboard.parse_filters(args, today)

    def panel(self, actor: Actor, filters: Filters) -> Panel:
        self._viewer(actor)
        now = self.clock()
        with self.reading() as session:
            titles = self._process_titles(session)
            scope = self._scope(session, actor, list(titles))
            if filters.process_id is not None and (
                filters.process_id not in titles
                or (scope is not None and filters.process_id not in scope)
            ):
                raise ValidationFailed(
                    {"processo": "Escolha um processo da lista."}, "Corrija os filtros do painel."
                )
            start, after = filters.window()
            period = self._opened(session, scope, start, after)
            opened = [o for o in period if self._matches(o, filters)]
            facts = Facts(
                filters=filters,
                now=now,
                opened=opened,
                closed=self._closed(session, scope, filters, start, after),
                backlog=self._backlog(session, scope, filters, now),
                ratings={},
                comments=0,
            )
            facts.ratings, facts.comments = self._satisfaction(
                session, scope, filters, start, after
            )
            orgao_ids = {o.orgao_id for o in period if o.orgao_id is not None}
            if filters.orgao_id is not None:
                orgao_ids.add(filters.orgao_id)
            facts.orgao_labels = {
                i: self.orgao_labels.label(session, i) or f"SIORG {i}" for i in orgao_ids
            }
            facts.categoria_labels = self._categoria_labels(session)
            visible = titles if scope is None else {p: titles[p] for p in scope}
            facts.process_labels = titles
            servicos = {o.servico for o in period if o.servico}
            if filters.servico:
                servicos.add(filters.servico)
            return Panel(
                filters=filters,
                metrics=dashboard.metrics(facts),
                orgaos=sorted(facts.orgao_labels.items(), key=lambda item: item[1].casefold()),
                servicos=sorted(servicos, key=str.casefold),
                processos=sorted(visible.items(), key=lambda item: item[1].casefold()),
                everything=scope is None,
            )

    # --- who sees what ----------------------------------------------------------------------

    @staticmethod
    def _viewer(actor: Actor) -> None:
        if not (actor.roles & _VIEWERS):
            raise Forbidden(REFUSED)

    def _scope(self, session: Session, actor: Actor, processes: list[str]) -> set[str] | None:
        """None: every process (admins); else the processes a lane of one of the
        supervisor's groups works, in their latest published version."""
        if "admin" in actor.roles:
            return None
        mine = set(self._groups(session, actor))
        found = set()
        for process_id, version_id in self._published_versions(session):
            lanes = self.bundle(session, version_id).lane_groups
            if mine & set(lanes.values()):
                found.add(process_id)
        return found

    def _process_titles(self, session: Session) -> dict[str, str]:
        return {
            process_id: self.bundle(session, version_id).policy.title
            for process_id, version_id in self._published_versions(session)
        }

    def _categoria_labels(self, session: Session) -> dict[str, str]:
        """Problem type code → label, from the catalogs of every published form field
        that fills the ticket's category (``x-instance: categoria`` with an ``x-catalog``)."""
        names: list[str] = []
        for _process_id, version_id in self._published_versions(session):
            for schema in self.bundle(session, version_id).forms.values():
                for prop in schema.get("properties", {}).values():
                    if isinstance(prop, dict) and prop.get("x-instance") == "categoria":
                        catalog = prop.get("x-catalog")
                        if catalog and catalog not in names:
                            names.append(catalog)
        labels: dict[str, str] = {}
        for name in names:
            for option in catalogs.options(session, name):
                labels.setdefault(option.code, option.label)
        return labels

    # --- the facts --------------------------------------------------------------------------

    @staticmethod
    def _in_scope(query: Select[Any], scope: set[str] | None) -> Select[Any]:
        query = query.join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id)
        if scope is not None:
            query = query.where(ProcessVersion.process_id.in_(sorted(scope) or [""]))
        return query

    @staticmethod
    def _narrowed(query: Select[Any], filters: Filters) -> Select[Any]:
        if filters.orgao_id is not None:
            query = query.where(Chamado.orgao_id == filters.orgao_id)
        if filters.servico:
            query = query.where(Chamado.servico == filters.servico)
        if filters.process_id:
            query = query.where(ProcessVersion.process_id == filters.process_id)
        return query

    @staticmethod
    def _matches(opened: dashboard.Opened, filters: Filters) -> bool:
        return (
            (filters.orgao_id is None or opened.orgao_id == filters.orgao_id)
            and (not filters.servico or opened.servico == filters.servico)
            and (not filters.process_id or opened.process_id == filters.process_id)
        )

    def _opened(
        self, session: Session, scope: set[str] | None, start: datetime, after: datetime
    ) -> list[dashboard.Opened]:
        """Every ticket sent in the period (the dimension filters are applied by the
        caller: the unfiltered rows give the filters' choices)."""
        query = self._in_scope(
            select(
                Chamado.submitted_at,
                Chamado.orgao_id,
                Chamado.servico,
                Chamado.categoria,
                ProcessVersion.process_id,
                _FIRST_ANALYSIS.label("first_analysis_at"),
                Chamado.overdue,
            ),
            scope,
        ).where(Chamado.submitted_at >= start, Chamado.submitted_at < after)
        return [dashboard.Opened(*row) for row in session.execute(query)]

    def _closed(
        self,
        session: Session,
        scope: set[str] | None,
        filters: Filters,
        start: datetime,
        after: datetime,
    ) -> list[dashboard.Closed]:
        query = self._in_scope(
            select(Chamado.submitted_at, Chamado.closed_at, Chamado.adjustment_rounds), scope
        ).where(
            Chamado.closed_at >= start,
            Chamado.closed_at < after,
            Chamado.submitted_at.is_not(None),
        )
        return [dashboard.Closed(*row) for row in session.execute(self._narrowed(query, filters))]

    def _backlog(
        self, session: Session, scope: set[str] | None, filters: Filters, now: datetime
    ) -> list[int]:
        """Open tickets per age bucket, in one aggregate over the open tickets' index."""
        columns = []
        lower = None
        for bound, _label in dashboard.AGE_BUCKETS:
            since = now - timedelta(days=bound) if bound is not None else None
            conditions = []
            if since is not None:
                conditions.append(Chamado.submitted_at >= since)
            if lower is not None:
                conditions.append(Chamado.submitted_at < lower)
            when = conditions[0] if len(conditions) == 1 else (conditions[0] & conditions[1])
            columns.append(func.coalesce(func.sum(case((when, 1), else_=0)), 0))
            lower = since
        query = self._in_scope(select(*columns), scope).where(
            Chamado.closed_at.is_(None), Chamado.submitted_at.is_not(None)
        )
        row = session.execute(self._narrowed(query, filters)).one()
        return [int(n) for n in row]

    def _satisfaction(
        self,
        session: Session,
        scope: set[str] | None,
        filters: Filters,
        start: datetime,
        after: datetime,
    ) -> tuple[dict[int, int], int]:
        survey = SatisfactionSurvey
        query = (
            self._in_scope(
                select(
                    survey.rating,
                    func.count(),
                    func.count(case((func.length(survey.comment) > 0, 1))),
                ).join(Chamado, Chamado.id == survey.chamado_id),
                scope,
            )
            .where(
                survey.answered_at >= start,
                survey.answered_at < after,
                survey.rating.is_not(None),
            )
            .group_by(survey.rating)
        )
        ratings, comments = {}, 0
        for rating, answers, commented in session.execute(self._narrowed(query, filters)):
            ratings[int(rating)] = int(answers)
            comments += int(commented)
        return ratings, comments
