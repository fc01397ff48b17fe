"""Staff search: protocol, CPF, NUP, name and words find tickets, within the queue's
authorization, on SQLite (FTS5) and PostgreSQL (Portuguese full text)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select

from engine import search
from engine.errors import Forbidden, ValidationFailed
from engine.models import SearchEntry
from engine.service import ActorRef, Chamados
from tests.conftest import MARIA, add_person
from tests.test_engine_lifecycle import chamado, open_task, submit_registration

JOAO = "12345678909"
TECA = "71428793860"


def found(svc: Chamados, actor: ActorRef, q: str) -> list[int]:
    return [c.id for c in svc.search.tickets(actor, q).items]


def test_protocol_cpf_nup_name_and_words_find_the_ticket(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    cid = submit_registration(svc, maria)
    other = submit_registration(
        svc,
        add_person(svc, JOAO, "João Pereira"),
        solicitante_nome="João Pereira",
        solicitante_email="joao@example.gov.br",
        email_institucional="joao@inss.gov.br",
        nome_servico="Consulta de benefícios",
        detalhamento="O serviço demora muito para responder à consulta de benefícios.",
        protocolos=[{"numero": "445566"}],
    )
    protocolo = chamado(svc, cid).protocolo
    assert found(svc, ana, protocolo) == [cid]
    assert found(svc, ana, protocolo.lower()) == [cid]
    assert found(svc, ana, "390.533.447-05") == [cid]  # Maria's CPF, as people type it
    assert found(svc, ana, MARIA) == [cid]
    assert found(svc, ana, "23037.001462/2021-65") == [cid]  # an affected NUP
    assert found(svc, ana, "23037001462202165") == [cid]  # the same NUP, digits only
    assert found(svc, ana, "Maria Silva") == [cid]
    assert found(svc, ana, "pereira") == [other]
    assert found(svc, ana, "erro protocolos antigos") == [cid]
    assert found(svc, ana, "SERVIÇO consulta") == [other]
    assert found(svc, ana, "servico") == [other]  # without the accent
    assert found(svc, ana, "benef") == [other]  # a word being typed
    assert found(svc, ana, "aposentadoria") == [cid]  # the service's name
    assert found(svc, ana, "inexistente") == []
    assert found(svc, ana, "erro demora") == []  # every word must appear


def test_portuguese_stemming_where_the_database_has_it(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    cid = submit_registration(svc, maria, detalhamento="A integração com o SIORG falhou.")
    assert found(svc, ana, "integra") == [cid]  # a prefix, on both
    stemmed = [cid] if svc.unit.db.dialect.name == "postgresql" else []  # FTS5: no stemmer
    assert found(svc, ana, "integrações") == stemmed
    assert found(svc, ana, "falhas") == stemmed


def test_an_adjusted_form_is_found_by_its_new_text_only(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    cid = submit_registration(svc, maria, detalhamento="Texto original do relato.")
    task = open_task(svc, cid, "analyst")
    svc.analysis.claim(ana, task.id)
    svc.requests.complete_task(
        ana,
        task.id,
        {"decisao": "ajuste", "ajuste_solicitado": "Informe o número do protocolo."},
        chamado(svc, cid).version,
    )
    mine = open_task(svc, cid, "requester")
    with svc.unit.session_factory() as s:
        draft = dict(s.get(type(mine), mine.id).draft_data)  # type: ignore[union-attr]
    draft["detalhamento"] = "Relato corrigido com outro vocabulário."
    svc.requests.complete_task(maria, mine.id, draft, chamado(svc, cid).version)
    assert found(svc, ana, "corrigido vocabulario") == [cid]
    assert found(svc, ana, "original") == []
    with svc.unit.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(SearchEntry)) == 1


def test_drafts_are_not_found(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    draft = svc.requests.start_chamado(maria, "chamado")
    assert found(svc, ana, draft.protocolo) == []
    assert found(svc, ana, "Maria") == []


def test_who_may_search_and_what_they_find(
    svc: Chamados, maria: ActorRef, ana: ActorRef, sofia: ActorRef
) -> None:
    """Supervisors find everything; an analyst finds the tickets their groups worked."""
    cid = submit_registration(svc, maria, detalhamento="Palavra chave zebra.")
    teca = add_person(svc, TECA, "Teca Técnica", "analyst")
    admin = add_person(svc, "52998224725", "Carla Admin", "admin")
    svc.admin.add_group_member(admin, "equipe-tecnica", TECA)
    pedido = _send_pedido(svc, maria)
    assert found(svc, sofia, "zebra") == [cid]
    assert found(svc, sofia, "pescador") == [pedido]
    # Her name is in both forms of the pedido: the ticket comes once, newest first.
    assert found(svc, sofia, "maria silva") == [pedido, cid]
    assert found(svc, ana, "zebra") == [cid]
    assert found(svc, ana, "pescador") == []  # its reviews are other teams' work
    assert found(svc, teca, "pescador") == [pedido]
    with pytest.raises(Forbidden):
        svc.search.tickets(maria, "zebra")  # a requester has no staff search
    with pytest.raises(Forbidden):
        svc.search.tickets(admin, "zebra")  # nor an admin who does not work the queue


def _send_pedido(svc: Chamados, maria: ActorRef) -> int:
    started = svc.requests.start_chamado(maria, "pedido_automacao")
    first = open_task(svc, started.id)
    data = {
        "orgao": 244,
        "nome_do_servico": "Carteira de pescador",
        "volume_mensal": 1200,
        "descricao": "Hoje o pedido chega por e-mail e é digitado à mão.",
    }
    svc.requests.complete_task(maria, first.id, data, chamado(svc, started.id).version)
    second = open_task(svc, started.id)
    svc.requests.complete_task(
        maria,
        second.id,
        {"justificativa": "Volume alto e erros de digitação."},
        chamado(svc, started.id).version,
    )
    return started.id


@pytest.mark.parametrize(
    "q",
    ['"x"*', "NEAR(a b)", "a AND OR", "x:*", "'; DROP TABLE chamados; --", "a & !b | c", "é" * 3],
)
def test_any_text_is_a_query_never_an_error(
    svc: Chamados, maria: ActorRef, ana: ActorRef, q: str
) -> None:
    submit_registration(svc, maria)
    assert found(svc, ana, q) == []


@pytest.mark.parametrize("q", ["", "   ", "!!!", '"', "*", "(((", "&|!", "x" * 201])
def test_empty_or_too_long_queries_say_what_to_type(svc: Chamados, ana: ActorRef, q: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        svc.search.tickets(ana, q)
    assert "q" in refused.value.errors


def test_a_page_says_when_more_tickets_match(svc: Chamados, maria: ActorRef, ana: ActorRef) -> None:
    ids = [submit_registration(svc, maria) for _ in range(3)]
    page = svc.search.tickets(ana, "aposentadoria", limit=2)
    assert [c.id for c in page.items] == ids[::-1][:2]  # newest first
    assert page.more
    last = svc.search.tickets(ana, "aposentadoria", limit=3)
    assert not last.more and len(last.items) == 3
    assert last.items[0].requester.name == "Maria da Silva"  # loaded with the page


def test_tickets_sent_before_the_index_existed_are_indexed_by_the_migration(
    svc: Chamados, maria: ActorRef, ana: ActorRef
) -> None:
    cid = submit_registration(svc, maria)
    with svc.unit.transaction() as s:
        s.execute(delete(SearchEntry))
    assert found(svc, ana, "aposentadoria") == []
    migration: Any = _load_migration()
    with svc.unit.db.begin() as connection:
        migration._backfill(connection)
    assert found(svc, ana, "aposentadoria") == [cid]


def _load_migration() -> object:
    from engine import schema

    return schema.revision_module("0012_staff_search.py")


def test_a_common_word_is_read_newest_first_and_a_rare_one_from_the_index(
    svc: Chamados, maria: ActorRef, ana: ActorRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways to a page of words (engine.search.matching) give the same tickets."""
    ids = [
        submit_registration(svc, maria, detalhamento=f"Falha comum no servidor, caso {i}.")
        for i in range(4)
    ]
    rare = submit_registration(svc, maria, detalhamento="Falha rara e singular no servidor.")
    for direct in (2, 2000):  # a word in more entries than this is "common"
        monkeypatch.setattr(search, "_DIRECT", direct)
        assert found(svc, ana, "falha") == [rare, *ids[::-1]]
        assert found(svc, ana, "comum") == ids[::-1]
        assert found(svc, ana, "singular") == [rare]
        page = svc.search.tickets(ana, "falha", limit=3)
        assert [c.id for c in page.items] == [rare, ids[3], ids[2]] and page.more
