"""A person's own lists page by keyset (engine.listing): "Minhas solicitações",
GET /api/v1/chamados and GET /api/v1/tasks. Every ticket once and in order, both ways;
open and closed views; nobody else's rows; bad cursors and sizes refused cleanly; plain
links on the page; the answers as the OpenAPI document says; the indexes serve them."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

from engine import listing
from engine.models import Chamado, HumanTask, User
from engine.service import ActorRef, Chamados
from tests.test_api import Api, build_app, person
from tests.test_auth import set_session_user
from tests.test_engine_lifecycle import decide, open_task, registration

MARIA, ANA, BRUNO, JOAO = "39053344705", "11144477735", "52998224725", "85351346893"
RESOLVE = {"decisao": "resolver", "resposta": "Corrigimos."}
RETURN = {"decisao": "devolver", "motivo_devolucao": "fora_escopo"}
ADJUST = {"decisao": "ajuste", "ajuste_solicitado": "Informe o erro exato."}


@dataclass
class World:
    app: Flask
    svc: Chamados
    maria: ActorRef
    ana: ActorRef
    bruno: ActorRef
    joao: ActorRef
    api: dict[str, Api]


def _actor(svc: Chamados, cpf: str, *roles: str) -> ActorRef:
    with svc.unit.session_factory() as s:
        return ActorRef(s.scalars(select(User.id).where(User.cpf == cpf)).one(), frozenset(roles))


def _submitted(svc: Chamados, who: ActorRef) -> int:
    c = svc.requests.start_chamado(who, "chamado")
    svc.requests.complete_task(who, open_task(svc, c.id).id, registration(), c.version)
    return c.id


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Maria: 23 tickets — 8 closed through the real paths (5 resolved, 3 returned), 15
    open (drafts, in analysis, one awaiting her adjustment); four drafts and their tasks
    created in the same microsecond. João: 3 tickets of his own. Ana holds 4 analyses,
    Bruno 1."""
    app = build_app(tmp_path)
    svc: Chamados = app.extensions["chamados"]
    api = {
        "maria": Api(app.test_client(), person(app, MARIA, "Maria da Silva")),
        "ana": Api(app.test_client(), person(app, ANA, "Ana Souza", "analyst")),
        "bruno": Api(app.test_client(), person(app, BRUNO, "Bruno Lima", "analyst")),
        "joao": Api(app.test_client(), person(app, JOAO, "João Pereira")),
    }
    maria, joao = _actor(svc, MARIA), _actor(svc, JOAO)
    ana, bruno = _actor(svc, ANA, "analyst"), _actor(svc, BRUNO, "analyst")
    for data in [RESOLVE] * 5 + [RETURN] * 3:
        decide(svc, ana, _submitted(svc, maria), data)
    adjusting = _submitted(svc, maria)
    decide(svc, ana, adjusting, ADJUST)
    analysed = [_submitted(svc, maria) for _ in range(5)]
    for cid in analysed[:4]:
        svc.analysis.claim(ana, open_task(svc, cid, "analyst").id)
    svc.analysis.claim(bruno, open_task(svc, analysed[4], "analyst").id)
    drafts = [svc.requests.start_chamado(maria, "chamado").id for _ in range(9)]
    for _ in range(2):
        svc.requests.start_chamado(joao, "chamado")
    decide(svc, ana, _submitted(svc, joao), RESOLVE)
    with svc.unit.transaction() as s:  # ties on created_at: the id decides
        same = s.scalar(select(Chamado.created_at).where(Chamado.id == drafts[3]))
        s.execute(update(Chamado).where(Chamado.id.in_(drafts[4:8])).values(created_at=same))
        s.execute(
            update(HumanTask).where(HumanTask.chamado_id.in_(drafts[4:8])).values(created_at=same)
        )
    yield World(app, svc, maria, ana, bruno, joao, api)
    svc.unit.db.dispose()


def _expected(svc: Chamados, requester_id: int, view: str) -> list[int]:
    """The list as it must come: every ticket of the view, newest first, then by id."""
    with svc.unit.session_factory() as s:
        rows = s.execute(
            select(Chamado.id, Chamado.created_at, Chamado.closed_at).where(
                Chamado.requester_id == requester_id
            )
        ).all()
    wanted = [r for r in rows if view == "todos" or (r.closed_at is None) == (view == "abertos")]
    return [r.id for r in sorted(wanted, key=lambda r: (r.created_at, r.id), reverse=True)]


def _walk(fetch: Any, first: listing.ListRequest) -> tuple[list[list[int]], list[list[int]]]:
    """The pages forward by next_cursor from ``first``, then back by prev_cursor."""
    forward, back, size = [], [], str(first.limit)
    page = fetch(first)
    forward.append(page)
    while page.next_cursor:
        page = fetch(listing.parse_request(first.kind, None, page.next_cursor, size))
        forward.append(page)
    while page.prev_cursor:
        page = fetch(listing.parse_request(first.kind, None, page.prev_cursor, size))
        back.append(page)
    ids = [[row[0].id if isinstance(row, tuple) else row.id for row in p.items] for p in forward]
    back_ids = [[row[0].id if isinstance(row, tuple) else row.id for row in p.items] for p in back]
    return ids, back_ids


# --- the engine ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 4, 100])
def test_paging_returns_each_ticket_once_in_order_both_ways(world: World, limit: int) -> None:
    svc, maria = world.svc, world.maria
    for view in listing.VIEWS[listing.CHAMADOS]:
        expected = _expected(svc, maria.id, view)
        first = listing.ListRequest(listing.CHAMADOS, view, limit)
        pages, back = _walk(lambda r: svc.requests.my_chamados(maria, r), first)
        assert [i for p in pages for i in p] == expected, view
        assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit
        # Back from the last page, every page again, the first one full.
        assert back == pages[:-1][::-1], view


def test_open_and_closed_views_and_their_counts(world: World) -> None:
    svc, maria = world.svc, world.maria
    request = listing.ListRequest(listing.CHAMADOS, "abertos", 100)
    opened = svc.requests.my_chamados(maria, request)
    assert len(opened.items) == 15 and opened.counts == {
        "abertos": 15,
        "encerrados": 8,
        "todos": 23,
    }
    assert all(c.closed_at is None for c, _t in opened.items)
    # The requester's open task comes with its ticket: drafts and the adjustment.
    with_task = {c.status for c, t in opened.items if t is not None}
    assert with_task == {"rascunho", "aguardando_ajuste"}
    assert sum(t is not None for _c, t in opened.items) == 10
    closed = svc.requests.my_chamados(
        maria, listing.ListRequest(listing.CHAMADOS, "encerrados", 100)
    )
    assert sorted(c.status for c, _t in closed.items) == ["devolvido"] * 3 + ["resolvido"] * 5
    assert all(t is None for _c, t in closed.items)
    # The default is the open view.
    assert [c.id for c, _t in svc.requests.my_chamados(maria).items] == _expected(
        svc, maria.id, "abertos"
    )[:20]


def test_counts_stop_at_the_cap(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "COUNT_CAP", 6)
    page = world.svc.requests.my_chamados(world.maria)
    assert page.counts == {"abertos": 6, "encerrados": 6, "todos": 12} and page.count_cap == 6


def test_nobody_else_s_tickets_or_tasks(world: World) -> None:
    svc = world.svc
    joao_ids = set(_expected(svc, world.joao.id, "todos"))
    assert len(joao_ids) == 3
    for view in listing.VIEWS[listing.CHAMADOS]:
        request = listing.ListRequest(listing.CHAMADOS, view, 100)
        maria_ids = {c.id for c, _t in svc.requests.my_chamados(world.maria, request).items}
        assert maria_ids and not maria_ids & joao_ids
        assert {c.id for c, _t in svc.requests.my_chamados(world.joao, request).items} <= joao_ids
        assert svc.requests.my_chamados(world.ana, request).items == []  # staff see only their own
    # João's two drafts are his tasks; Maria's and the analysts' never show up for him.
    mine = svc.requests.my_tasks(
        world.joao, listing.ListRequest(listing.TASKS, "abertas", 100)
    ).items
    assert len(mine) == 2 and {t.chamado_id for t in mine} <= joao_ids


def test_tasks_page_through_the_callers_ready_tasks_only(world: World) -> None:
    svc = world.svc
    with svc.unit.session_factory() as s:
        ready = s.execute(
            select(HumanTask.id, HumanTask.assignee_id, HumanTask.created_at).where(
                HumanTask.state == "ready"
            )
        ).all()

    def expected(user: ActorRef) -> list[int]:
        rows = [r for r in ready if r.assignee_id == user.id]
        return [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]

    for who, count in ((world.maria, 10), (world.ana, 4), (world.bruno, 1)):
        first = listing.ListRequest(listing.TASKS, "abertas", 3)
        pages, back = _walk(lambda r, who=who: svc.requests.my_tasks(who, r), first)
        assert [i for p in pages for i in p] == expected(who) and len(expected(who)) == count
        assert back == pages[:-1][::-1]
    # An analyst who lost the role no longer lists the analyses still assigned to them.
    assert svc.requests.my_tasks(ActorRef(world.ana.id, frozenset())).items == []


# --- cursors and parameters ------------------------------------------------------------------


def test_cursors_round_trip_and_any_change_is_refused(world: World) -> None:
    page = world.svc.requests.my_chamados(
        world.maria, listing.ListRequest(listing.CHAMADOS, "todos", 5)
    )
    cursor = page.next_cursor
    assert cursor and re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    decoded = listing.decode_cursor(cursor)
    assert decoded is not None and decoded.view == "todos" and not decoded.backward
    assert (decoded.created_at, decoded.id) == (page.items[-1][0].created_at, page.items[-1][0].id)
    assert listing.encode_cursor(decoded) == cursor
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(cursor):
        for other in (
            alphabet[(alphabet.index(ch) + 1) % 64],
            alphabet[(alphabet.index(ch) + 17) % 64],
        ):
            assert listing.decode_cursor(cursor[:i] + other + cursor[i + 1 :]) is None, i
    for bad in (cursor[:-1], cursor + "A", "", "x" * 500, "%%%", "ção", "null", cursor + "=="):
        assert listing.decode_cursor(bad) is None, bad
    # Even with a right checksum, values the database would choke on are no cursor.
    for values in (
        ["chamados", "todos", "n", 0, 2**31],
        ["chamados", "todos", "n", 10**20, 1],
        ["chamados", "todos", "n", -(10**17), 1],
        ["chamados", "todos", "x", 0, 1],
        ["chamados", "arquivados", "n", 0, 1],
        ["chamados", "todos", "n", 0, True],
        {"kind": "chamados"},
    ):
        raw = json.dumps(values).encode()
        forged = base64.urlsafe_b64encode(listing._check(raw) + raw).decode().rstrip("=")
        assert listing.decode_cursor(forged) is None, values


def test_bad_parameters_are_named_in_the_answer(world: World) -> None:
    maria = world.api["maria"]
    first = maria.get("/chamados?view=todos&limit=5")
    cursor = first["next_cursor"]
    tampered = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for query, fields in (
        (f"/chamados?cursor={tampered}", {"cursor"}),
        (f"/chamados?cursor={cursor[:-3]}", {"cursor"}),
        ("/chamados?cursor=bm90LWEtY3Vyc29y", {"cursor"}),
        (f"/chamados?cursor={cursor}&view=abertos", {"cursor"}),  # another view's cursor
        ("/chamados?limit=0", {"limit"}),
        ("/chamados?limit=101", {"limit"}),
        ("/chamados?limit=dez", {"limit"}),
        ("/chamados?limit=²", {"limit"}),
        ("/chamados?view=arquivados&limit=-1", {"view", "limit"}),
        (f"/tasks?cursor={cursor}", {"cursor"}),  # a cursor of another list
        ("/tasks?limit=1000", {"limit"}),
    ):
        refused = maria.get(query, expect=422)
        assert set(refused["errors"]) == fields, query
        assert refused["title"] == "Dados inválidos" and "inválid" in refused["detail"]
    # Without a view, the cursor's applies.
    assert maria.get(f"/chamados?cursor={cursor}&limit=5")["view"] == "todos"


# --- the API ---------------------------------------------------------------------------------


def _follow(api: Api, path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page from ``path`` by links.next, then back by links.prev (as sent)."""
    pages = [api.get(path)]
    while pages[-1]["links"]["next"]:
        pages.append(api.get(pages[-1]["links"]["next"].removeprefix("/api/v1")))
    back = []
    page = pages[-1]
    while page["links"]["prev"]:
        page = api.get(page["links"]["prev"].removeprefix("/api/v1"))
        back.append(page)
    return pages, back


def test_api_lists_page_by_their_links(world: World) -> None:
    maria, ana = world.api["maria"], world.api["ana"]
    for view in ("abertos", "encerrados", "todos"):
        pages, back = _follow(maria, f"/chamados?view={view}&limit=4")
        ids = [i["chamado"]["id"] for p in pages for i in p["items"]]
        assert ids == _expected(world.svc, world.maria.id, view)
        assert [p["items"] for p in back] == [p["items"] for p in pages[:-1][::-1]]
        assert all(p["view"] == view and p["limit"] == 4 for p in pages)
        assert pages[0]["prev_cursor"] is None and pages[-1]["next_cursor"] is None
        assert pages[0]["counts"] == {"abertos": 15, "encerrados": 8, "todos": 23}
    default = maria.get("/chamados")
    assert default["view"] == "abertos" and default["limit"] == listing.DEFAULT_LIMIT
    assert len(default["items"]) == 15 and default["links"] == {"next": None, "prev": None}
    drafts = [i for i in default["items"] if i["chamado"]["status"] == "rascunho"]
    assert len(drafts) == 9 and all(i["open_task"]["state"] == "ready" for i in drafts)

    pages, _back = _follow(maria, "/tasks?limit=3")
    tasks = [i["task"] for p in pages for i in p["items"]]
    assert len(tasks) == 10 and all(t["group"] == "requester" for t in tasks)
    assert len(pages) == 4 and "view" not in pages[0]
    held = ana.get("/tasks")["items"]
    assert len(held) == 4 and {i["task"]["assignee_id"] for i in held} == {world.ana.id}


# --- the page --------------------------------------------------------------------------------


def _html(client: FlaskClient, url: str, expect: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == expect, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a class="page" rel="{rel}" href="([^"]+)">', html)
    return unescape(found.group(1)) if found else None


def _protocols(html: str) -> list[str]:
    return re.findall(r'<td[^>]*><a href="/chamados/\d+">(CH-\d{4}-\d{6})</a></td>', html)


def test_the_page_pages_with_plain_links(world: World) -> None:
    """No JavaScript: tabs and "Próxima página" / "Página anterior" are links to follow."""
    browser = world.app.test_client()
    set_session_user(world.app, browser, MARIA, "Maria da Silva")
    with world.svc.unit.session_factory() as s:
        protocolo = {
            row.id: row.protocolo for row in s.execute(select(Chamado.id, Chamado.protocolo))
        }
    html = _html(browser, "/minhas-solicitacoes")
    assert "Em aberto (15)" in html and "Encerrados (8)" in html and "Todos (23)" in html
    assert _protocols(html) == [
        protocolo[i] for i in _expected(world.svc, world.maria.id, "abertos")
    ]
    assert _link(html, "next") is None and _link(html, "prev") is None

    everything = [protocolo[i] for i in _expected(world.svc, world.maria.id, "todos")]
    todos = re.search(r'<a href="([^"]+)"[^>]*>\s*<span class="name">Todos', html)
    assert todos is not None
    url: str | None = unescape(todos.group(1)) + "&por_pagina=10"
    seen, pages = [], []
    while url:
        html = _html(browser, url)
        pages.append(url)
        seen += _protocols(html)
        assert "Próxima página" in html or url != pages[0] or len(everything) <= 10
        url = _link(html, "next")
    assert seen == everything and len(pages) == 3
    assert "Página anterior" in html
    previous = _html(browser, _link(html, "prev") or "")
    assert _protocols(previous) == everything[10:20]

    # Closed ones are a tab away; a bad cursor or size is a clean page, not an error 500.
    closed = _html(browser, "/minhas-solicitacoes?visao=encerrados")
    assert len(_protocols(closed)) == 8 and 'aria-current="page"' in closed
    bad = _html(browser, "/minhas-solicitacoes?cursor=abc", expect=422)
    assert "Cursor de paginação inválido" in bad
    assert "1 a 100" in _html(browser, "/minhas-solicitacoes?por_pagina=500", expect=422)


def test_an_empty_list_says_so(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    try:
        browser = app.test_client()
        set_session_user(app, browser, JOAO, "João Pereira")
        html = _html(browser, "/minhas-solicitacoes")
        assert "Você não tem solicitações em aberto." in html and 'rel="next"' not in html
        assert "Você ainda não fez nenhuma solicitação." in _html(
            browser, "/minhas-solicitacoes?visao=todos"
        )
    finally:
        app.extensions["chamados"].unit.db.dispose()


# --- the plans -------------------------------------------------------------------------------


def _statements(svc: Chamados, call: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    event.listen(svc.unit.db, "before_cursor_execute", before)
    try:
        call()
    finally:
        event.remove(svc.unit.db, "before_cursor_execute", before)
    return seen


def _plan(svc: Chamados, statement: str, parameters: Any) -> str:
    with svc.unit.db.connect() as conn:
        if svc.unit.db.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(r[-1]) for r in rows)
        # A test database is tiny: a sequential scan and a sort would be cheapest. With
        # them off, a plan without a Sort node proves an index gives the order.
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        conn.rollback()
        return "\n".join(str(r[0]) for r in rows)


def test_each_list_is_served_by_its_index(world: World) -> None:
    svc = world.svc
    walked = listing.ListRequest(listing.CHAMADOS, "todos", 4)
    cursor = svc.requests.my_chamados(world.maria, walked).next_cursor
    assert cursor
    cases = {
        "ix_chamados_requester_open": lambda: svc.requests.my_chamados(world.maria),
        "ix_chamados_requester_closed": lambda: svc.requests.my_chamados(
            world.maria, listing.ListRequest(listing.CHAMADOS, "encerrados")
        ),
        "ix_chamados_requester_list": lambda: svc.requests.my_chamados(
            world.maria, listing.parse_request(listing.CHAMADOS, cursor=cursor)
        ),
        # Over all of an analyst's groups at once: no sort of their ready tasks.
        "ix_human_tasks_assignee": lambda: svc.requests.my_tasks(world.ana),
        # One group: the queue's index has it in order too; either will do.
        "ix_human_tasks_": lambda: svc.requests.my_tasks(world.maria),
    }
    for index, call in cases.items():
        statements = _statements(svc, call)
        page = next(s for s in statements if "ORDER BY" in s[0] and "count(" not in s[0])
        plan = _plan(svc, *page)
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
        for counted in (s for s in statements if "count(" in s[0]):
            plan = _plan(svc, *counted)
            assert "ix_chamados_requester_open" in plan, plan
            assert "ix_chamados_requester_closed" in plan, plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    # The keyset condition is an index condition, not a filter over the requester's rows.
    statements = _statements(svc, cases["ix_chamados_requester_list"])
    page = next(s for s in statements if "ORDER BY" in s[0] and "count(" not in s[0])
    plan = _plan(svc, *page)
    if svc.unit.db.dialect.name == "sqlite":
        # SQLite shows the first column of the row value as the range; ties are rechecked.
        assert re.search(
            r"ix_chamados_requester_list \(requester_id=\? AND created_at<\?\)", plan
        ), plan
    else:
        assert re.search(r"Index Cond: .*requester_id = .*ROW\(created_at, id\) <", plan), plan


def test_pages_bind_statements_built_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a statement costs about as much as running it: after the first page of
    each shape, pages (any cursor, any owner) only bind values."""
    svc = world.svc
    first = svc.requests.my_chamados(world.maria, listing.ListRequest(listing.CHAMADOS, "todos", 2))
    svc.requests.my_tasks(world.maria)
    assert first.next_cursor is not None
    after = listing.decode_cursor(first.next_cursor)
    svc.requests.my_chamados(world.maria, listing.ListRequest(listing.CHAMADOS, "todos", 2, after))

    def no_new_statement(*_a: object, **_k: object) -> None:
        raise AssertionError("um comando SQL construído por requisição")

    monkeypatch.setattr(listing, "select", no_new_statement)
    monkeypatch.setattr(listing, "tuple_", no_new_statement)
    again = svc.requests.my_chamados(
        world.joao, listing.ListRequest(listing.CHAMADOS, "todos", 2, after)
    )
    assert svc.requests.my_tasks(world.joao).items
    assert again.counts
