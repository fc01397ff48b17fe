"""Which staff read which ticket: its requester; supervisors and admins, every ticket; an
analyst, the tickets of their groups' queues — the same rule as the search, the duplicates
and the incidents. The ticket's view (page and API), its files, the ready answers filled
in with it and an incident opened from it all answer "not found" to anyone else.

The story: Maria's "Pedido de automação" goes to the technical and business teams (Teca
and Nina); Bia is an analyst of the chamado's queue only.
"""

from __future__ import annotations

from flask import Flask

from engine.errors import NotFound
from engine.service import Chamados
from tests.conftest import add_person
from tests.test_api import Api, person
from tests.test_attachments import make_pdf
from tests.test_pedido_api import (
    MARIA,
    SERVICO,
    SOFIA,
    TECA,
    app,  # noqa: F401 - the fixtures this story runs on
    my_task,
    people,  # noqa: F401
    submit,
)

BIA = "85351346893"  # an analyst of the chamado's queue, in no team of the pedido
CARLOS = "12345678909"  # the fixture's admin


def _sent_pedido(svc: Chamados, maria: Api) -> tuple[int, int, int]:
    """Maria's pedido sent to review, with one file sent and one left in a draft (uploaded
    and removed before sending); returns (ticket, file sent, file never sent)."""
    started = maria.post("/processes/pedido_automacao/instances", expect=201)
    cid = started["chamado"]["id"]
    submit(maria, maria.get(f"/tasks/{started['task']['id']}"), SERVICO)
    docs = my_task(maria, cid)
    owner = add_person(svc, MARIA, "Maria da Silva")
    sent_file = svc.requests.add_attachment(owner, docs["id"], "norma.pdf", make_pdf())
    dropped = svc.requests.add_attachment(owner, docs["id"], "rascunho.pdf", make_pdf())["id"]
    svc.requests.remove_attachment(owner, docs["id"], dropped)
    form = maria.get(f"/tasks/{docs['id']}")
    reasons = {"justificativa": "Volume alto e erros de digitação.", "documentos": [sent_file]}
    submit(maria, form, reasons)
    return cid, sent_file["id"], dropped


def test_an_analyst_reads_only_the_tickets_of_their_groups(
    app: Flask,  # noqa: F811
    people: dict[str, Api],  # noqa: F811
) -> None:
    svc: Chamados = app.extensions["chamados"]
    maria, teca, sofia = people["maria"], people["teca"], people["sofia"]
    bia = Api(app.test_client(), person(app, BIA, "Bia Chamados", "analyst"))
    cid, kept, dropped = _sent_pedido(svc, maria)

    # Bia's queue is the chamado's: the pedido is no ticket of hers, at every door, and
    # answered as a ticket that does not exist.
    assert bia.get("/search?q=pescador")["items"] == []
    missing = bia.get(f"/chamados/{cid}", expect=404)
    assert missing["detail"] == "Chamado não encontrado."
    assert bia.get(f"/chamados/{cid + 999}", expect=404)["detail"] == missing["detail"]
    bia_actor = add_person(svc, BIA, "Bia Chamados", "analyst")
    for read in (
        lambda: svc.analysis.analysis(bia_actor, cid),
        lambda: svc.requests.attachment(bia_actor, kept),
        lambda: svc.ready_answers.offered(bia_actor, cid, {"properties": {}}),
        lambda: svc.outages.create(
            bia_actor, title="Falha", public_text="Texto público", from_chamado_id=cid
        ),
    ):
        try:
            read()
        except NotFound:
            continue
        raise AssertionError("Bia read a ticket outside her groups")
    # Nothing was recorded as read by her (engine.access_log): she read nothing.
    admin = add_person(svc, CARLOS, "Carlos Admin", "admin")
    readers = {a.actor_name for a in svc.privacy.accesses_for_chamado(admin, cid)[1]}
    assert "Bia Chamados" not in readers

    # The technical team (its review is on the pedido) and the supervisor read it and its
    # file; Maria reads her own.
    assert teca.get(f"/chamados/{cid}")["chamado"]["protocolo"]
    assert sofia.get(f"/chamados/{cid}")["chamado"]["protocolo"]
    assert maria.get(f"/chamados/{cid}")["chamado"]["protocolo"]
    teca_actor = add_person(svc, TECA, "Teca Técnica", "analyst")
    sofia_actor = add_person(svc, SOFIA, "Sofia Supervisora", "supervisor")
    assert svc.requests.attachment(teca_actor, kept)[1] == make_pdf()
    assert svc.requests.attachment(sofia_actor, kept)[1] == make_pdf()

    # A file Maria removed before sending was never sent: hers alone (an admin, who may
    # complete a task on a person's behalf, reads a draft's files too).
    for staff in (teca_actor, sofia_actor):
        try:
            svc.requests.attachment(staff, dropped)
        except NotFound:
            continue
        raise AssertionError("staff read a file that was never sent")
    owner = add_person(svc, MARIA, "Maria da Silva")
    assert svc.requests.attachment(owner, dropped)[1] == make_pdf()
    assert svc.requests.attachment(admin, dropped)[1] == make_pdf()
