"""Outages ("Incidentes"): duplicates ranked by text, tickets linked, "Resolver incidente"
completing each linked ticket once through its own model, requesters who join, and who
may see and change what. Real BPMN, real database (SQLite, and PostgreSQL with
TEST_DATABASE_URL)."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from engine import outages
from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import (
    AuditEvent,
    Chamado,
    HumanTask,
    OutageLink,
    OutageSubscriber,
    OutboxMessage,
)
from engine.service import ActorRef, Chamados, Settings
from tests.conftest import add_person, full_copy
from tests.test_engine_lifecycle import chamado, decide, open_task, submit_registration

FAILING = "A API de consulta do CadÚnico devolve erro 500 desde as 8h para todos os protocolos."
PUBLIC = "A integração com o CadÚnico foi restabelecida às 14h. Pode tentar de novo."


def requester_cpf(n: int) -> str:
    """A valid CPF numbered ``n``."""
    digits = [int(d) for d in f"{100000000 + n:09d}"]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(size + 1, 1, -1), strict=False))
        digits.append((total * 10 % 11) % 10)
    return "".join(map(str, digits))


def requester(svc: Chamados, n: int) -> ActorRef:
    """A distinct requester numbered ``n`` (e-mail ``<cpf>@example.gov.br``)."""
    return add_person(svc, requester_cpf(n), f"Pessoa {n}")


def wave(svc: Chamados, count: int, **overrides: Any) -> list[int]:
    """``count`` tickets about the same failing service, each by its own requester."""
    ids = []
    for n in range(count):
        person = requester(svc, n)
        data = {
            "detalhamento": FAILING,
            "solicitante_nome": f"Pessoa {n}",
            "solicitante_email": f"{requester_cpf(n)}@example.gov.br",
            **overrides,
        }
        ids.append(submit_registration(svc, person, **data))
    return ids


def mails(svc: Chamados, kind: str) -> list[OutboxMessage]:
    with svc.unit.session_factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


def open_outage(svc: Chamados, actor: ActorRef, from_id: int) -> int:
    return svc.outages.create(
        actor, title="CadÚnico fora do ar", public_text=PUBLIC, from_chamado_id=from_id
    )


def version_of(svc: Chamados, actor: ActorRef, outage_id: int) -> int:
    return svc.outages.get(actor, outage_id).outage.version


def test_duplicates_same_orgao_service_and_type_within_the_window_ranked_by_text(
    svc: Chamados, sofia: ActorRef
) -> None:
    first, twin = wave(svc, 2)
    cousin = submit_registration(
        svc, requester(svc, 10), detalhamento="O formulário demora a carregar na etapa final."
    )
    other_orgao = submit_registration(svc, requester(svc, 11), orgao=244, detalhamento=FAILING)
    other_type = submit_registration(
        svc, requester(svc, 12), tipo_problema="lentidao", detalhamento=FAILING
    )
    spelled = submit_registration(
        svc, requester(svc, 13), nome_servico="  APOSENTADORIA por   idade ", detalhamento=FAILING
    )
    old = submit_registration(svc, requester(svc, 14), detalhamento=FAILING)
    with svc.unit.transaction() as s:
        s.execute(
            update(Chamado)
            .where(Chamado.id == old)
            .values(submitted_at=chamado(svc, first).submitted_at - timedelta(hours=73))
        )
    source, found = svc.outages.duplicates(sofia, first)
    assert source.id == first
    ids = [d.chamado.id for d in found]
    # Same words first (the twin and the differently spelled service), the cousin last.
    assert set(ids[:2]) == {twin, spelled}
    assert ids[2:] == [cousin]
    assert found[0].score > found[2].score >= 0
    assert other_orgao not in ids and other_type not in ids and old not in ids
    # The window is a setting.
    svc.settings = Settings(**{**svc.settings.__dict__, "duplicate_window_hours": 100})
    assert old in [d.chamado.id for d in svc.outages.duplicates(sofia, first)[1]]


def test_the_duplicates_are_one_range_of_their_own_index(svc: Chamados) -> None:
    """Migration 0025: the candidates (open, same órgão and category, sent within the
    window) come from ix_chamados_open_similar, not from meeting the órgão's and the
    week's indexes (at a million tickets those hold thousands of rows each)."""
    first = wave(svc, 2)[0]
    with svc.unit.session_factory() as s:
        source = s.get(Chamado, first)
        assert source is not None
        query = outages.candidates(s, source, "chamado", timedelta(hours=72))
        compiled = str(query.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        conn = s.connection()
        if svc.unit.db.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            plan = "\n".join(str(r[-1]) for r in rows)
        else:  # a test database is tiny: without this, a sequential scan wins
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            plan = "\n".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
    assert "ix_chamados_open_similar" in plan, plan


def test_resolving_completes_each_ticket_through_its_model_once_and_mails_each_requester(
    svc: Chamados, ana: ActorRef, sofia: ActorRef
) -> None:
    ids = wave(svc, 4)
    adjusting, closed = ids[2], ids[3]
    decide(svc, ana, adjusting, {"decisao": "ajuste", "ajuste_solicitado": "Anexe o erro."})
    claimed = open_task(svc, ids[1], "analyst")
    svc.analysis.claim(ana, claimed.id)  # an analyst holds one: the outage answers it all the same
    oid = open_outage(svc, ana, ids[0])
    report = svc.outages.link(ana, oid, ids[1:] + [ids[0]])
    assert sorted(report.linked) == sorted(chamado(svc, i).protocolo for i in ids[1:])
    assert report.refused == [(chamado(svc, ids[0]).protocolo, "já está neste incidente")]
    decide(svc, ana, closed, {"decisao": "devolver", "motivo_devolucao": "fora_escopo"})
    joiner = requester(svc, 50)
    svc.outages.subscribe(joiner, oid)
    svc.outages.subscribe(joiner, oid)  # twice: once
    before = len(mails(svc, "chamado_resolvido"))

    result = svc.outages.resolve(sofia, oid, version_of(svc, sofia, oid))
    assert result.state == outages.RESOLVED and result.pending == 0
    assert sorted(result.done["resolvido"]) == sorted(chamado(svc, i).protocolo for i in ids[:2])
    assert result.done["aguardando_solicitante"] == [chamado(svc, adjusting).protocolo]
    assert result.done["ja_encerrado"] == [chamado(svc, closed).protocolo]
    assert "aguardava ajuste" in result.message

    for cid in ids[:2]:
        c = chamado(svc, cid)
        assert c.status == "resolvido" and c.outcome_message == PUBLIC
    assert chamado(svc, adjusting).status == "aguardando_ajuste"  # left to its requester
    resolved_mails = mails(svc, "chamado_resolvido")[before:]
    assert sorted(m.chamado_id for m in resolved_mails) == sorted(ids[:2])
    assert all(PUBLIC in m.body_text for m in resolved_mails)
    joined = mails(svc, outages.MAIL)
    assert [m.to_addr for m in joined] == [f"{_cpf(svc, joiner)}@example.gov.br"]
    assert "CadÚnico fora do ar" in joined[0].subject and PUBLIC in joined[0].body_text
    with svc.unit.session_factory() as s:
        audited = s.scalar(
            select(func.count()).where(AuditEvent.action == "incidente_servico.chamado_resolvido")
        )
        assert audited == 2
        task = s.get(HumanTask, claimed.id)
        assert task is not None and task.completed_by_id == sofia.id
    # The analyst's open form now changes nothing.
    with pytest.raises(Exception) as stale:
        svc.requests.complete_task(
            ana,
            claimed.id,
            {"decisao": "resolver", "resposta": "Outra"},
            chamado(svc, ids[1]).version,
        )
    assert "nada" in str(stale.value) or "não" in str(stale.value)
    # Pressing again: nothing more.
    with pytest.raises(Conflict, match="já foi resolvido"):
        svc.outages.resolve(sofia, oid, version_of(svc, sofia, oid))
    assert len(mails(svc, "chamado_resolvido")) == before + 2
    assert len(mails(svc, outages.MAIL)) == 1


def _cpf(svc: Chamados, actor: ActorRef) -> str:
    from engine.models import User

    with svc.unit.session_factory() as s:
        user = s.get(User, actor.id)
        assert user is not None
        return user.cpf


def test_two_supervisors_pressing_at_once_resolve_each_ticket_once(
    svc: Chamados, ana: ActorRef, sofia: ActorRef
) -> None:
    ids = wave(svc, 6)
    oid = open_outage(svc, ana, ids[0])
    svc.outages.link(ana, oid, ids[1:])
    other = add_person(svc, "52998224725", "Otávio Supervisor", "supervisor")
    version = version_of(svc, sofia, oid)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def press(who: ActorRef) -> None:
        barrier.wait()
        try:
            results.append(svc.outages.resolve(who, oid, version))
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=press, args=(p,)) for p in (sofia, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in results if isinstance(r, Conflict)]
    done = [r for r in results if not isinstance(r, Conflict)]
    assert len(refused) == 1 and len(done) == 1
    assert "nada foi alterado" in refused[0].message
    assert done[0].state == outages.RESOLVED
    assert len(mails(svc, "chamado_resolvido")) == 6
    with svc.unit.session_factory() as s:
        completions = s.scalar(
            select(func.count()).where(AuditEvent.action == "incidente_servico.chamado_resolvido")
        )
        assert completions == 6


def test_hundreds_are_resolved_in_batches_and_two_workers_never_do_one_twice(
    svc: Chamados, ana: ActorRef, sofia: ActorRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = wave(svc, 7)
    oid = open_outage(svc, ana, ids[0])
    svc.outages.link(ana, oid, ids[1:])
    monkeypatch.setattr(outages, "BATCH", 3)
    import engine.usecases.outages as usecase

    monkeypatch.setattr(usecase.outages, "BATCH", 3)
    first = svc.outages.resolve(sofia, oid, version_of(svc, sofia, oid))
    assert first.state == outages.RESOLVING and first.pending == 4
    assert "segundo plano" in first.message
    assert svc.outages.get(sofia, oid).pending == 4
    # Two scheduler workers at once over the same remaining tickets.
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def job() -> None:
        barrier.wait()
        counts.append(svc.outages.continue_resolutions(batch=10))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 4
    assert svc.outages.get(sofia, oid).outage.state == outages.RESOLVED
    assert len(mails(svc, "chamado_resolvido")) == 7
    assert svc.outages.continue_resolutions() == 0


def test_links_are_bounded_and_checked(
    svc: Chamados, ana: ActorRef, maria: ActorRef, sofia: ActorRef
) -> None:
    ids = wave(svc, 2)
    draft = svc.requests.start_chamado(maria, "chamado")
    oid = open_outage(svc, ana, ids[0])
    with pytest.raises(ValidationFailed) as refused:
        svc.outages.link(ana, oid, list(range(1, outages.MAX_LINKS + 2)))
    assert "até 100" in refused.value.errors["chamados"]
    with pytest.raises(ValidationFailed):
        svc.outages.link(ana, oid, [])
    report = svc.outages.link(ana, oid, [ids[1], draft.id, 999_999])
    assert report.linked == [chamado(svc, ids[1]).protocolo]
    # An analyst's groups never had the draft: not found; a supervisor is told why.
    assert (f"#{draft.id}", "chamado não encontrado") in report.refused
    assert svc.outages.link(sofia, oid, [draft.id]).refused == [
        (draft.protocolo, "ainda é um rascunho")
    ]
    assert ("#999999", "chamado não encontrado") in report.refused
    second = svc.outages.create(
        ana,
        title="Outro",
        public_text="Outro texto público.",
        process_id="chamado",
        orgao_id=1934,
        servico="Aposentadoria por idade",
        categoria="erro_api",
    )
    report = svc.outages.link(ana, second, [ids[1]])
    assert report.refused == [(chamado(svc, ids[1]).protocolo, "já está em outro incidente")]
    svc.outages.unlink(ana, oid, ids[1])
    assert svc.outages.link(ana, second, [ids[1]]).linked


def test_what_staff_type_is_checked_in_portuguese(svc: Chamados, ana: ActorRef) -> None:
    with pytest.raises(ValidationFailed) as refused:
        svc.outages.create(ana, title="", public_text="oi", process_id="chamado")
    assert set(refused.value.errors) == {"titulo", "texto_publico"}
    with pytest.raises(ValidationFailed) as refused:
        svc.outages.create(
            ana, title="T", public_text="Texto público", process_id="pedido_automacao"
        )
    assert "incidentAnswer" in refused.value.errors["processo"]


def test_the_start_page_notice_and_joining(svc: Chamados, ana: ActorRef, sofia: ActorRef) -> None:
    ids = wave(svc, 1)
    assert svc.outages.notices(None, "chamado") == []
    oid = open_outage(svc, ana, ids[0])
    person = requester(svc, 60)
    notice = svc.outages.notices(person, "chamado")[0]
    assert notice.title == "CadÚnico fora do ar" and not notice.subscribed
    assert notice.servico == "Aposentadoria por idade" and notice.categoria
    svc.outages.subscribe(person, oid)
    assert svc.outages.notices(person, "chamado")[0].subscribed
    assert svc.outages.notices(person, "pedido_automacao") == []
    no_mail = add_person(svc, "85351346893", "Sem E-mail")
    from engine.models import User

    with svc.unit.transaction() as s:
        s.execute(update(User).where(User.id == no_mail.id).values(email=None))
    with pytest.raises(ValidationFailed) as refused:
        svc.outages.subscribe(no_mail, oid)
    assert "e-mail" in refused.value.errors["email"]
    svc.outages.resolve(sofia, oid, version_of(svc, sofia, oid))
    assert svc.outages.notices(person, "chamado") == []
    with pytest.raises(Conflict, match="já foi resolvido"):
        svc.outages.subscribe(requester(svc, 61), oid)
    with svc.unit.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OutageSubscriber)) == 1


def _deploy_other_team_process(svc: Chamados, tmp_path: Path) -> None:
    """A copy of the chamado whose analysis lane is the "Equipe técnica"."""
    root = Path(__file__).resolve().parent.parent
    folder = tmp_path / "processes"
    (folder / "mail").mkdir(parents=True)
    for f in (root / "processes" / "mail").iterdir():
        shutil.copy(f, folder / "mail" / f.name)
    xml = (root / "processes" / "chamado.bpmn").read_text("utf-8")
    xml = xml.replace('processRef="chamado"', 'processRef="chamado_ti"')
    xml = xml.replace('<bpmn:process id="chamado"', '<bpmn:process id="chamado_ti"')
    xml = xml.replace('name="Analista (CGATE/SGD)"', 'name="Equipe técnica"')
    xml = xml.replace("Chamado da Plataforma de Automação", "Chamado de TI")
    (folder / "chamado_ti.bpmn").write_text(xml, "utf-8")
    svc.settings = Settings(**{**svc.settings.__dict__, "processes_dir": folder})
    with svc.unit.transaction() as s:
        assert "chamado_ti" in svc.deploy_processes(s)


def test_who_sees_and_changes_what(
    svc: Chamados, ana: ActorRef, sofia: ActorRef, maria: ActorRef, tmp_path: Path
) -> None:
    ids = wave(svc, 2)
    oid = open_outage(svc, ana, ids[0])
    _deploy_other_team_process(svc, tmp_path)
    teca = add_person(svc, "71428793860", "Teca Técnica")
    admin = add_person(svc, "11122233396", "Carla Admin", "admin")
    svc.admin.add_group_member(admin, "equipe-tecnica", "71428793860")
    teca = ActorRef(teca.id, frozenset({"analyst"}))
    # Teca is an analyst (so also in the chamado's group by role); a ticket of her team:
    ti = svc.requests.start_chamado(maria, "chamado_ti")
    svc.requests.complete_task(
        maria,
        open_task(svc, ti.id).id,
        _registration(),
        chamado(svc, ti.id).version,
    )
    ti_outage = svc.outages.create(
        teca, title="TI fora", public_text="Texto da TI.", from_chamado_id=ti.id
    )
    # Ana's groups do not work the "Equipe técnica" outage: not found, nothing changed.
    assert ti_outage not in [v.outage.id for v in svc.outages.list(ana)]
    with pytest.raises(NotFound):
        svc.outages.get(ana, ti_outage)
    with pytest.raises(NotFound):
        svc.outages.link(ana, ti_outage, ids[1:])
    with pytest.raises(NotFound):
        svc.outages.duplicates(ana, ti.id)
    assert svc.outages.link(ana, oid, [ti.id]).refused == [(f"#{ti.id}", "chamado não encontrado")]
    with pytest.raises(Forbidden):
        svc.outages.create(ana, title="X", public_text="Texto público", process_id="chamado_ti")
    # Only supervisors resolve; requesters and admins see nothing of staff's side.
    with pytest.raises(Forbidden):
        svc.outages.resolve(ana, oid, 1)
    for outsider in (maria, admin):
        with pytest.raises(Forbidden):
            svc.outages.get(outsider, oid)
        with pytest.raises(Forbidden):
            svc.outages.list(outsider)
        with pytest.raises(Forbidden):
            svc.outages.link(outsider, oid, ids[1:])
        with pytest.raises(Forbidden):
            svc.outages.duplicates(outsider, ids[0])
    assert {v.outage.id for v in svc.outages.list(sofia)} == {oid, ti_outage}
    with svc.unit.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(OutageLink)) == 2


def _registration() -> dict[str, Any]:
    from tests.test_engine_lifecycle import registration

    return registration()


def test_a_model_whose_resolution_its_form_refuses_leaves_the_ticket_and_says_why(
    svc: Chamados, ana: ActorRef, sofia: ActorRef, tmp_path: Path
) -> None:
    """The values an outage sends are checked like any sending: a model declaring a
    decision its form does not have gets "falhou" with the form's message, unchanged."""
    root = Path(__file__).resolve().parent.parent
    folder = tmp_path / "processes"
    shutil.copytree(root / "processes" / "mail", folder / "mail")
    xml = (root / "processes" / "chamado.bpmn").read_text("utf-8")
    xml = xml.replace('processRef="chamado"', 'processRef="chamado_x"')
    xml = xml.replace('<bpmn:process id="chamado"', '<bpmn:process id="chamado_x"')
    xml = xml.replace(
        'name="incidentResolution:decisao" value="resolver"',
        'name="incidentResolution:decisao" value="arquivar"',
    )
    (folder / "chamado_x.bpmn").write_text(xml, "utf-8")
    svc.settings = Settings(**{**svc.settings.__dict__, "processes_dir": folder})
    with svc.unit.transaction() as s:
        svc.deploy_processes(s)
    maria = requester(svc, 70)
    started = svc.requests.start_chamado(maria, "chamado_x")
    from tests.test_engine_lifecycle import registration

    svc.requests.complete_task(
        maria, open_task(svc, started.id).id, registration(), chamado(svc, started.id).version
    )
    oid = open_outage(svc, ana, started.id)
    report = svc.outages.resolve(sofia, oid, version_of(svc, sofia, oid))
    assert report.done == {"falhou": [started.protocolo]} and report.state == outages.RESOLVED
    link = svc.outages.get(sofia, oid).links[0]
    assert link.outcome == "falhou" and link.note and link.note.startswith("decisao:")
    assert chamado(svc, started.id).status == "em_analise"


def test_the_model_must_name_the_answer_field() -> None:
    from lxml import etree

    from engine import policy
    from engine.errors import ProcessDefinitionError

    namespaces = f'xmlns:bpmn="{policy.BPMN_NS}" xmlns:spiffworkflow="{policy.SPIFF_NS}"'
    xml = f"""<bpmn:definitions {namespaces}>
      <bpmn:process id="p"><bpmn:userTask id="t"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="incidentResolution:decisao" value="resolver"/>
      </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask></bpmn:process>
    </bpmn:definitions>"""
    with pytest.raises(ProcessDefinitionError, match="incidentAnswer"):
        policy.read(etree.fromstring(xml.encode()), "p")
    declared = policy.read(
        etree.fromstring(
            xml.replace(
                '<spiffworkflow:property name="incidentResolution',
                '<spiffworkflow:property name="incidentAnswer" value="resposta"/>'
                '<spiffworkflow:property name="incidentResolution',
            ).encode()
        ),
        "p",
    )
    assert declared.incident_tasks["t"].incident_values == (("decisao", "resolver"),)


def test_the_scheduler_goes_on_resolving(svc: Chamados) -> None:
    sched = svc.scheduler()
    assert sched.get_job("outages") is not None


def test_meus_dados_lists_what_one_follows(svc: Chamados, ana: ActorRef, sofia: ActorRef) -> None:
    ids = wave(svc, 1)
    oid = open_outage(svc, ana, ids[0])
    person, other = requester(svc, 80), requester(svc, 81)
    svc.outages.subscribe(person, oid)
    svc.outages.subscribe(other, oid)
    followed = full_copy(svc, person)["problemas_acompanhados"]
    assert [(f["titulo"], f["email"]) for f in followed] == [
        ("CadÚnico fora do ar", f"{requester_cpf(80)}@example.gov.br")
    ]
    svc.outages.resolve(sofia, oid, version_of(svc, sofia, oid))
    followed = full_copy(svc, person)["problemas_acompanhados"]
    assert followed[0]["email"] is None and followed[0]["avisado_em"]  # erased once mailed


def forget_unused_account(svc: Chamados, person: ActorRef, chamado_id: int) -> None:
    """``person`` unused for longer than the retention allows; the retention job runs."""
    from engine.models import User

    long_ago = chamado(svc, chamado_id).created_at - timedelta(days=800)
    with svc.unit.transaction() as s:
        s.execute(
            update(User)
            .where(User.id == person.id)
            .values(last_login_at=long_ago, created_at=long_ago)
        )
    assert svc.privacy.run_retention().accounts >= 1


def test_an_unused_account_is_anonymised_with_its_followed_address(
    svc: Chamados, ana: ActorRef
) -> None:

    ids = wave(svc, 1)
    oid = open_outage(svc, ana, ids[0])
    person = requester(svc, 90)
    svc.outages.subscribe(person, oid)
    forget_unused_account(svc, person, ids[0])
    with svc.unit.session_factory() as s:
        row = s.scalars(select(OutageSubscriber).where(OutageSubscriber.user_id == person.id)).one()
        assert row.email is None


def test_the_solved_problem_mail_is_blanked_with_the_account(
    svc: Chamados, ana: ActorRef, sofia: ActorRef
) -> None:
    """The "problema resolvido" e-mail is about no instance: anonymising the account
    blanks it by its address, as the instances' own mails are blanked with them."""

    ids = wave(svc, 1)
    oid = open_outage(svc, ana, ids[0])
    person, other = requester(svc, 91), requester(svc, 92)
    svc.outages.subscribe(person, oid)
    svc.outages.subscribe(other, oid)
    svc.outages.resolve(sofia, oid, version_of(svc, sofia, oid))
    address = f"{requester_cpf(91)}@example.gov.br"
    assert [m.to_addr for m in mails(svc, outages.MAIL)].count(address) == 1
    forget_unused_account(svc, person, ids[0])
    sent = {m.to_addr: m for m in mails(svc, outages.MAIL)}
    assert address not in sent
    blanked = [m for m in mails(svc, outages.MAIL) if m.to_addr == ""]
    assert len(blanked) == 1 and blanked[0].body_text == "" and blanked[0].body_html == ""
    # The other follower's account is in use: their e-mail stays.
    kept = sent[f"{requester_cpf(92)}@example.gov.br"]
    assert kept.body_text and kept.body_html
