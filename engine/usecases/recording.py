"""What a completed task leaves behind: submissions, decisions, audit rows and e-mail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import (
    catalogs,
    corewrite,
    forms,
    notifications,
    runtime,
    specs,
    tasks,
)
from engine.models import (
    Chamado,
    HumanTask,
    Submission,
    User,
)
from engine.usecases.base import (
    Actor,
    Step,
    UseCaseBase,
)

_MAX_ORGAO = 2**31  # SIORG codes are database integers

# The analysis' own SLA timer; every other timer waiting after an "ajuste" is the
# requester's deadline to answer.
SLA_TIMER = "timer_prazo_analise"


class Recording(UseCaseBase):
    @staticmethod
    def _prefill(bundle: specs.ProcessBundle, task: HumanTask, user: User) -> dict[str, Any]:
        schema = bundle.forms.get(task.form_schema or "", {})
        sources = {"user.display_name": user.display_name, "user.email": user.email}
        data = {}
        for name, prop in schema.get("properties", {}).items():
            value = sources.get(prop.get("x-prefill", ""))
            if value:
                data[name] = value
        return data

    def _domain_checks(
        self, session: Session, data: dict[str, Any], wf_data: dict[str, Any]
    ) -> dict[str, str]:
        errors = {}
        orgao = data.get("orgao")
        if orgao is not None:
            # The schema's own check reports a wrong type; this one must not crash on it
            # (nor on a number no database integer holds).
            code = orgao if isinstance(orgao, int) and not isinstance(orgao, bool) else None
            if (
                code is None
                or not 0 < code < _MAX_ORGAO
                or not self.orgao_labels.label(session, code)
            ):
                errors["orgao"] = "Órgão não encontrado: escolha um órgão da lista."
        if data.get("decisao") == "ajuste" and self._adjustments_left(wf_data) == 0:
            errors["decisao"] = (
                "O limite de pedidos de ajuste deste chamado foi atingido: "
                "resolva ou devolva o chamado."
            )
        return errors

    def _record_submission(
        self,
        session: Session,
        chamado: Chamado,
        data: dict[str, Any],
        schema: dict[str, Any],
        previous: dict[str, Any] | None,
        actor: Actor,
        now: datetime,
    ) -> None:
        round_no = chamado.adjustment_rounds  # round 0 is the registration itself
        corewrite.insert_many(
            session,
            Submission.__table__,
            [{"chamado_id": chamado.id, "round": round_no, "data": data, "submitted_at": now}],
        )
        chamado.orgao_id = data.get("orgao")
        chamado.tipo_problema = data.get("tipo_problema")
        chamado.servico = data.get("nome_servico")
        chamado.email = data.get("solicitante_email") or chamado.email
        if chamado.submitted_at is None:
            chamado.submitted_at = now
        if previous is None:
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.enviado",
                "Enviado para análise",
                now=now,
                details={"dados": data},
            )
        else:
            changes = [
                {"campo": c.field, "titulo": c.title, "antes": c.old, "depois": c.new}
                for c in forms.diff(previous, data, schema)
            ]
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.ajustado",
                "Solicitação ajustada e reenviada para análise",
                now=now,
                details={"alteracoes": changes},
            )

    def _record_decision(
        self,
        session: Session,
        chamado: Chamado,
        task: HumanTask,
        data: dict[str, Any],
        actor: Actor,
        now: datetime,
    ) -> None:
        decision = data.get("decisao")
        if decision == "ajuste":
            chamado.adjustment_rounds += 1
            self._audit(
                session,
                chamado,
                actor.id,
                "ajuste",
                "Ajuste solicitado pelo analista",
                now=now,
                message=data.get("ajuste_solicitado"),
                details={"decisao": decision},
            )
        elif decision == "resolver":
            chamado.outcome_message = data.get("resposta")
        elif decision == "devolver":
            reason = catalogs.label(session, "motivo_devolucao", data.get("motivo_devolucao", ""))
            parts = [p for p in (reason, data.get("justificativa_devolucao")) if p]
            chamado.outcome_message = "\n\n".join(parts)
        if data.get("nota_interna"):
            self._audit(
                session,
                chamado,
                actor.id,
                "nota_interna",
                "Nota interna",
                now=now,
                public=False,
                message=data["nota_interna"],
            )

    def _audit_outcome(
        self,
        session: Session,
        chamado: Chamado,
        wf: Any,
        bundle: specs.ProcessBundle,
        actor: Actor | None,
        now: datetime,
    ) -> None:
        end = runtime.end_event(wf, bundle)
        if end is None:
            return
        name = bundle.end_events[end]
        self._audit(
            session,
            chamado,
            actor.id if actor else None,
            f"chamado.{chamado.status}",
            f"Chamado {name.lower()}",
            now=now,
            message=chamado.outcome_message,
            details={"fim": end},
        )

    def _mail_after_task(
        self,
        session: Session,
        chamado: Chamado,
        task: HumanTask,
        data: dict[str, Any],
        step: Step,
        now: datetime,
    ) -> None:
        base = self.settings.app_base_url
        if task.group == tasks.REQUESTER_GROUP:
            if chamado.adjustment_rounds == 0:  # the first submission: the receipt
                orgao = data.get("orgao")
                label = self.orgao_labels.label(session, int(orgao)) if orgao else None
                notifications.registered(session, chamado, data, label, base, now)
            return
        decision = data.get("decisao")
        if decision == "ajuste":
            adjust = next((t for t in step.created if t.group == tasks.REQUESTER_GROUP), None)
            # The requester's deadline: the earliest timer but the analysis' own SLA.
            deadline = min(
                (due for element, due in step.timers.values() if element != SLA_TIMER),
                default=None,
            )
            notifications.adjustment_requested(
                session, chamado, data.get("ajuste_solicitado"), adjust, deadline, base, now
            )
        elif decision == "resolver":
            notifications.resolved(session, chamado, data.get("resposta"), base, now)
        elif decision == "devolver":
            notifications.returned(
                session,
                chamado,
                data.get("motivo_devolucao"),
                data.get("justificativa_devolucao"),
                base,
                now,
            )
