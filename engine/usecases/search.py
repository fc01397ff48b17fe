"""Staff search (engine.search): one box, the queue's authorization.

Supervisors find every ticket; an analyst finds the tickets that had a task in one of
their groups, as the queue shows them (a ticket of another team's process stays out of
sight). A page holds ``limit`` tickets, newest first, with their órgão and requester
loaded in the same query.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload

from engine import search
from engine.errors import ValidationFailed
from engine.models import Chamado, HumanTask
from engine.usecases.base import ANALYST_ROLES, Actor, UseCaseBase

PAGE = 25
# A ticket's requester forms (each its own search entry): the chamado has one, the
# "pedido de automação" two; a page reads up to this many rows per ticket it shows.
_ROWS_PER_TICKET = 2


@dataclass(frozen=True)
class SearchResult:
    query: str
    items: list[Chamado]
    more: bool  # more tickets match than the page shows: the person refines the query


class Search(UseCaseBase):
    def tickets(self, actor: Actor, q: str, limit: int = PAGE) -> SearchResult:
        self._require_roles(actor, ANALYST_ROLES)
        q = (q or "").strip()
        if len(q) > search.MAX_QUERY:
            raise ValidationFailed({"q": f"A busca pode ter até {search.MAX_QUERY} caracteres."})
        with self.reading() as session:
            query = search.matching(session, q)
            if query is None:
                raise ValidationFailed(
                    {"q": "Digite um protocolo, CPF, NUP, nome ou palavras da descrição."}
                )
            if "supervisor" not in actor.roles:
                mine = self._groups(session, actor)
                query = query.where(
                    exists(
                        select(HumanTask.id).where(
                            HumanTask.chamado_id == Chamado.id, HumanTask.group.in_(mine)
                        )
                    )
                )
            # A ticket may match once per form (engine.search.matching): a few rows more
            # than the page, the first of each ticket kept.
            loaded = query.options(joinedload(Chamado.requester), joinedload(Chamado.orgao))
            rows = list(session.scalars(loaded.limit(_ROWS_PER_TICKET * (limit + 1))).unique())[
                : limit + 1
            ]
            return SearchResult(query=q, items=rows[:limit], more=len(rows) > limit)
