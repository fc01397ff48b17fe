"""Ticket statuses: derived from where the workflow stands, labelled in pt-BR."""

from __future__ import annotations

# A ready user task or a reached end event (BPMN ids) -> status code.
STATUS_BY_ELEMENT: dict[str, str] = {
    "registrar_chamado": "rascunho",
    "analisar_chamado": "em_analise",
    "ajustar_solicitacao": "aguardando_ajuste",
    "fim_resolvido": "resolvido",
    "fim_devolvido": "devolvido",
    "fim_sem_resposta": "encerrado_sem_resposta",
}

# Timers with an effect beyond moving the workflow: "sla" marks the ticket overdue
# and notifies the supervisors.
TIMER_EFFECTS: dict[str, str] = {"timer_prazo_analise": "sla"}

LABELS: dict[str, str] = {
    "rascunho": "Rascunho",
    "em_analise": "Em análise",
    "aguardando_ajuste": "Aguardando ajuste",
    "resolvido": "Resolvido",
    "devolvido": "Devolvido",
    "encerrado_sem_resposta": "Encerrado por falta de resposta",
    "em_andamento": "Em andamento",
    "concluido": "Concluído",
}

# gov.br DS tag colours (br-tag classes) per status.
TONES: dict[str, str] = {
    "rascunho": "bg-gray-20",
    "em_analise": "bg-info",
    "aguardando_ajuste": "bg-warning",
    "resolvido": "bg-success",
    "devolvido": "bg-danger",
    "encerrado_sem_resposta": "bg-gray-60",
}

CLOSED = frozenset({"resolvido", "devolvido", "encerrado_sem_resposta", "concluido"})


def label(status: str) -> str:
    return LABELS.get(status, status)


def derive(ready_task_names: list[str], end_event: str | None, completed: bool) -> str:
    if completed:
        return STATUS_BY_ELEMENT.get(end_event or "", "concluido")
    for name in ready_task_names:
        if name in STATUS_BY_ELEMENT:
            return STATUS_BY_ELEMENT[name]
    return "em_andamento"
