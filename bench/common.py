"""What every benchmark shares: throwaway databases, people and tokens, the product's
server (``chamados serve``) on a free local port, /proc readings (CPU time, RSS), tables,
verdicts and the JSON summary in bench/results/latest.json.

Nothing here is product code: the benchmarks drive the product only through its
public entry points (engine use cases, ``chamados serve``, the REST API, the pages).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "latest.json"
VENV_BIN = Path(sys.executable).parent
# The superuser role of the local PostgreSQL; each run creates and drops its own database.
PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://chamados:chamados@127.0.0.1/postgres"
)
# Never contacted: the API authenticates with bearer tokens and the page with a signed
# session cookie. A closed port proves it (a discovery call would fail loudly).
UNREACHABLE_OIDC = "http://127.0.0.1:9"
SECRET_KEY = "bench-" + uuid.uuid4().hex

MARIA = "39053344705"
ANA = "11144477735"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- output ----------------------------------------------------------------------------------


def title(text: str) -> None:
    print()
    print("=" * len(text))
    print(text)
    print("=" * len(text), flush=True)


def note(text: str) -> None:
    print(f"  {text}", flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        line = "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        print("  " + line)
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}".replace(",", " ") if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    return str(value)


def verdict(met: bool, target: str, why: str = "") -> dict[str, Any]:
    """Prints and returns the verdict line of one target."""
    if met:
        line = f"META ATINGIDA: {target}"
    else:
        line = f"META NÃO ATINGIDA: {target}" + (f" — {why}" if why else "")
    print(f"  >> {line}", flush=True)
    return {"target": target, "met": met, "line": line}


def fmt(n: int) -> str:
    """12 345 (a space between thousands, as in pt-BR typesetting)."""
    return f"{n:,}".replace(",", " ")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def save_results(section: str, data: dict[str, Any]) -> None:
    """Merge one benchmark's figures into bench/results/latest.json."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    current: dict[str, Any] = {}
    if RESULTS.exists():
        with contextlib.suppress(ValueError):
            current = json.loads(RESULTS.read_text("utf-8"))
    current.setdefault("meta", {}).update(
        {"updated_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
    )
    current[section] = data
    RESULTS.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n", "utf-8")


# --- /proc -----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"VmRSS not found for {pid}")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(found)


# --- databases -------------------------------------------------------------------------------


@dataclass
class TempDatabase:
    """A throwaway database: a SQLite file in a temp dir, or a PostgreSQL database
    created on the local server and dropped (WITH FORCE) at the end."""

    kind: str  # "sqlite" | "postgresql"
    workdir: Path
    url: str = ""
    _pg_name: str | None = None
    # PostgreSQL only: a fixed name makes the database outlive the run (no DROP at the
    # end) and a later run with the same name finds it again (``reused`` says so): a
    # benchmark whose load takes minutes can be repeated without loading it again.
    keep_as: str | None = None
    reused: bool = False

    def __enter__(self) -> TempDatabase:
        if self.kind == "sqlite":
            self.url = f"sqlite:///{self.workdir / f'bench-{uuid.uuid4().hex[:8]}.sqlite3'}"
        else:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            self._pg_name = self.keep_as or f"chamados_bench_{uuid.uuid4().hex[:12]}"
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    self.reused = bool(
                        self.keep_as
                        and conn.execute(
                            text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": self._pg_name},
                        ).scalar()
                    )
                    if not self.reused:
                        conn.execute(text(f'CREATE DATABASE "{self._pg_name}"'))
            finally:
                admin.dispose()
            self.url = (
                make_url(PG_ADMIN_URL)
                .set(database=self._pg_name)
                .render_as_string(hide_password=False)
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pg_name and not self.keep_as:
            drop_postgres_database(self._pg_name)


def drop_postgres_database(name: str) -> None:
    """Drop one benchmark database (WITH FORCE: its pooled connections too), if present."""
    if name:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def postgres_available() -> str | None:
    """None when the local PostgreSQL answers; else why not."""
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
        try:
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            admin.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return None


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"chamados-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- the product, in-process -----------------------------------------------------------------


def make_service(url: str, instance_dir: Path) -> Any:
    """A migrated, seeded database (``Chamados.init_database``) and its service."""
    from engine.service import Chamados
    from engine.settings import Settings

    settings = Settings.from_env(env={}, instance_dir=instance_dir)
    settings = Settings(**{**settings.__dict__, "database_url": url})
    svc = Chamados.from_settings(settings)
    svc.init_database()
    return svc


@dataclass(frozen=True)
class Person:
    id: int
    cpf: str
    roles: frozenset[str]
    token: str

    @property
    def actor(self) -> Any:
        from engine.service import ActorRef

        return ActorRef(self.id, self.roles)

    def signed_in(self, svc: Any) -> Any:
        """The actor as a request's authentication gives it to the use cases: the person
        with roles and the groups' revision (engine.users.Principal), so staff use cases
        take the person's groups from the process's copy, as in production."""
        from engine import users

        return svc.unit.read_one(lambda conn: users.principal(conn, self.id))


def add_person(svc: Any, cpf: str, name: str, *roles: str) -> Person:
    """A person (engine.users) with roles and an API token (engine.tokens)."""
    from engine import tokens, users
    from engine.identity import Identity

    with svc.unit.transaction() as session:
        user = users.upsert_user(
            session, Identity(cpf=cpf, name=name, email=f"{cpf}@example.gov.br")
        )
        for role in roles:
            users.grant_role(session, cpf, role, None)
        plaintext, _row = tokens.create_token(session, user.id, "benchmark", user.id, svc.clock())
        return Person(user.id, cpf, frozenset(roles), plaintext)


def client_pairs(svc: Any, clients: int, first: int) -> list[tuple[Person, Person]]:
    """One requester and one analyst per simulated client; CPFs from ``first`` and
    ``first + 100_000`` on, so each benchmark's people stay apart."""
    return [
        (
            add_person(svc, cpf_from(first + i), f"Solicitante {i}"),
            add_person(svc, cpf_from(first + 100_000 + i), f"Analista {i}", "analyst"),
        )
        for i in range(clients)
    ]


def cpf_from(n: int) -> str:
    """A valid CPF (check digits computed) from a 9-digit base."""
    base = [int(d) for d in f"{n % 10**9:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(base, range(length + 1, 1, -1), strict=True))
        digit = (total * 10) % 11
        base.append(0 if digit == 10 else digit)
    return "".join(map(str, base))


INSS = 1934  # SIORG code, in data/orgaos_federais_siorg.csv


def registration(**overrides: Any) -> dict[str, Any]:
    """Valid form data of 'Registrar chamado': the same as registration() in
    tests/test_engine_lifecycle.py (copied, so a benchmark never imports the test suite)."""
    data: dict[str, Any] = {
        "solicitante_nome": "Maria da Silva",
        "solicitante_email": "39053344705@example.gov.br",
        "telefone": "(61) 99999-9999",
        "email_institucional": "maria@inss.gov.br",
        "orgao": INSS,
        "nome_servico": "Aposentadoria por idade",
        "objetivo": "erro",
        "confirmo_dados": True,
        "tipo_solicitante": "analista_servico",
        "tipo_problema": "erro_api",
        "alcance_defeito": "alguns_protocolos",
        "detalhamento": "A API de consulta devolve erro 500 para protocolos antigos.",
        "protocolos": [{"numero": "23037.001462/2021-65"}, {"numero": "123456"}],
        "observacoes": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


ADJUST_REQUEST = {"decisao": "ajuste", "ajuste_solicitado": "Informe o erro exato, por favor."}
RESOLVE = {"decisao": "resolver", "resposta": "Corrigimos a integração."}
ADJUSTED_TEXT = "Erro 500 (NullPointerException) ao consultar protocolos de 2021."


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """``chamados serve`` (granian, one request at a time per worker) on 127.0.0.1:<free port>."""

    database_url: str
    instance_dir: Path
    workers: int = 2
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Passed to ``chamados serve`` (e.g. --threads 4), which passes what it does not know to
    # granian.
    extra_args: list[str] = field(default_factory=list)
    # The tree whose code serves (bench/compare.py runs another commit's checkout).
    root: Path = ROOT

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> None:
        self.port = free_port()
        self.log_path = self.instance_dir / f"server-{self.port}.log"
        env = {
            **os.environ,
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": self.database_url,
            "OIDC_ISSUER": UNREACHABLE_OIDC,
            "INSTANCE_DIR": str(self.instance_dir),
            "APP_BASE_URL": f"http://127.0.0.1:{self.port}",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("CHAMADOS_SCHEDULER", None)  # no background jobs in the measured workers
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                # ``chamados serve``, run so that the code is the root's own (the console
                # script would import the installed checkout's).
                str(VENV_BIN / "python"),
                "-m",
                "web.cli",
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                *self.extra_args,
            ],
            cwd=self.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"o servidor saiu ({self.proc.returncode}):\n{self.tail()}")
            try:
                status, _body = request("GET", self.port, "/healthz", timeout=2)
                if status == 200 and len(self.worker_pids()) == self.workers:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"o servidor não respondeu em {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        return children(self.proc.pid)

    def cpu(self) -> float:
        """CPU seconds of the workers (the master only supervises)."""
        return sum(cpu_seconds(p) for p in self.worker_pids())

    def tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def git(*args: str) -> str:
    """``git <args>`` in this checkout; its output."""
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def worktree(rev: str, path: Path) -> Iterator[Path]:
    """Commit ``rev`` checked out at ``path`` (``git worktree``) while the block runs: the
    other side of a comparison (bench.compare, bench.instructions)."""
    git("worktree", "add", "--detach", str(path), rev)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A side process of a benchmark (scheduler, SMTP sink), its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ends a side process: SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def scheduler(url: str, instance: Path, smtp_port: int, **settings: str) -> subprocess.Popen[bytes]:
    """``chamados scheduler`` delivering to an SMTP server on 127.0.0.1:``smtp_port``, run as
    ``python -m web.cli`` (this tree's code, as Server), ``settings`` added to its
    environment (e.g. MAIL_SENDERS)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": SECRET_KEY,
        "OIDC_ISSUER": UNREACHABLE_OIDC,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    return spawn(
        [str(VENV_BIN / "python"), "-m", "web.cli", "scheduler"], env, instance / "scheduler.log"
    )


# --- HTTP client -----------------------------------------------------------------------------


def request(
    method: str,
    port: int,
    path: str,
    body: Any = None,
    token: str | None = None,
    cookie: str | None = None,
    timeout: float = 60.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on a fresh connection (a new client each time: the worst case, every
    request pays its connection)."""
    headers = {"Connection": "close", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class HttpError(RuntimeError):
    pass


Transport = Any  # (method, path, body, token) -> (status, body bytes)


class ApiClient:
    """Calls the REST API and records each call's latency under a label. Over HTTP to
    a port, or through any other ``transport`` (the profiler uses Flask's test client)."""

    def __init__(self, port: int = 0, transport: Transport | None = None) -> None:
        self.port = port
        self.transport = transport or self._http
        self.latencies: dict[str, list[float]] = {}
        self.calls = 0
        # With a live count_sql counter: SQL statements issued by each call, by label.
        self.sql_counter: dict[str, int] | None = None
        self.sql: dict[str, list[int]] = {}

    def _http(self, method: str, path: str, body: Any, token: str) -> tuple[int, bytes]:
        return request(method, self.port, path, body, token=token)

    def call(
        self, label: str, method: str, path: str, token: str, body: Any = None, expect: int = 200
    ) -> Any:
        started = time.perf_counter()
        before = self.sql_counter["statements"] if self.sql_counter else 0
        status, raw = self.transport(method, f"/api/v1{path}", body, token)
        self.latencies.setdefault(label, []).append(time.perf_counter() - started)
        if self.sql_counter:
            self.sql.setdefault(label, []).append(self.sql_counter["statements"] - before)
        self.calls += 1
        if status != expect:
            raise HttpError(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else None


def api_lifecycle(api: ApiClient, maria: Person, ana: Person) -> None:
    """The full chamado over the REST API, the way an integration would drive it:

    requester: create (201, returns the task), submit;
    analyst: queue (find it), claim, submit "ajuste";
    requester: read the ticket (finds the adjustment task), submit the adjusted form;
    analyst: queue, claim, submit "resolver".  Ten calls.
    """
    started = api.call("criar", "POST", "/processes/chamado/instances", maria.token, expect=201)
    cid, task = started["chamado"]["id"], started["task"]["id"]
    version = started["chamado"]["version"]
    sent = api.call(
        "enviar",
        "POST",
        f"/tasks/{task}/submit",
        maria.token,
        {"data": registration(), "version": version},
    )
    version = sent["chamado"]["version"]
    version = _analyse(api, ana, cid, version, ADJUST_REQUEST, "aguardando_ajuste")
    view = api.call("acompanhar", "GET", f"/chamados/{cid}", maria.token)
    task = view["open_tasks"][0]["id"]
    sent = api.call(
        "reenviar",
        "POST",
        f"/tasks/{task}/submit",
        maria.token,
        {"data": registration(detalhamento=ADJUSTED_TEXT), "version": view["chamado"]["version"]},
    )
    _analyse(api, ana, cid, sent["chamado"]["version"], RESOLVE, "resolvido")


def _analyse(
    api: ApiClient, ana: Person, cid: int, version: int, decision: dict[str, Any], expect: str
) -> int:
    page = api.call("fila", "GET", "/queue?view=disponiveis", ana.token)
    task = next((i["task"]["id"] for i in page["items"] if i["chamado"]["id"] == cid), None)
    if task is None:
        raise HttpError(f"chamado {cid} não está na primeira página da fila")
    api.call("assumir", "POST", f"/tasks/{task}/claim", ana.token, expect=204)
    done = api.call(
        "decidir",
        "POST",
        f"/tasks/{task}/submit",
        ana.token,
        {"data": decision, "version": version},
    )
    if done["chamado"]["status"] != expect:
        raise HttpError(f"chamado {cid}: status {done['chamado']['status']}, esperado {expect}")
    return int(done["chamado"]["version"])


# --- profiling -------------------------------------------------------------------------------

_CATEGORIES = (
    ("sqlalchemy", "SQLAlchemy"),
    ("SpiffWorkflow", "SpiffWorkflow"),
    ("jsonschema", "jsonschema"),
    ("referencing", "jsonschema"),
    ("rpds", "jsonschema"),
    ("jinja2", "Jinja2/MarkupSafe"),
    ("markupsafe", "Jinja2/MarkupSafe"),
    ("werkzeug", "Flask/Werkzeug"),
    ("flask", "Flask/Werkzeug"),
    ("prometheus_client", "prometheus_client"),
    ("psycopg", "psycopg (driver)"),
    ("/logging/", "logging (stdlib)"),
    ("/json/", "json (stdlib)"),
    ("/copy.py", "copy (stdlib)"),
    ("/uuid.py", "uuid (stdlib)"),
)
# The product's own files, wherever this checkout is (CI's, a benchmark clone's).
_PRODUCT = ROOT.as_posix() + "/"


def _category(filename: str, funcname: str) -> str:
    path = filename.replace("\\", "/")
    if path == "~":  # built-ins: tell the database drivers and I/O apart
        if "sqlite3" in funcname:
            return "sqlite3 (C)"
        if "psycopg" in funcname or "pq" in funcname:
            return "psycopg (driver)"
        if "socket" in funcname or "select" in funcname or "write" in funcname:
            return "I/O (C)"
        return "built-ins (C)"
    if path.startswith(_PRODUCT + "engine/"):
        return "engine/ (produto)"
    if path.startswith(_PRODUCT + "web/"):
        return "web/ (produto)"
    for needle, name in _CATEGORIES:
        if needle in path:
            return name
    if "/bench/" in path:
        return "bench (cliente)"
    return "outros"


def profile_report(
    profiler: Any,
    per: int,
    unit: str,
    real_ms: float | None = None,
    top: int = 25,
    show: Sequence[str] = ("libraries", "product", "own"),
) -> dict[str, Any]:
    """Prints where the time goes: by library (own time) and the product's functions
    (cumulative), as shares of the profiled time and, when ``real_ms`` (the measured
    time of one ``unit`` without the profiler) is given, in estimated ms per ``unit``:
    cProfile inflates absolute times, the shares hold. The benchmarks profile with
    ``cProfile.Profile(time.process_time)``: CPU time, so waiting on the database
    server or on locks is not counted as the driver's."""
    import pstats

    stats = pstats.Stats(profiler)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1e-9
    # profiled seconds -> estimated real ms per unit
    scale = (real_ms / (total * 1000 / per)) if real_ms else 1.0
    est = f"ms/{unit}" + (" (estim.)" if real_ms else " (c/ perfil)")

    def ms(seconds: float) -> float:
        return seconds * 1000 / per * scale

    by_cat: dict[str, float] = {}
    for (filename, _line, funcname), (_cc, _nc, tt, _ct, _callers) in raw.items():
        key = _category(filename, funcname)
        by_cat[key] = by_cat.get(key, 0.0) + tt
    cats = sorted(by_cat.items(), key=lambda kv: -kv[1])
    cols = ["%", est] if real_ms else ["%"]

    def cut(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row if real_ms else row[:-1]

    if "libraries" in show:
        print(f"\n  Tempo próprio por biblioteca (cProfile; {per} {unit}s):")
        table(
            ["biblioteca", *cols],
            [cut((k, 100 * v / total, ms(v))) for k, v in cats if v / total >= 0.005],
        )
    product = []
    for (filename, line, funcname), (_cc, nc, _tt, ct, _callers) in raw.items():
        path = filename.replace("\\", "/")
        if path.startswith((_PRODUCT + "engine/", _PRODUCT + "web/")):
            short = path.removeprefix(_PRODUCT)
            product.append((f"{short}:{line} {funcname}", nc / per, 100 * ct / total, ms(ct)))
    product.sort(key=lambda r: -r[2])
    if "product" in show:
        print(f"\n  Funções do produto por tempo acumulado (inclui o que chamam), por {unit}:")
        table(["função", f"chamadas/{unit}", *cols], [cut(r) for r in product[:top]])
    hot = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    rows = []
    for (filename, line, funcname), (_cc, nc, tt, _ct, _callers) in hot:
        short = filename.replace("\\", "/")
        for marker in ("site-packages/", _PRODUCT, "/lib/python3.11/"):
            if marker in short:
                short = short.split(marker, 1)[1]
                break
        rows.append((f"{short}:{line} {funcname}"[:90], nc / per, 100 * tt / total, ms(tt)))
    if "own" in show:
        print(f"\n  Funções com mais tempo próprio, por {unit}:")
        table(["função", f"chamadas/{unit}", *cols], [cut(r) for r in rows])
    return {
        "unit": unit,
        "estimated_real_ms": bool(real_ms),
        "by_library": {
            k: {"pct": round(100 * v / total, 2), "ms": round(ms(v), 3)} for k, v in cats
        },
        "product_cumulative": [
            {"function": f, "calls": round(c, 2), "pct": round(p, 2), "ms": round(m, 3)}
            for f, c, p, m in product[:top]
        ],
        "own_time": [
            {"function": f, "calls": round(c, 2), "pct": round(p, 2), "ms": round(m, 3)}
            for f, c, p, m in rows
        ],
    }


@contextlib.contextmanager
def count_sql(db_engine: Any) -> Iterator[dict[str, int]]:
    """Counts SQL statements, commits and connection checkouts on an SQLAlchemy engine."""
    from sqlalchemy import event

    counts = {"statements": 0, "commits": 0, "checkouts": 0}

    def on_execute(*_a: Any, **_k: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_a: Any, **_k: Any) -> None:
        counts["commits"] += 1

    def on_checkout(*_a: Any, **_k: Any) -> None:
        counts["checkouts"] += 1

    event.listen(db_engine, "before_cursor_execute", on_execute)
    event.listen(db_engine, "commit", on_commit)
    event.listen(db_engine.pool, "checkout", on_checkout)
    try:
        yield counts
    finally:
        event.remove(db_engine, "before_cursor_execute", on_execute)
        event.remove(db_engine, "commit", on_commit)
        event.remove(db_engine.pool, "checkout", on_checkout)


# --- the product, in-process over WSGI (for profiling) ----------------------------------------


@contextlib.contextmanager
def inprocess_app(database_url: str, instance_dir: Path) -> Iterator[Any]:
    """The Flask app as the server's workers build it (create_app), in this process.

    Its JSON request logs are formatted as in production but written to /dev/null.
    """
    from web import create_app
    from web.observability import install_json_logging

    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the logging handler
    install_json_logging(sink)
    saved = os.environ.get("INSTANCE_DIR")
    os.environ["INSTANCE_DIR"] = str(instance_dir)
    try:
        app = create_app(
            {
                "DATABASE_URL": database_url,
                "SECRET_KEY": SECRET_KEY,
                "OIDC_ISSUER": UNREACHABLE_OIDC,
                "APP_BASE_URL": "http://127.0.0.1:5000",
            }
        )
    finally:
        if saved is None:
            os.environ.pop("INSTANCE_DIR", None)
        else:
            os.environ["INSTANCE_DIR"] = saved
    try:
        yield app
    finally:
        app.extensions["chamados"].unit.db.dispose()


def flask_transport(client: Any) -> Transport:
    def send(method: str, path: str, body: Any, token: str) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = client.open(path, method=method, json=body, headers=headers)
        return resp.status_code, resp.get_data()

    return send


@dataclass
class DriveResult:
    done: int = 0
    wall: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def drive_lifecycles(
    port: int, people: Sequence[tuple[Person, Person]], per_client: int, deadline: float
) -> DriveResult:
    """``per_client`` API lifecycles by each (requester, analyst) pair, all pairs at once,
    each in its own thread; stops early at ``deadline`` (time.monotonic) or on an error."""
    import threading

    result = DriveResult()
    lock = threading.Lock()

    def client(maria: Person, ana: Person) -> None:
        api = ApiClient(port)
        done, error = 0, None
        try:
            for _ in range(per_client):
                if time.monotonic() > deadline:
                    break
                api_lifecycle(api, maria, ana)
                done += 1
        except Exception as exc:  # noqa: BLE001 - reported; the caller marks the run invalid
            error = f"{type(exc).__name__}: {exc}"
        with lock:
            result.done += done
            for label, values in api.latencies.items():
                result.latencies.setdefault(label, []).extend(values)
            if error:
                result.errors.append(error)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=pair) for pair in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - started
    return result


# --- attribution by instrumentation (no profiler bias) ----------------------------------------


class Attribution:
    """CPU time (time.process_time) split into categories by wrapping chosen functions.

    Each wrapped call is a frame on a stack; a frame's *exclusive* time (its time less
    that of the wrapped calls and SQL statements inside it) goes to its category, so the
    categories add up to the outermost frames' total. SQL statements (cursor execute)
    are a category of their own: the database driver's CPU in this process (for SQLite,
    the database engine itself; for PostgreSQL only the client side).

    Unlike cProfile, which slows every Python call and so inflates code made of many
    small calls (the ORM, templates) against C calls (the driver), a few dozen wrappers
    per lifecycle cost almost nothing.
    """

    def __init__(self) -> None:
        self.exclusive: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[Any]] = []  # [label, start, child_time]
        self._patches: list[tuple[Any, str, Any]] = []
        self._sql_listeners: list[tuple[Any, str, Any]] = []

    def push(self, label: str) -> None:
        self._stack.append([label, time.process_time(), 0.0])

    def pop(self) -> None:
        label, start, child = self._stack.pop()
        elapsed = time.process_time() - start
        self.exclusive[label] = self.exclusive.get(label, 0.0) + elapsed - child
        self.calls[label] = self.calls.get(label, 0) + 1
        if self._stack:
            self._stack[-1][2] += elapsed

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.push(label)
            try:
                return original(*args, **kwargs)
            finally:
                self.pop()

        setattr(owner, name, wrapper)
        self._patches.append((owner, name, original))

    def watch_sql(self, db_engine: Any, label: str = "SQL: driver (execute)") -> None:
        from sqlalchemy import event

        inside: list[bool] = []  # statements outside any wrapped call are not counted

        def before(*_a: Any, **_k: Any) -> None:
            inside.append(bool(self._stack))
            if inside[-1]:
                self.push(label)

        def after(*_a: Any, **_k: Any) -> None:
            if inside.pop():
                self.pop()

        for name, fn in (("before_cursor_execute", before), ("after_cursor_execute", after)):
            event.listen(db_engine, name, fn)
            self._sql_listeners.append((db_engine, name, fn))

    def wrap_orm(self) -> None:
        """The ORM's own work, split: queries, flushes, commits (Session, class-wide)."""
        from sqlalchemy.orm import Session

        self.wrap(Session, "_execute_internal", "ORM: consultas (compilar, executar, objetos)")
        self.wrap(Session, "get", "ORM: consultas (compilar, executar, objetos)")
        self.wrap(Session, "flush", "ORM: flush (unit of work, INSERT/UPDATE)")
        self.wrap(Session, "commit", "ORM: commit")

    def wrap_core(self) -> None:
        """Core statements run outside the ORM, and the commits (class-wide)."""
        from sqlalchemy.engine import Connection
        from sqlalchemy.orm.session import SessionTransaction

        self.wrap(Connection, "execute", "SQLAlchemy Core: execute (fora do ORM)")
        self.wrap(SessionTransaction, "commit", "commit (sessão + banco)")

    def restore(self) -> None:
        from sqlalchemy import event

        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        for db_engine, name, fn in self._sql_listeners:
            event.remove(db_engine, name, fn)
        self._patches.clear()
        self._sql_listeners.clear()

    def report(self, per: int, unit: str, reference_ms: float | None = None) -> dict[str, Any]:
        """Prints the categories in ms per ``unit`` and returns them."""
        total = sum(self.exclusive.values()) or 1e-9
        rows = sorted(self.exclusive.items(), key=lambda kv: -kv[1])
        table(
            ["categoria (tempo exclusivo de CPU)", f"ms/{unit}", "%", f"chamadas/{unit}"],
            [
                (label, v * 1000 / per, 100 * v / total, self.calls.get(label, 0) / per)
                for label, v in rows
            ],
        )
        if reference_ms is not None:
            note(
                f"soma instrumentada: {total * 1000 / per:.1f} ms/{unit}; "
                f"CPU medida sem instrumentos: {reference_ms:.1f} ms/{unit}."
            )
        return {
            "ms": {label: v * 1000 / per for label, v in rows},
            "calls": {label: self.calls.get(label, 0) / per for label, _ in rows},
            "total_ms": total * 1000 / per,
        }
