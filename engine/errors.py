"""Domain errors. Each carries the data the web layer needs to answer in pt-BR."""

from __future__ import annotations


class DomainError(Exception):
    """Base class. ``message`` is user-facing Portuguese text."""

    status = 400
    title = "Requisição inválida"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404
    title = "Não encontrado"


class Forbidden(DomainError):
    status = 403
    title = "Acesso negado"


class Conflict(DomainError):
    """A stale or concurrent action: nothing was changed."""

    status = 409
    title = "Conflito"


class TaskNotReady(Conflict):
    title = "Tarefa indisponível"


class ValidationFailed(DomainError):
    """Field errors keyed by field path (``itens`` or ``itens.0.numero``)."""

    status = 422
    title = "Dados inválidos"

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        super().__init__(message or "Corrija os campos indicados.")
        self.errors = errors


class ProcessDefinitionError(DomainError):
    """A BPMN model or form that cannot be deployed; names the element."""

    status = 422
    title = "Modelo de processo inválido"

    def __init__(
        self,
        message: str,
        element_id: str | None = None,
        problems: list[tuple[str | None, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.element_id = element_id
        # Every problem found, as (element id, pt-BR message): deploy-time checks report
        # them all at once so a designer fixes a model in one pass.
        self.problems = problems or [(element_id, message)]


class ModelRuntimeError(ProcessDefinitionError):
    """The model failed while an instance ran: a budget exceeded (automatic steps, a
    script's size or depth), a script that raised, a gateway with no way out.

    Raised only by engine.runtime, where SpiffWorkflow runs. It is no fault of the
    request that made the step run, so the use cases turn it into a technical incident
    of the ticket (engine.incidents) instead of refusing the request.
    """


class NeedsConfirmation(DomainError):
    """A change that would break something the person may not have seen: nothing was
    changed; ``consequences`` says what would break, and the same change sent again with
    a confirmation goes through."""

    status = 409
    title = "Confirmação necessária"

    def __init__(self, message: str, consequences: list[str]) -> None:
        super().__init__(message)
        self.consequences = consequences
