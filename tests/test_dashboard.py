"""The Painel's figures (engine.dashboard, svc.dashboard) on a known set of tickets run
through the real engine (tests/dashboard_data.py): exact counts, percentiles, buckets in
Brasília time, filters, who may see what, bad filters."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engine import dashboard, groups
from engine.errors import Forbidden, ValidationFailed
from engine.service import ActorRef, Chamados, Panel
from tests import dashboard_data
from tests.conftest import TEST_DATABASE_URL, FakeClock, add_person
from tests.dashboard_data import Known
from tests.test_engine_lifecycle import chamado

ADMIN, SOFIA = "52998224725", "71460238001"
PERIOD = {"de": "2026-11-27", "ate": "2026-12-02"}


@pytest.fixture
def known(tsvc: Chamados, clock: FakeClock) -> Known:
    return dashboard_data.build(tsvc, clock)


@pytest.fixture
def admin(tsvc: Chamados) -> ActorRef:
    return add_person(tsvc, ADMIN, "Carlos Admin", "admin")


def panel(svc: Chamados, actor: ActorRef, **args: str) -> Panel:
    return svc.dashboard.panel(actor, svc.dashboard.filters(actor, {**PERIOD, **args}))


def rows(p: Panel, key: str) -> list[list[object]]:
    return p.metric(key).rows


def test_every_figure_of_the_known_tickets(tsvc: Chamados, known: Known, admin: ActorRef) -> None:
    p = panel(tsvc, admin)
    # B was sent at 23:30 of the 27th in Brasília (the 28th in UTC): the 27th's.
    assert rows(p, "abertos") == [
        ["27/11/2026", 2],
        ["28/11/2026", 1],
        ["29/11/2026", 0],
        ["30/11/2026", 1],
        ["01/12/2026", 0],
        ["02/12/2026", 0],
    ]
    assert p.metric("abertos").summary == [("Total no período", "4")]
    assert rows(p, "por_orgao") == [
        ["INSS — Instituto Nacional do Seguro Social", 3],
        ["MEC — Ministério da Educação", 1],
    ]
    assert rows(p, "por_servico") == [["Aposentadoria por idade", 3], ["Pensão por morte", 1]]
    assert rows(p, "por_tipo") == [
        ["Erro em alguma API", 3],
        ["Lentidão no acesso ao serviço", 1],
    ]
    assert rows(p, "por_processo") == [["Chamado da Plataforma de Automação", 4]]
    # C, open since Saturday 09:00, four days and three hours ago.
    assert rows(p, "em_aberto") == [
        ["Até 1 dia", 0],
        ["De 1 a 3 dias", 0],
        ["De 3 a 7 dias", 1],
        ["De 7 a 15 dias", 0],
        ["De 15 a 30 dias", 0],
        ["Mais de 30 dias", 0],
    ]
    # First look: D 30 min, A 1 h, B 4 h (nearest rank: p50 the 2nd, p90 the 3rd);
    # result: D 30 min, A 3 h, B 12 h 30.
    assert rows(p, "tempos") == [
        ["Até a primeira análise", 3600.0, 14400.0, 3],
        ["Até o resultado", 10800.0, 45000.0, 3],
    ]
    assert rows(p, "prazos_vencidos")[:2] == [["27/11/2026", 0, 2], ["28/11/2026", 1, 1]]
    assert p.metric("prazos_vencidos").summary == [
        ("Com prazo vencido", "1"),
        ("Do total aberto no período", "25,0 %"),
    ]
    assert rows(p, "ajustes")[:3] == [["Nenhuma", 2], ["1 rodada", 1], ["2 rodadas", 0]]
    assert p.metric("ajustes").summary == [
        ("Chamados concluídos", "3"),
        ("Média de rodadas", "0,33"),
    ]
    assert rows(p, "satisfacao") == [
        ["1 — Não resolveu", 1],
        ["2 — Resolveu pouco", 0],
        ["3 — Resolveu em parte", 1],
        ["4 — Resolveu quase tudo", 0],
        ["5 — Resolveu totalmente", 1],
    ]
    assert p.metric("satisfacao").summary == [
        ("Respostas", "3"),
        ("Média", "3,00"),
        ("Com comentário", "2"),
    ]
    assert p.everything
    assert [pid for pid, _title in p.processos] == [
        "chamado",
        "pedido_automacao",
        "pedido_eliminacao_dados",
    ]


def test_weeks_start_on_monday_and_days_are_brasilia_days(
    tsvc: Chamados, known: Known, admin: ActorRef
) -> None:
    weeks = panel(tsvc, admin, agrupamento="semana")
    assert rows(weeks, "abertos") == [["Semana de 23/11/2026", 3], ["Semana de 30/11/2026", 1]]
    # From the 28th (Brasília): B, sent at 02:30 UTC of the 28th, is not in it.
    later = panel(tsvc, admin, de="2026-11-28")
    assert later.metric("abertos").summary == [("Total no período", "2")]
    assert rows(later, "tempos")[0] == ["Até a primeira análise", 1800.0, 1800.0, 1]
    # B closed on the 28th and A on the 27th: only B and D closed in it.
    assert rows(later, "tempos")[1] == ["Até o resultado", 1800.0, 45000.0, 2]
    assert later.metric("satisfacao").summary[0] == ("Respostas", "2")
    # Until the 27th: A and B only.
    first = panel(tsvc, admin, de="2026-11-27", ate="2026-11-27")
    assert first.metric("abertos").summary == [("Total no período", "2")]
    assert rows(first, "tempos")[1] == ["Até o resultado", 10800.0, 10800.0, 1]


def test_filters_by_organ_service_and_process(
    tsvc: Chamados, known: Known, admin: ActorRef
) -> None:
    inss = panel(tsvc, admin, orgao=str(dashboard_data.INSS))
    assert inss.metric("abertos").summary == [("Total no período", "3")]
    assert rows(inss, "em_aberto")[2] == ["De 3 a 7 dias", 0]  # C is MEC's
    assert rows(inss, "prazos_vencidos")[1] == ["28/11/2026", 0, 0]
    # The filter's choices stay those of the whole period.
    assert [i for i, _label in inss.orgaos] == [dashboard_data.INSS, dashboard_data.OTHER_ORGAO]
    pensao = panel(tsvc, admin, servico="Pensão por morte")
    assert pensao.metric("abertos").summary == [("Total no período", "1")]
    assert rows(pensao, "ajustes")[1] == ["1 rodada", 1]
    assert pensao.metric("satisfacao").summary == [
        ("Respostas", "1"),
        ("Média", "3,00"),
        ("Com comentário", "0"),
    ]
    other = panel(tsvc, admin, processo="pedido_automacao")
    assert other.metric("abertos").summary == [("Total no período", "0")]
    assert rows(other, "tempos")[0] == ["Até a primeira análise", None, None, 0]
    assert other.metric("satisfacao").summary[1] == ("Média", "—")
    assert panel(tsvc, admin, processo="chamado").metric("abertos").summary == [
        ("Total no período", "4")
    ]


def test_only_supervisors_and_admins_and_each_supervisor_sees_their_groups(
    tsvc: Chamados, known: Known
) -> None:
    for refused in (known.maria, known.ana):
        with pytest.raises(Forbidden, match="supervisores e administradores"):
            tsvc.dashboard.panel(refused, dashboard.default_filters(date(2026, 12, 2)))
        with pytest.raises(Forbidden):
            tsvc.dashboard.filters(refused, {})
    sofia = add_person(tsvc, SOFIA, "Sofia Supervisora", "supervisor")
    # Supervisors work the chamado's "Analista" lane through their role (data/groups.json).
    mine = panel(tsvc, sofia)
    assert mine.metric("abertos").summary == [("Total no período", "4")]
    assert not mine.everything
    assert [pid for pid, _t in mine.processos] == ["chamado", "pedido_automacao"]
    # A supervisor of other groups only: nothing of the chamado's tickets.
    with tsvc.unit.transaction() as s:
        groups.set_roles(s, "analyst", ["analyst"], groups.get(s, "analyst").version)
    theirs = panel(tsvc, sofia)
    assert [pid for pid, _t in theirs.processos] == ["pedido_automacao"]
    assert theirs.metric("abertos").summary == [("Total no período", "0")]
    assert sum(n for _label, n in rows(theirs, "em_aberto")) == 0
    assert theirs.metric("satisfacao").summary[0] == ("Respostas", "0")
    assert theirs.orgaos == [] and theirs.servicos == []
    with pytest.raises(ValidationFailed) as refused:
        panel(tsvc, sofia, processo="chamado")
    assert refused.value.errors == {"processo": "Escolha um processo da lista."}


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"de": "27/11/2026"}, "de", "AAAA-MM-DD"),
        ({"ate": "2026-02-30"}, "ate", "AAAA-MM-DD"),
        ({"de": "2026-12-02", "ate": "2026-11-27"}, "ate", "igual ou posterior"),
        ({"de": "2025-01-01", "ate": "2026-12-02"}, "ate", "até 366 dias"),
        ({"agrupamento": "mes"}, "agrupamento", "por dia ou por semana"),
        ({"orgao": "INSS"}, "orgao", "Escolha um órgão"),
        ({"orgao": "9" * 10}, "orgao", "Escolha um órgão"),
        ({"servico": "x" * 301}, "servico", "até 300 caracteres"),
        ({"processo": "nao_existe"}, "processo", "Escolha um processo"),
        ({"processo": "cha\x00mado"}, "processo", "Escolha um processo"),
        ({"servico": "Aposenta\x00doria"}, "servico", "U+0000"),
    ],
)
def test_bad_filters_are_named_in_portuguese(
    tsvc: Chamados, admin: ActorRef, args: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        panel(tsvc, admin, **args)
    assert list(refused.value.errors) == [field]
    assert message in refused.value.errors[field]


def test_default_period_is_the_last_thirty_brasilia_days(tsvc: Chamados, admin: ActorRef) -> None:
    # 01:00 UTC of 02/12 is still the 1st in Brasília.
    tsvc.clock = lambda: datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    filters = tsvc.dashboard.filters(admin, {})
    assert (filters.start, filters.end) == (date(2026, 11, 2), date(2026, 12, 1))
    only_end = tsvc.dashboard.filters(admin, {"ate": "2026-10-31"})
    assert (only_end.start, only_end.end) == (date(2026, 10, 2), date(2026, 10, 31))
    assert filters.window() == (
        datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 3, 0, tzinfo=UTC),
    )


def test_percentiles_are_nearest_rank() -> None:
    assert dashboard.percentile([], 50) is None
    assert dashboard.percentile([7.0], 90) == 7.0
    values = [float(n) for n in range(1, 11)]
    assert dashboard.percentile(values, 50) == 5.0
    assert dashboard.percentile(values, 90) == 9.0
    assert dashboard.percentile(list(reversed(values)), 91) == 10.0
    assert dashboard.format_duration(45000) == "12 h 30 min"
    assert dashboard.format_duration(3 * 86400 + 7200) == "3 d 2 h"
    assert dashboard.format_duration(1800) == "30 min"


def test_csv_cells_never_start_a_formula() -> None:
    assert dashboard.csv_value('=HYPERLINK("http://x")', "text") == '\'=HYPERLINK("http://x")'
    assert dashboard.csv_value("+1", "text") == "'+1"
    assert dashboard.csv_value("@SUM(A1)", "text") == "'@SUM(A1)"
    assert dashboard.csv_value("Aposentadoria", "text") == "Aposentadoria"
    assert dashboard.csv_value(-3, "int") == "-3"  # numbers stay numbers
    assert dashboard.csv_value(5400, "hours") == "1.50"
    assert dashboard.csv_value(None, "hours") == ""


def test_incidents_opened_in_the_period_with_their_tickets_and_followers(
    tsvc: Chamados, known: Known, admin: ActorRef, clock: FakeClock
) -> None:
    assert rows(panel(tsvc, admin), "incidentes") == [
        ["Abertos", 0, 0, 0],
        ["Sendo resolvidos", 0, 0, 0],
        ["Resolvidos", 0, 0, 0],
    ]
    clock.now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    open_ids = [i for i in known.ids.values() if chamado(tsvc, i).closed_at is None]
    oid = tsvc.outages.create(
        known.ana,
        title="Sistema fora do ar",
        public_text="Já estamos tratando.",
        from_chamado_id=open_ids[0],
    )
    joiner = add_person(tsvc, "11144477735", "João Pereira")
    tsvc.outages.subscribe(joiner, oid)
    p = panel(tsvc, admin)
    assert rows(p, "incidentes")[0] == ["Abertos", 1, 1, 1]
    assert p.metric("incidentes").summary == [
        ("Incidentes", "1"),
        ("Chamados vinculados", "1"),
        ("Pessoas acompanhando", "1"),
    ]
    # In a period that ends before it was opened: not counted.
    before = panel(tsvc, admin, ate="2026-11-30")
    assert rows(before, "incidentes")[0] == ["Abertos", 0, 0, 0]


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="psycopg's prepared statements: PostgreSQL only")
def test_the_panels_reads_are_planned_with_their_period_then_the_connection_is_restored(
    tsvc: Chamados,
) -> None:
    from engine.usecases.dashboard import _planned_with_their_period

    with tsvc.unit.reading() as session:
        driver = session.connection().connection.driver_connection
        before = driver.prepare_threshold
        assert before is not None
        with _planned_with_their_period(session):
            assert driver.prepare_threshold is None
        assert driver.prepare_threshold == before


_PARALLEL = "SELECT current_setting('max_parallel_workers_per_gather')"


def _forced_parallel(driver: object) -> None:
    """Make the planner put a Gather (a parallel worker) on top of every plan it may
    run in parallel, however small: the setting's name changed in PostgreSQL 16."""
    version = driver.info.server_version  # type: ignore[attr-defined]
    name = "debug_parallel_query" if version >= 160000 else "force_parallel_mode"
    driver.execute(f"SET {name} = on")  # type: ignore[attr-defined]


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="parallel workers: PostgreSQL only")
def test_the_panels_reads_run_without_parallel_workers_then_the_connection_is_restored(
    tsvc: Chamados,
) -> None:
    from engine.usecases.dashboard import _in_one_process

    plan = "EXPLAIN SELECT count(*) FROM chamados WHERE submitted_at IS NOT NULL"
    with tsvc.unit.reading() as session:
        driver = session.connection().connection.driver_connection
        _forced_parallel(driver)
        before = driver.execute(_PARALLEL).fetchone()[0]
        assert before != "0"
        # The same statement: a parallel plan on the connection as it was …
        assert "Gather" in "\n".join(r[0] for r in driver.execute(plan))
        with _in_one_process(session):
            assert driver.execute(_PARALLEL).fetchone()[0] == "0"
            # … none inside.
            assert "Gather" not in "\n".join(r[0] for r in driver.execute(plan))
        assert driver.execute(_PARALLEL).fetchone()[0] == before
        driver.execute("RESET ALL")


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="parallel workers: PostgreSQL only")
def test_every_statement_of_the_panel_runs_without_parallel_workers(
    tsvc: Chamados, known: Known, admin: ActorRef
) -> None:
    """What the benchmark measured (README, "Painel (issue #12)"): with a million tickets
    PostgreSQL planned the 100 days' satisfaction answers with a parallel worker, a
    process started per statement, which cost more than the statement's own work."""
    from sqlalchemy import event

    seen: list[tuple[str, str]] = []
    drivers: set[object] = set()

    def before(conn: object, cursor: object, statement: str, *_: object) -> None:
        driver = cursor.connection  # type: ignore[attr-defined]
        if "set_config" not in statement:
            drivers.add(driver)
            seen.append((statement, driver.execute(_PARALLEL).fetchone()[0]))

    event.listen(tsvc.unit.db, "before_cursor_execute", before)
    try:
        p = panel(tsvc, admin)
        assert p.metric("abertos").summary == [("Total no período", "4")]
        with pytest.raises(ValidationFailed):  # refused inside the panel's reads
            panel(tsvc, admin, processo="nao_existe")
    finally:
        event.remove(tsvc.unit.db, "before_cursor_execute", before)
    period_reads = [s for s, _setting in seen if "chamados" in s or "satisfaction" in s]
    assert len(period_reads) >= 7  # sent, combos, times, rounds, backlog, answers …
    assert {setting for _s, setting in seen} == {"0"}
    # Each connection the panel used is back to the server's setting, the refused one too.
    (default,) = {d.execute(_PARALLEL).fetchone()[0] for d in drivers}  # type: ignore[attr-defined]
    assert default != "0"
