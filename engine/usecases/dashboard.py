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

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import Select, case, extract, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine import catalogs, dashboard
from engine.dashboard import Facts, Filters, Metric
from engine.errors import Forbidden, ValidationFailed
from engine.models import (
    Chamado,
    Outage,
    OutageLink,
    OutageSubscriber,
    ProcessVersion,
    SatisfactionSurvey,
)
from engine.usecases.base import Actor, UseCaseBase

Ts = TypeVarTuple("Ts")

REFUSED = (
    "O painel é para supervisores e administradores. "
    "Peça o papel de Supervisor(a) a um(a) administrador(a), se precisar dele."
)
_VIEWERS = frozenset({"supervisor", "admin"})


@contextmanager
def _planned_with_their_period(session: Session) -> Iterator[None]:
    """Every statement planned with its values: no server-side prepared statement.

    psycopg prepares a statement on the server after five executions of the same SQL;
    PostgreSQL may then run its generic plan, made without the period's bounds. The
    Painel's statements are the same SQL for a month and for a year, and the plan that
    fits depends on how many rows the period holds: measured with a million tickets, the
    satisfaction answers of 30 days took 19 ms on the generic plan against 2 ms on their
    own (bench/dashboard_scale.py). Planning costs a fraction of a millisecond per
    statement. Nothing to do on SQLite (its connection has no such setting)."""
    driver = session.connection().connection.driver_connection
    threshold = getattr(driver, "prepare_threshold", _NOT_PSYCOPG)
    if driver is None or threshold is _NOT_PSYCOPG:
        yield
        return
    driver.prepare_threshold = None
    try:
        yield
    finally:
        driver.prepare_threshold = threshold


_NOT_PSYCOPG = object()

_PARALLEL = "max_parallel_workers_per_gather"


@contextmanager
def _in_one_process(session: Session) -> Iterator[None]:
    """Every statement run by the connection's own backend: no parallel workers.

    The Painel's statements read the tickets of a period, a few thousand rows; with a
    million tickets PostgreSQL's estimates for them (an index lookup of each answer's
    ticket, say) grow past the cost at which it plans a parallel query, and a parallel
    worker is a process started for that one statement, then waited for. Measured with
    a million tickets (bench/dashboard_scale.py, README "Painel (issue #12)"): the
    satisfaction answers of 100 days took 12 ms with a worker against 5 ms without (the
    same answers at 10,000 tickets: 3 ms, where the table is too small for a worker),
    and 51 ms when the 2-core server was busy, the worker waiting for a core: what
    kept the 100-day view above 1.5×. The setting is the connection's, so it is put back
    as it was. Nothing to do on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    connection = session.connection()
    before = connection.exec_driver_sql(
        f"SELECT current_setting('{_PARALLEL}'), set_config('{_PARALLEL}', '0', false)"
    ).scalar_one()
    restore = f"SELECT set_config('{_PARALLEL}', %(before)s, false)"
    try:
        yield
    except BaseException:
        # The panel's own error is the one to report; a connection too broken to take
        # the setting back is discarded by the pool, setting and all.
        with suppress(DBAPIError):
            connection.exec_driver_sql(restore, {"before": before})
        raise
    connection.exec_driver_sql(restore, {"before": before})


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
        with (
            self.reading() as session,
            _planned_with_their_period(session),
            _in_one_process(session),
        ):
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
            dialect = session.get_bind().dialect.name
            period = self._combos(session, scope, start, after)
            combos = [c for c in period if self._matches(c, filters)]
            facts = Facts(
                filters=filters,
                now=now,
                combos=combos,
                sent=self._sent(session, scope, filters, start, after, dialect),
                first_analysis=self._first_analysis(session, scope, filters, start, after, dialect),
                result=self._result(session, scope, filters, start, after, dialect),
                rounds=self._rounds(session, scope, filters, start, after),
                backlog=self._backlog(session, scope, filters, now),
                ratings={},
                comments=0,
            )
            facts.ratings, facts.comments = self._satisfaction(
                session, scope, filters, start, after
            )
            facts.outages = self._outages(session, scope, filters, start, after)
            orgao_ids = {c.orgao_id for c in period if c.orgao_id is not None}
            if filters.orgao_id is not None:
                orgao_ids.add(filters.orgao_id)
            facts.orgao_labels = {
                i: self.orgao_labels.label(session, i) or f"SIORG {i}" for i in orgao_ids
            }
            facts.categoria_labels = self._categoria_labels(session)
            visible = titles if scope is None else {p: titles[p] for p in scope}
            facts.process_labels = titles
            servicos = {c.servico for c in period if c.servico}
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
    def _in_scope(query: Select[*Ts], scope: set[str] | None) -> Select[*Ts]:
        query = query.join(ProcessVersion, ProcessVersion.id == Chamado.process_version_id)
        if scope is not None:
            query = query.where(ProcessVersion.process_id.in_(sorted(scope) or [""]))
        return query

    @staticmethod
    def _outages(
        session: Session,
        scope: set[str] | None,
        filters: Filters,
        start: datetime,
        after: datetime,
    ) -> list[tuple[str, int, int]]:
        """Incidents opened in the period (a handful: a few hundred at most), with their
        linked tickets and followers counted by the database."""
        links = (
            select(func.count())
            .select_from(OutageLink)
            .where(OutageLink.outage_id == Outage.id)
            .scalar_subquery()
        )
        followers = (
            select(func.count())
            .select_from(OutageSubscriber)
            .where(OutageSubscriber.outage_id == Outage.id)
            .scalar_subquery()
        )
        query = select(Outage.state, links, followers).where(
            Outage.created_at >= start, Outage.created_at < after
        )
        if scope is not None:
            query = query.where(Outage.process_id.in_(sorted(scope) or [""]))
        if filters.process_id:
            query = query.where(Outage.process_id == filters.process_id)
        if filters.orgao_id is not None:
            query = query.where(Outage.orgao_id == filters.orgao_id)
        if filters.servico:
            query = query.where(Outage.servico == filters.servico)
        return [(state, int(n), int(f)) for state, n, f in session.execute(query)]

    @staticmethod
    def _narrowed(query: Select[*Ts], filters: Filters) -> Select[*Ts]:
        if filters.orgao_id is not None:
            query = query.where(Chamado.orgao_id == filters.orgao_id)
        if filters.servico:
            query = query.where(Chamado.servico == filters.servico)
        if filters.process_id:
            query = query.where(ProcessVersion.process_id == filters.process_id)
        return query

    @staticmethod
    def _matches(combo: dashboard.Combo, filters: Filters) -> bool:
        return (
            (filters.orgao_id is None or combo.orgao_id == filters.orgao_id)
            and (not filters.servico or combo.servico == filters.servico)
            and (not filters.process_id or combo.process_id == filters.process_id)
        )

    @staticmethod
    def _sent_in(start: datetime, after: datetime) -> Any:
        return (Chamado.submitted_at >= start) & (Chamado.submitted_at < after)

    def _combos(
        self, session: Session, scope: set[str] | None, start: datetime, after: datetime
    ) -> list[dashboard.Combo]:
        """The tickets sent in the period per órgão × service × type × process, before
        the dimension filters (the caller applies them: the whole period's values are
        the filters' choices). Rows: the combinations, not the tickets."""
        dims = (Chamado.orgao_id, Chamado.servico, Chamado.categoria, ProcessVersion.process_id)
        query = (
            self._in_scope(select(*dims, func.count()), scope)
            .where(self._sent_in(start, after))
            .group_by(*dims)
        )
        return [dashboard.Combo(*row) for row in session.execute(query)]

    def _sent(
        self,
        session: Session,
        scope: set[str] | None,
        filters: Filters,
        start: datetime,
        after: datetime,
        dialect: str,
    ) -> list[dashboard.Sent]:
        """The tickets sent in the period per UTC hour and overdue flag."""
        if dialect == "postgresql":
            hour: Any = func.date_trunc("hour", func.timezone("UTC", Chamado.submitted_at))
        else:  # SQLite keeps UTC text
            hour = func.strftime("%Y-%m-%d %H:00:00", Chamado.submitted_at)
        query = (
            self._in_scope(select(hour, Chamado.overdue, func.count()), scope)
            .where(self._sent_in(start, after))
            .group_by(hour, Chamado.overdue)
        )
        found = []
        for when, overdue, count in session.execute(self._narrowed(query, filters)):
            moment = when if isinstance(when, datetime) else datetime.fromisoformat(when)
            found.append(dashboard.Sent(moment.replace(tzinfo=UTC), bool(overdue), int(count)))
        return found

    @staticmethod
    def _durations(session: Session, moments: Any, dialect: str) -> dashboard.Durations:
        """Median, p90 (nearest rank) and count of the seconds from ``moments.c.start``
        to ``moments.c.end`` (a subquery, one row per ticket): on PostgreSQL computed
        there (``percentile_disc`` is the nearest rank); SQLite has no percentile, and
        its deployments are small: the values come to Python."""
        if dialect == "postgresql":
            seconds: Any = extract("epoch", moments.c.end - moments.c.start)
        else:
            seconds = (func.julianday(moments.c.end) - func.julianday(moments.c.start)) * 86400.0
        values = select(seconds.label("s")).where(moments.c.end.is_not(None)).subquery()
        if dialect == "postgresql":
            p50, p90, count = session.execute(
                select(
                    func.percentile_disc(0.5).within_group(values.c.s),
                    func.percentile_disc(0.9).within_group(values.c.s),
                    func.count(values.c.s),
                )
            ).one()
            return dashboard.Durations(
                None if p50 is None else round(float(p50)),
                None if p90 is None else round(float(p90)),
                int(count),
            )
        found = [round(float(v)) for v in session.scalars(select(values.c.s))]
        return dashboard.Durations(
            dashboard.percentile(found, 50), dashboard.percentile(found, 90), len(found)
        )

    def _first_analysis(
        self,
        session: Session,
        scope: set[str] | None,
        filters: Filters,
        start: datetime,
        after: datetime,
        dialect: str,
    ) -> dashboard.Durations:
        """Sent → the first claim or completion of a staff task, which the ticket keeps
        (``Chamado.first_analysis_at``, written by that claim or completion; migration
        0018 filled the older tickets): read from the period's ticket rows, which the
        other figures read too. It used to be looked up per ticket in human_tasks' index,
        a B-tree one level deeper at a million tickets — the unfiltered views' 1.79×
        (README, "Painel (issue #12)")."""
        query = self._in_scope(
            select(Chamado.submitted_at.label("start"), Chamado.first_analysis_at.label("end")),
            scope,
        ).where(self._sent_in(start, after))
        return self._durations(session, self._narrowed(query, filters).subquery(), dialect)

    def _closed_in(
        self, scope: set[str] | None, filters: Filters, start: datetime, after: datetime
    ) -> Select[Any]:
        query = self._in_scope(select(), scope).where(
            Chamado.closed_at >= start,
            Chamado.closed_at < after,
            Chamado.submitted_at.is_not(None),
        )
        return self._narrowed(query, filters)

    def _result(
        self,
        session: Session,
        scope: set[str] | None,
        filters: Filters,
        start: datetime,
        after: datetime,
        dialect: str,
    ) -> dashboard.Durations:
        query = self._closed_in(scope, filters, start, after).add_columns(
            Chamado.submitted_at.label("start"), Chamado.closed_at.label("end")
        )
        return self._durations(session, query.subquery(), dialect)

    def _rounds(
        self,
        session: Session,
        scope: set[str] | None,
        filters: Filters,
        start: datetime,
        after: datetime,
    ) -> dict[int, int]:
        query = (
            self._closed_in(scope, filters, start, after)
            .add_columns(Chamado.adjustment_rounds, func.count())
            .group_by(Chamado.adjustment_rounds)
        )
        return {int(rounds or 0): int(n) for rounds, n in session.execute(query)}

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
            if rating is None:  # excluded by the query; typed as nullable by its column
                continue
            ratings[int(rating)] = int(answers)
            comments += int(commented)
        return ratings, comments
