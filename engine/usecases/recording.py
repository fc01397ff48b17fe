"""What a step leaves behind, as its model declares it: submissions, timeline, e-mail.

Nothing here knows a process: the form's annotations say which fields fill the
ticket's columns (``x-instance``), which are internal notes (``x-internal``) and which
are órgão look-ups (``x-lookup: orgaos``); the model's properties (engine.policy) say
what each task, end event and timer announces and mails. A step that fails inside the
workflow engine leaves a technical incident instead (engine.incidents; the retry is
engine.usecases.incidents).
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import (
    catalogs,
    corewrite,
    forms,
    incidents,
    notifications,
    policy,
    retention,
    runtime,
    satisfaction,
    search,
    specs,
    tasks,
)
from engine.errors import ModelRuntimeError
from engine.models import Chamado, HumanTask, Submission, User
from engine.usecases.base import Actor, Step, UseCaseBase

log = logging.getLogger(__name__)

_MAX_ORGAO = 2**31  # SIORG codes are database integers


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

    def _new_row_draft(
        self, session: Session, bundle: specs.ProcessBundle, chamado: Chamado, user: User
    ) -> Any:
        """A new requester task starts from what its form last sent, else prefilled."""

        def draft(row: HumanTask) -> dict[str, Any] | None:
            if row.group != tasks.REQUESTER_GROUP:
                return None
            last = self._last_submission_data(session, chamado.id, row.form_schema)
            return last if last is not None else self._prefill(bundle, row, user)

        return draft

    def _domain_checks(
        self,
        session: Session,
        bundle: specs.ProcessBundle,
        task: HumanTask,
        schema: dict[str, Any],
        data: dict[str, Any],
        wf_data: dict[str, Any],
    ) -> dict[str, str]:
        errors = {}
        for name in forms.lookup_fields(schema, "orgaos"):
            value = data.get(name)
            if value is None:
                continue
            # The schema's own check reports a wrong type; this one must not crash on it
            # (nor on a number no database integer holds).
            code = value if isinstance(value, int) and not isinstance(value, bool) else None
            if (
                code is None
                or not 0 < code < _MAX_ORGAO
                or not self.orgao_labels.label(session, code)
            ):
                errors[name] = "Órgão não encontrado: escolha um órgão da lista."
        for rule in bundle.policy.element(task.task_name).option_rules:
            if data.get(rule.field) == rule.value and not policy.option_allowed(rule, wf_data):
                errors[rule.field] = rule.message
        return errors

    @staticmethod
    def offered_options(
        bundle: specs.ProcessBundle, task: HumanTask, schema: dict[str, Any], wf_data: Any
    ) -> dict[str, Any]:
        """The schema without the options the model's ``optionIf`` rules withhold now."""
        rules = [
            r
            for r in bundle.policy.element(task.task_name).option_rules
            if not policy.option_allowed(r, wf_data)
        ]
        if not rules:
            return schema
        schema = copy.deepcopy(schema)
        for rule in rules:
            prop = schema.get("properties", {}).get(rule.field, {})
            if "oneOf" in prop:
                prop["oneOf"] = [o for o in prop["oneOf"] if o.get("const") != rule.value]
            if "enum" in prop:
                prop["enum"] = [v for v in prop["enum"] if v != rule.value]
        return schema

    def _record_submission(
        self,
        session: Session,
        chamado: Chamado,
        task: HumanTask,
        data: dict[str, Any],
        schema: dict[str, Any],
        previous: dict[str, Any] | None,
        bundle: specs.ProcessBundle,
        actor: Actor,
        now: datetime,
    ) -> None:
        corewrite.insert_many(
            session,
            Submission.__table__,
            [
                {
                    "chamado_id": chamado.id,
                    "round": chamado.adjustment_rounds,
                    "task_name": task.task_name,
                    "form_schema": task.form_schema,
                    "group": task.group,
                    "data": data,
                    "submitted_at": now,
                }
            ],
        )
        if task.group == tasks.REQUESTER_GROUP:
            # What staff search finds the ticket by: this form's latest sending.
            requester = chamado.requester
            search.index(
                session,
                chamado,
                task.form_schema or task.task_name,
                " ".join(filter(None, (requester.name, requester.social_name))),
                requester.cpf,
                data,
                schema,
                now,
            )
        for column, value in forms.instance_values(schema, data).items():
            if column == "email":
                chamado.email = value or chamado.email
            else:
                setattr(chamado, column, value)
        element = bundle.policy.element(task.task_name)
        if task.group != tasks.REQUESTER_GROUP:
            self._audit(
                session,
                chamado,
                actor.id,
                "tarefa.concluida",
                element.completed_timeline or f"{task.title}: concluída",
                now=now,
                public=element.completed_timeline is not None,
            )
        elif previous is not None and chamado.submitted_at is not None:
            changes = [
                {"campo": c.field, "titulo": c.title, "antes": c.old, "depois": c.new}
                for c in forms.diff(previous, data, schema)
            ]
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.ajustado",
                element.completed_timeline or "Solicitação ajustada e reenviada",
                now=now,
                details={"alteracoes": changes},
            )
        else:
            # The instance's first sending carries what was sent; a later form of a
            # different task (a second requester step) is only announced.
            first = chamado.submitted_at is None
            chamado.submitted_at = chamado.submitted_at or now
            self._audit(
                session,
                chamado,
                actor.id,
                "chamado.enviado",
                element.completed_timeline or f"{task.title}: enviado",
                now=now,
                details={"dados": forms.without_internal(schema, data)} if first else None,
            )
        for name in forms.internal_fields(schema):
            if data.get(name):
                self._audit(
                    session,
                    chamado,
                    actor.id,
                    "nota.interna",
                    "Nota interna",
                    now=now,
                    public=False,
                    message=str(data[name]),
                )

    def _announce(
        self,
        session: Session,
        chamado: Chamado,
        bundle: specs.ProcessBundle,
        wf: Any,
        step: Step,
        now: datetime,
        actor: Actor | None,
        completed: HumanTask | None = None,
        catalogs_revision: int | None = None,
    ) -> None:
        """What the model says about where the step left the instance.

        In order: the completed task's ``mailOnComplete``, each newly opened task's
        timeline entry, message and mail, and the end event's outcome, entry and mail
        (the step's adjustment round, if any, was counted with its rows: engine.tasks).
        """
        wf_data = runtime.current_data(wf)
        facts = self._mail_facts(session, chamado, bundle, step)
        labels = self._catalog_labels(session, catalogs_revision)
        if completed is not None:
            on_complete = bundle.policy.element(completed.task_name).mail_on_complete
            if on_complete is not None:
                self._send(session, bundle, on_complete, chamado, facts, wf_data, now, labels)
        for row in step.created:
            element = bundle.policy.element(row.task_name)
            message = policy.render(element.message, wf_data)
            if element.timeline or message:
                self._audit(
                    session,
                    chamado,
                    actor.id if actor else None,
                    "mensagem",
                    element.timeline or row.title,
                    now=now,
                    message=message,
                    details={"elemento": row.task_name},
                )
            if element.mail is not None:
                row_facts = {**facts, "mensagem": message}
                if row.group == tasks.REQUESTER_GROUP:
                    row_facts["tarefa_url"] = f"/tarefas/{row.id}"
                self._send(session, bundle, element.mail, chamado, row_facts, wf_data, now, labels)
        self._audit_outcome(session, chamado, wf, bundle, wf_data, facts, actor, now, labels)

    def _catalog_labels(
        self, session: Session, revision: int | None
    ) -> Callable[[], catalogs.Labels]:
        """The catalogs' labels for a step's texts, read at most once and only if a text
        uses them; from the per-process copy when the step knows the revision."""
        return functools.cache(
            lambda: catalogs.labels_of(self.catalog_cache.get(session, revision))
        )

    def _mail_facts(
        self, session: Session, chamado: Chamado, bundle: specs.ProcessBundle, step: Step
    ) -> dict[str, Any]:
        # The requester's deadline: the earliest waiting timer, but those that only flag
        # the instance overdue (they measure the group's time, not the requester's).
        deadline = min(
            (
                due
                for element, due in step.timers.values()
                if not bundle.policy.element(element).marks_overdue
            ),
            default=None,
        )
        return {
            "prazo": deadline,
            "orgao": self.orgao_labels.label(session, chamado.orgao_id)
            if chamado.orgao_id
            else None,
        }

    def _send(
        self,
        session: Session,
        bundle: specs.ProcessBundle,
        mail: policy.Mail,
        chamado: Chamado,
        facts: dict[str, Any],
        wf_data: dict[str, Any],
        now: datetime,
        labels: Callable[[], catalogs.Labels],
    ) -> None:
        notifications.send(
            session,
            bundle,
            mail,
            chamado,
            facts,
            wf_data,
            self.settings.app_base_url,
            now,
            labels(),
        )

    def _audit_outcome(
        self,
        session: Session,
        chamado: Chamado,
        wf: Any,
        bundle: specs.ProcessBundle,
        wf_data: dict[str, Any],
        facts: dict[str, Any],
        actor: Actor | None,
        now: datetime,
        labels: Callable[[], catalogs.Labels],
    ) -> None:
        end = runtime.end_event(wf, bundle)
        if end is None:
            return
        element = bundle.policy.element(end)
        outcome = policy.render(element.outcome, wf_data, catalogo=_catalogo(labels))
        if outcome:
            chamado.outcome_message = outcome
        name = bundle.end_events[end]
        self._audit(
            session,
            chamado,
            actor.id if actor else None,
            f"chamado.{chamado.status}",
            element.timeline or name,
            now=now,
            message=chamado.outcome_message,
            details={"fim": end},
        )
        # Every ended ticket asks "O atendimento resolveu seu problema?"; the result
        # e-mail to the requester carries the one-click links (engine.satisfaction).
        token = satisfaction.open_survey(session, chamado.id, now)
        if element.erase_personal_data:
            retention.record_erasure_request(session, chamado.requester_id, now)
        if element.mail is not None:
            if token and element.mail.to == policy.REQUESTER:
                facts = {
                    **facts,
                    "avaliacao_url": satisfaction.link_path(token),
                    "avaliacao_escala": list(satisfaction.SCALE.items()),
                }
            self._send(session, bundle, element.mail, chamado, facts, wf_data, now, labels)

    def _open_incident(
        self,
        session: Session,
        chamado: Chamado,
        bundle: specs.ProcessBundle,
        failure: ModelRuntimeError,
        action: incidents.PendingAction,
        actor_id: int | None,
        now: datetime,
    ) -> None:
        """Marks the ticket (the caller writes it), audits, and mails on the first failure."""
        opened = incidents.mark(chamado, failure, action, now)
        details = {
            "elemento": chamado.incident_element,
            "mensagem": chamado.incident_message,
            "acao": incidents.describe(chamado.incident_action),
        }
        log.warning(
            "incidente técnico em %s (%s): %s",
            chamado.protocolo,
            chamado.incident_element,
            chamado.incident_message,
        )
        if not opened:
            self._audit(
                session,
                chamado,
                actor_id,
                "incidente.nova_falha",
                "Nova tentativa falhou: o incidente técnico continua",
                now=now,
                public=False,
                details=details,
            )
            return
        received = action.kind == incidents.TASK
        self._audit(
            session,
            chamado,
            actor_id,
            "incidente.aberto",
            "Dados recebidos; um problema técnico interrompeu o processamento e a equipe "
            "foi avisada"
            if received
            else "Um problema técnico interrompeu o processamento e a equipe foi avisada",
            now=now,
            details=details,
        )
        incidents.notify(session, chamado, bundle.policy.title, self.settings.app_base_url, now)


def _catalogo(labels: Callable[[], catalogs.Labels]) -> Callable[[str, Any], Any]:
    """``catalogo('nome', codigo)`` in a model's text: the code's label, read on first use."""

    def catalogo(name: str, code: Any) -> Any:
        found = labels().get(name, {}).get(code)
        return found[0] if found else code

    return catalogo
