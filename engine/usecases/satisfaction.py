"""Satisfaction (engine.satisfaction): the e-mail's one-click link and the tracking page.

The link needs no login: its token is the authorization, for one score and, within the
hour, a comment on it. The tracking page is the requester's own ticket, once it ended.
Every answer is audited on the ticket (internal: staff read it on the analysis page).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine import limits, satisfaction
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import Chamado
from engine.satisfaction import LinkOutcome, Survey
from engine.usecases.base import Actor, UseCaseBase


@dataclass(frozen=True)
class LinkAnswer:
    outcome: LinkOutcome
    protocolo: str | None = None
    rating: int | None = None
    comment: str | None = None
    chamado_id: int | None = None


class Satisfaction(UseCaseBase):
    def answer_by_link(self, token: str, raw_rating: object) -> LinkAnswer:
        rating = self._rating(raw_rating)
        now = self.clock()
        with self.transaction() as session:
            outcome, chamado_id = satisfaction.answer_by_link(session, token, rating, now)
            if outcome is LinkOutcome.RECORDED:
                self._audit_answer(session, chamado_id, None, rating, "pelo e-mail")
            return self._link_answer(session, outcome, chamado_id)

    def comment_by_link(self, token: str, raw_rating: object, raw_comment: object) -> LinkAnswer:
        rating = self._rating(raw_rating)
        comment = self._comment(raw_comment)
        now = self.clock()
        with self.transaction() as session:
            outcome, chamado_id = satisfaction.comment_by_link(session, token, rating, comment, now)
            if outcome is LinkOutcome.RECORDED:
                self._audit_answer(session, chamado_id, None, rating, "pelo e-mail", comment)
            return self._link_answer(session, outcome, chamado_id)

    def for_tracking(self, actor: Actor, chamado_id: int) -> Survey | None:
        """The survey of the requester's own ended ticket (None: not ended, or another's)."""
        with self.reading() as session:
            chamado = session.get(Chamado, chamado_id)
            if chamado is None or chamado.requester_id != actor.id:
                return None
            return satisfaction.survey(session, chamado_id)

    def answer(
        self, actor: Actor, chamado_id: int, raw_rating: object, raw_comment: object
    ) -> Survey:
        rating = self._rating(raw_rating)
        comment = self._comment(raw_comment)
        now = self.clock()
        with self.transaction() as session:
            chamado = session.get(Chamado, chamado_id)
            if chamado is None or chamado.requester_id != actor.id:
                raise NotFound("Chamado não encontrado.")
            found = satisfaction.survey(session, chamado_id)
            if found is None:
                raise Conflict("Este chamado ainda não terminou: a avaliação vem com o resultado.")
            if not satisfaction.answer_on_page(session, chamado_id, rating, comment, now):
                until = found.change_until()
                raise Conflict(
                    "O prazo para mudar sua avaliação terminou"
                    + (f" em {until:%d/%m/%Y}" if until else "")
                    + "; a avaliação registrada continua valendo."
                )
            self._audit_answer(session, chamado_id, actor.id, rating, "na página", comment)
            survey = satisfaction.survey(session, chamado_id)
            assert survey is not None
            return survey

    def _audit_answer(
        self,
        session: Session,
        chamado_id: int | None,
        actor_id: int | None,
        rating: int,
        channel: str,
        comment: str | None = None,
    ) -> None:
        self._audit(
            session,
            chamado_id,
            actor_id,
            "satisfacao.respondida",
            f"Avaliação do atendimento {channel}: {rating} — {satisfaction.SCALE[rating]}",
            public=False,
            message=comment,
            details={"nota": rating},
        )

    @staticmethod
    def _link_answer(session: Session, outcome: LinkOutcome, chamado_id: int | None) -> LinkAnswer:
        if chamado_id is None:
            return LinkAnswer(outcome)
        chamado = session.get(Chamado, chamado_id)
        found = satisfaction.survey(session, chamado_id)
        return LinkAnswer(
            outcome,
            protocolo=chamado.protocolo if chamado else None,
            rating=found.rating if found else None,
            comment=found.comment if found else None,
            chamado_id=chamado_id,
        )

    @staticmethod
    def _rating(raw: object) -> int:
        rating = satisfaction.parse_rating(raw)
        if rating is None:
            raise ValidationFailed({"nota": "Escolha uma nota de 1 a 5."})
        return rating

    @staticmethod
    def _comment(raw: object) -> str | None:
        text = str(raw or "").strip()
        if len(text) > satisfaction.COMMENT_MAX:
            raise ValidationFailed(
                {"comentario": f"O comentário pode ter até {satisfaction.COMMENT_MAX} caracteres."}
            )
        problem = limits.forbidden_character(text, multiline=True)
        if problem:
            raise ValidationFailed({"comentario": problem})
        return text or None
