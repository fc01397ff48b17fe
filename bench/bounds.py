"""5. Hostile input: the worst requests a requester can send, side by side with a normal one.

Each case is one request to the app (create_app, in process over WSGI, on SQLite) by a
requester with an API token, or with the session cookie for the pages:

- envio normal: a valid registration (2 protocols), accepted: the reference;
- envio com 200 protocolos: the largest table the form accepts, accepted;
- 200 protocolos, o último repetido: uniqueItems over the largest table, refused;
- envio com 10.000 protocolos: the ~220 KB submit of issue #13 (a minute of quadratic
  uniqueItems, then a 500, before the bounds), refused with a field message;
- textos no limite e além: 10,001 characters in a field without maxLength, plus one over
  its maxLength, plus a NUL, refused;
- JSON aninhado: 5,000 levels, refused while parsing;
- corpo de 255 KB: a draft just under the operation's limit (256 KB), saved;
- corpo de 300 KB: past it, refused (413) before it is read;
- página com rascunho de 1.000 linhas: the wizard's table step drawn from a draft holding
  the most rows a draft keeps (engine.limits.MAX_DRAFT_ITEMS; 10,000 rows took ~300 ms);
- página com 10.000 linhas postadas: the same table posted to the page as the browser
  does (multipart, the page uploads files: 40 MB allowed), refused (413) at the form's
  1,000th field.

All cases run in one loop, interleaved (the order rotates each round), so the machine's
noise hits them alike; what is judged is each request's CPU time (process time of this
process: the app runs in it) and its ratio to the normal submit. Target: no case above
300 ms of CPU ("a few hundred milliseconds").

    python -m bench.bounds [--rounds 15] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import common
from bench.common import median, note, percentile, registration, table, title, verdict
from engine.service import Identity
from web.auth import SESSION_KEY

TARGET_CPU_MS = 300.0
ROWS = [{"numero": str(100000 + i)} for i in range(10_000)]
DRAFT_ROWS = ROWS[:1000]  # the most a draft keeps (engine.limits.MAX_DRAFT_ITEMS)


@dataclass
class Case:
    label: str
    expected: int
    # Returns (method, path, kwargs for the test client); runs untimed before each request.
    prepare: Callable[[], tuple[str, str, dict[str, Any]]]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    size: int = 0


class Bench:
    def __init__(self, app: Any, maria: common.Person) -> None:
        self.app = app
        self.maria = maria
        self.api = app.test_client()
        self.page = app.test_client()
        # A server-side login session, as the login callback opens (engine.sessions).
        _user, token = app.extensions["chamados"].sessions.log_in(
            Identity(cpf=maria.cpf, name="Maria da Silva"), "benchmark"
        )
        with self.page.session_transaction() as session:
            session[SESSION_KEY] = token
        self.auth = {"Authorization": f"Bearer {maria.token}"}
        # One task for every refused request (a refusal changes nothing), one with a
        # 10,000-row draft for the page, and a new one per accepted submission.
        self.refused_task, self.refused_version = self.new_task()
        self.page_task, _ = self.new_task()
        draft_url = f"/api/v1/tasks/{self.page_task}/draft"
        self.call("PUT", draft_url, {"data": {"protocolos": DRAFT_ROWS}})
        # More is refused (422), so no page ever draws 10,000 rows.
        self.call("PUT", draft_url, {"data": {"protocolos": ROWS}}, 422)

    def call(self, method: str, path: str, body: Any, expected: int = 204) -> Any:
        resp = self.api.open(path, method=method, json=body, headers=self.auth)
        assert resp.status_code == expected, (path, resp.status_code, resp.get_data()[:300])
        return resp.get_json(silent=True)

    def new_task(self) -> tuple[int, int]:
        started = self.call("POST", "/api/v1/processes/chamado/instances", None, 201)
        task_id = started["task"]["id"]
        return task_id, started["chamado"]["version"]

    def json_call(self, method: str, path: str, raw: str) -> tuple[str, str, dict[str, Any]]:
        headers = {**self.auth, "Content-Type": "application/json"}
        return method, path, {"data": raw, "headers": headers, "_client": self.api}

    def submit(self, data: dict[str, Any], fresh: bool) -> tuple[str, str, dict[str, Any]]:
        task_id, version = self.new_task() if fresh else (self.refused_task, self.refused_version)
        body = json.dumps({"data": data, "version": version})
        return self.json_call("POST", f"/api/v1/tasks/{task_id}/submit", body)

    def cases(self) -> list[Case]:
        rows_200 = [{"numero": str(200000 + i)} for i in range(200)]
        repeated = [*rows_200[:199], rows_200[0]]
        long_texts = registration(
            solicitante_nome="N" * 10_001, detalhamento="x" * 5_001, nome_servico="Serv\x00iço"
        )
        deep = '{"data": {"observacoes": ' + "[" * 5000 + "]" * 5000 + "}}"
        draft_url = f"/api/v1/tasks/{self.refused_task}/draft"
        near_limit = json.dumps({"data": {"observacoes": "x" * (255 * 1024 - 64)}})
        past_limit = json.dumps({"data": {"observacoes": "x" * (300 * 1024)}})
        page_url = f"/tarefas/{self.page_task}"
        posted_rows = {f"protocolos__{i}__numero": r["numero"] for i, r in enumerate(ROWS)}

        def page_post() -> tuple[str, str, dict[str, Any]]:
            # The page's CSRF token (it belongs to this client's session), read untimed.
            html = self.page.get(page_url).get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', html)
            assert token is not None
            form = {"csrf_token": token.group(1), "_step": "protocolos", "_action": "next"}
            return "POST", page_url, {"data": {**form, **posted_rows}, "_client": self.page}

        return [
            Case("envio normal (aceito)", 200, lambda: self.submit(registration(), True)),
            Case(
                "envio com 200 protocolos (aceito)",
                200,
                lambda: self.submit(registration(protocolos=rows_200), True),
            ),
            Case(
                "200 protocolos, 1 repetido (422)",
                422,
                lambda: self.submit(registration(protocolos=repeated), False),
            ),
            Case(
                "envio com 10.000 protocolos (422)",
                422,
                lambda: self.submit(registration(protocolos=ROWS), False),
            ),
            Case("textos além do limite + NUL (422)", 422, lambda: self.submit(long_texts, False)),
            Case(
                "JSON com 5.000 níveis (400)", 400, lambda: self.json_call("PUT", draft_url, deep)
            ),
            Case(
                "rascunho de 255 KB (aceito)",
                204,
                lambda: self.json_call("PUT", draft_url, near_limit),
            ),
            Case(
                "corpo de 300 KB (413)", 413, lambda: self.json_call("PUT", draft_url, past_limit)
            ),
            Case(
                "página: rascunho com 1.000 linhas (o máximo)",
                200,
                lambda: ("GET", page_url + "?passo=protocolos", {"_client": self.page}),
            ),
            Case("página: 10.000 linhas postadas, multipart (413)", 413, page_post),
        ]


def _send(prepared: tuple[str, str, dict[str, Any]]) -> tuple[int, float, float, int]:
    method, path, kwargs = prepared
    client = kwargs.pop("_client")
    size = len(kwargs["data"]) if isinstance(kwargs.get("data"), str) else 0
    if isinstance(kwargs.get("data"), dict):
        # The wizard posts multipart (it uploads files): the larger limit, parsed field by
        # field until the 1,000-field cap.
        kwargs["content_type"] = "multipart/form-data"
    w0, c0 = time.perf_counter(), time.process_time()
    resp = client.open(path, method=method, **kwargs)
    resp.get_data()
    return resp.status_code, time.perf_counter() - w0, time.process_time() - c0, size


def run(rounds: int) -> dict[str, Any]:
    title("5. Entradas hostis: o pior pedido de um solicitante, lado a lado com um normal")
    with common.workdir("bounds") as tmp, common.TempDatabase("sqlite", tmp) as db:
        common.make_service(db.url, tmp).unit.dispose()  # migrated and seeded
        with common.inprocess_app(db.url, tmp) as app:
            svc = app.extensions["chamados"]
            maria = common.add_person(svc, common.MARIA, "Maria da Silva")
            bench = Bench(app, maria)
            cases = bench.cases()
            for case in cases:  # warm-up: caches, first compile of templates
                status, _w, _c, case.size = _send(case.prepare())
                assert status == case.expected, (case.label, status)
            for r in range(rounds):
                shift = r % len(cases)
                for case in cases[shift:] + cases[:shift]:
                    prepared = case.prepare()
                    status, wall, cpu, _size = _send(prepared)
                    assert status == case.expected, (case.label, status)
                    case.wall.append(wall)
                    case.cpu.append(cpu)
    base = median(cases[0].cpu)
    rows = [
        (
            c.label,
            f"{c.size // 1024} KB" if c.size else "",
            median(c.wall) * 1000,
            median(c.cpu) * 1000,
            percentile(c.cpu, 95) * 1000,
            median(c.cpu) / base,
        )
        for c in cases
    ]
    print()
    table(["pedido", "corpo", "ms (mediana)", "CPU ms", "CPU ms p95", "× normal"], rows)
    worst = max(cases, key=lambda c: median(c.cpu))
    worst_ms = median(worst.cpu) * 1000
    note(
        f"{rounds} rodadas intercaladas; CPU = tempo de processo (o app roda neste processo). "
        "Antes dos limites, o envio com 10.000 protocolos ocupava o worker por ~60 s e "
        "terminava em 500."
    )
    result: dict[str, Any] = {
        "rounds": rounds,
        "cases": {
            c.label: {
                "wall_ms_median": median(c.wall) * 1000,
                "cpu_ms_median": median(c.cpu) * 1000,
                "cpu_ms_p95": percentile(c.cpu, 95) * 1000,
                "ratio_to_normal": median(c.cpu) / base,
                "body_bytes": c.size,
            }
            for c in cases
        },
        "worst": worst.label,
    }
    result["verdict"] = verdict(
        worst_ms <= TARGET_CPU_MS,
        f"nenhum pedido hostil passa de {TARGET_CPU_MS:.0f} ms de CPU (pior: {worst.label}, "
        f"{worst_ms:.1f} ms, {median(worst.cpu) / base:.1f}× o envio normal)",
        "veja a tabela: o caso mais caro é o primeiro a limitar",
    )
    common.save_results("bounds", result)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 rodadas")
    args = parser.parse_args(argv)
    return run(5 if args.quick else args.rounds)


if __name__ == "__main__":
    main()
