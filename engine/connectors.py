"""Service tasks run through connectors, keyed by SpiffArena's operator names.

A SpiffArena service task names an operator (``spiffworkflow:serviceTaskOperator
id="http/GetRequestV2"``) and its parameters, each a Python expression evaluated in the
model's sandbox. SpiffArena sends them to a separate "connector proxy"; here the
registry below runs them in the process, with the platform's limits:

* **HTTP** (``http/GetRequest``, ``http/PostRequestV2``… as connector-http names them):
  only to hosts the operator of the platform allow-lists (``CONNECTOR_HTTP_ALLOWED_HOSTS``:
  ``api.exemplo.gov.br``, ``*.serpro.gov.br``, ``10.0.0.0/8``); an address in a private,
  loopback or link-local range is refused unless that address or its network is listed
  too, and the connection goes to the address that was checked (no second DNS answer
  between the check and the connect). One attempt, a total timeout, the response read up
  to a size limit, no redirect followed. The result, written to the task's result
  variable, is connector-http's version 2 response: ``{"body", "mimetype",
  "http_status"}``, the body parsed when it is JSON.
* **E-mail** (``smtp/SendEmail``, connector-smtp's parameters): the message joins the
  platform's outbox in the step's own transaction (engine.outbox: its relay, retries,
  retention), so it leaves only if the step is saved; the model's ``smtp_*`` and
  ``email_from`` are not used (the platform sends from ``MAIL_FROM``, through its relay).
  Up to 10 recipients, a one-line subject, a plain-text body.
* Any failure — a host not allowed, a timeout, a refused connection, a status of 300 or
  more, an invalid address — raises :class:`ConnectorFailed` with a pt-BR message: the
  step fails, the ticket gets a technical incident (engine.incidents) with that message,
  and nothing it did is saved. A connector never fails silently.

A call runs inside the step that reaches it, so it holds that ticket's transaction for
at most the timeout (10 s by default): on SQLite, other writers wait that long.

``problems`` is the deploy's side: an unknown operator or a missing required parameter
is refused on the element.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_RESPONSE_BYTES = 256 * 1024  # it is kept in the instance's data
MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0


class ConnectorFailed(Exception):
    """A service task's call did not succeed; ``str()`` is pt-BR, for the incident."""

    operator = ""  # set by ``call``


@dataclass(frozen=True)
class HttpPolicy:
    """Where the HTTP connector may go, and how long it may wait."""

    hosts: tuple[str, ...] = ()  # exact names, "*.suffix", IP addresses or networks
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_response_bytes: int = MAX_RESPONSE_BYTES
    networks: tuple[Network, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        networks = []
        for entry in self.hosts:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue
        object.__setattr__(self, "networks", tuple(networks))

    @classmethod
    def from_text(cls, hosts: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> HttpPolicy:
        entries = tuple(h.strip().lower() for h in hosts.replace(";", ",").split(",") if h.strip())
        return cls(hosts=entries, timeout=timeout)

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.hosts:
            if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
                return True
            if host == entry:
                return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def allows_address(self, address: Address) -> bool:
        """Public addresses pass; a private one only when listed (its network or itself)."""
        if address.is_global:
            return True
        return any(address in network for network in self.networks)


_policy = HttpPolicy()


def configure(policy: HttpPolicy) -> None:
    """The process's connector limits (engine.service installs the settings' policy)."""
    global _policy
    _policy = policy


def policy() -> HttpPolicy:
    return _policy


# --- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Connector:
    operator: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # (parameters, the instance's top workflow) -> the result variable's value
    run: Callable[[Mapping[str, Any], Any], dict[str, Any]]


def _http(method: str) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    return lambda params, _workflow: http_request(method, params, _policy)


_HTTP_PARAMS = ("headers", "params", "basic_auth_username", "basic_auth_password", "attempts")
REGISTRY: dict[str, Connector] = {}
for _method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
    _base = f"http/{_method.capitalize()}Request"
    _extra = ("data",) if _method in ("POST", "PUT", "PATCH") else ()
    for _name in (_base, f"{_base}V2"):
        REGISTRY[_name] = Connector(_name, ("url",), _HTTP_PARAMS + _extra, _http(_method))


REGISTRY["smtp/SendEmail"] = Connector(
    "smtp/SendEmail",
    ("email_to", "email_subject", "email_body"),
    ("email_from", "smtp_host", "smtp_port", "smtp_user", "smtp_password"),
    lambda params, workflow: queue_mail(params, workflow),
)


def problems(operator: str | None, parameters: Iterable[str]) -> list[str]:
    """What keeps a service task from running, in pt-BR (nothing: it runs)."""
    if not operator:
        return ["a tarefa de serviço não indica o conector (serviceTaskOperator)."]
    connector = REGISTRY.get(operator)
    if connector is None:
        known = ", ".join(sorted(name for name in REGISTRY if not name.endswith("Request")))
        return [
            f"o conector {operator!r} não existe na plataforma (há: {known}; e os http/ sem V2)."
        ]
    given = set(parameters)
    found = []
    missing = [name for name in connector.required if name not in given]
    if missing:
        found.append(f"o conector {operator} precisa do parâmetro {', '.join(missing)}.")
    unknown = sorted(given - set(connector.required) - set(connector.optional))
    if unknown:
        found.append(f"o conector {operator} não tem o parâmetro {', '.join(unknown)}.")
    return found


@dataclass(frozen=True)
class SimulatedCall:
    operator: str
    url: str


# "Executar teste" (engine.designer.sandbox) runs a draft with no effect outside it: while
# this holds a list, an HTTP call that could change something elsewhere (any method but GET
# and HEAD) is checked against the allow-list, recorded here and answered with an empty
# 200 instead of being made. Reads are made as in production; e-mail is only queued on
# the workflow (take_mail), which the test shows instead of sending.
_dry_run: ContextVar[list[SimulatedCall] | None] = ContextVar("connectors_dry_run", default=None)
_READS = ("http/GetRequest", "http/HeadRequest")


@contextmanager
def dry_run() -> Iterator[list[SimulatedCall]]:
    calls: list[SimulatedCall] = []
    token = _dry_run.set(calls)
    try:
        yield calls
    finally:
        _dry_run.reset(token)


def _simulated(operator: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    calls = _dry_run.get()
    if calls is None or not operator.startswith("http/") or operator.startswith(_READS):
        return None
    url = params.get("url")
    host = urlsplit(url).hostname if isinstance(url, str) else None
    if not host or not _policy.allows_host(host):
        return None  # refused as in production, by http_request
    calls.append(SimulatedCall(operator, str(url)[:500]))
    return {"body": None, "mimetype": None, "http_status": 200}


def call(operator: str, params: Mapping[str, Any], workflow: Any = None) -> dict[str, Any]:
    connector = REGISTRY.get(operator)
    try:
        if connector is None:  # checked at deploy; a version from before would land here
            raise ConnectorFailed("ele não existe na plataforma.")
        simulated = _simulated(operator, params)
        if simulated is not None:
            return simulated
        return connector.run(params, workflow)
    except ConnectorFailed as exc:
        exc.operator = operator
        raise


# --- HTTP ---------------------------------------------------------------------------------------


def _text_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConnectorFailed(f"o parâmetro {what} deve ser um dicionário.")
    return {str(k): str(v) for k, v in value.items()}


def _resolve(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ConnectorFailed(f"o endereço {host} não foi encontrado (DNS).") from exc
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever DNS says next."""

    # The socket as connected: http.client hands it to a response that closes the
    # connection and forgets it (``sock`` None) while the response is still read.
    opened: socket.socket | None = None

    def __init__(self, host: str, port: int, address: Address, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = str(address)

    def connect(self) -> None:
        self.sock = self.opened = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    opened: socket.socket | None = None  # as in _PinnedHTTPConnection

    def __init__(self, host: str, port: int, address: Address, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = str(address)

    def connect(self) -> None:
        # Known before the handshake, so that the deadline can end a slow one too.
        sock = self.opened = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the host name, not the address.
        self.sock = self.opened = self._tls.wrap_socket(sock, server_hostname=self.host)


def http_request(method: str, params: Mapping[str, Any], limits: HttpPolicy) -> dict[str, Any]:
    url = params.get("url")
    if not isinstance(url, str) or not url:
        raise ConnectorFailed("o parâmetro url deve ser um texto com o endereço.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectorFailed(f"o endereço {url!r} não é http:// nem https://.")
    if parts.username or parts.password:
        raise ConnectorFailed("o endereço não pode levar usuário e senha; use basic_auth_*.")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not limits.allows_host(host):
        raise ConnectorFailed(
            f"o servidor {host} não está na lista de servidores permitidos da plataforma "
            "(CONNECTOR_HTTP_ALLOWED_HOSTS)."
        )
    addresses = _resolve(host, port)
    refused = [a for a in addresses if not limits.allows_address(a)]
    if refused or not addresses:
        raise ConnectorFailed(
            f"o servidor {host} responde num endereço de rede interna ({refused[0]}) que "
            "não está na lista de permitidos."
            if refused
            else f"o endereço {host} não foi encontrado (DNS)."
        )
    headers = _text_map(params.get("headers"), "headers")
    query = _text_map(params.get("params"), "params")
    path = parts.path or "/"
    if parts.query or query:
        path += "?" + "&".join(p for p in (parts.query, urlencode(query)) if p)
    user, password = params.get("basic_auth_username"), params.get("basic_auth_password")
    if user is not None and password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    body: bytes | None = None
    if params.get("data") is not None:
        try:
            body = json.dumps(params["data"]).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ConnectorFailed("o parâmetro data não pode ser enviado como JSON.") from exc
        if len(body) > MAX_REQUEST_BYTES:
            raise ConnectorFailed(f"o corpo passa de {MAX_REQUEST_BYTES // 1024} KB.")
        headers.setdefault("Content-Type", "application/json")
    headers.setdefault("User-Agent", "Chamados-Plataforma/1 (conector http)")
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, addresses[0], limits.timeout)
    timed_out = f"{method} {host}: sem resposta em {limits.timeout:g} s (tempo esgotado)."
    # The socket's timeout bounds each read, not the call: a server that sends a byte
    # now and then would hold the step (and its transaction) for as long as it likes.
    # At the deadline the connection is shut down, which ends whatever read is waiting.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        if connection.opened is not None:
            with suppress(OSError):
                connection.opened.shutdown(socket.SHUT_RDWR)

    deadline = threading.Timer(limits.timeout, expire)
    deadline.daemon = True
    deadline.start()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(limits.max_response_bytes + 1)
    except TimeoutError as exc:
        raise ConnectorFailed(timed_out) from exc
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise ConnectorFailed(timed_out) from exc
        raise ConnectorFailed(f"{method} {host}: a conexão falhou ({type(exc).__name__}).") from exc
    except ValueError as exc:  # http.client: a header value with a line break, say
        raise ConnectorFailed(
            f"{method} {host}: um cabeçalho ou o endereço tem caracteres inválidos."
        ) from exc
    finally:
        deadline.cancel()
        connection.close()
    if expired.is_set():  # what arrived before the deadline is not the whole answer
        raise ConnectorFailed(timed_out)
    if len(raw) > limits.max_response_bytes:
        raise ConnectorFailed(
            f"{method} {host}: a resposta passa de {limits.max_response_bytes // 1024} KB."
        )
    mimetype = (response.getheader("Content-Type") or "").split(";", 1)[0].strip()
    if response.status >= 300:
        raise ConnectorFailed(f"{method} {host} respondeu {response.status} {response.reason}.")
    text = raw.decode("utf-8", errors="replace")
    parsed: Any = text
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            parsed = json.loads(text) if text else None
        except ValueError as exc:
            raise ConnectorFailed(f"{method} {host}: a resposta não é JSON válido.") from exc
    return {"body": parsed, "mimetype": mimetype, "http_status": response.status}


# --- e-mail -------------------------------------------------------------------------------------

MAX_RECIPIENTS = 10
MAX_SUBJECT = 200
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Mail:
    """A message a service task asked for, held until its step is saved."""

    to: tuple[str, ...]
    subject: str
    body: str


# Per instance (its top workflow object): what its current step queued. A failed step's
# workflow object is thrown away, and its mail with it.
_queued: weakref.WeakKeyDictionary[Any, list[Mail]] = weakref.WeakKeyDictionary()


def take_mail(workflow: Any) -> list[Mail]:
    """The mail the steps just run on ``workflow`` queued (once: it is handed over)."""
    return _queued.pop(workflow, [])


def _address(value: Any, what: str) -> str:
    from engine.forms.validation import is_valid_email

    text = str(value).strip() if value is not None else ""
    if not text or not is_valid_email(text):
        raise ConnectorFailed(f"{what} não é um endereço de e-mail válido: {text!r}.")
    return text


def queue_mail(params: Mapping[str, Any], workflow: Any) -> dict[str, Any]:
    raw = params.get("email_to")
    items = raw if isinstance(raw, list | tuple) else str(raw or "").replace(";", ",").split(",")
    to = tuple(_address(item, "email_to") for item in items if str(item).strip())
    if not to:
        raise ConnectorFailed("email_to não tem destinatário.")
    if len(to) > MAX_RECIPIENTS:
        raise ConnectorFailed(f"email_to passa de {MAX_RECIPIENTS} destinatários.")
    subject = str(params.get("email_subject") or "").strip()
    if not subject or "\n" in subject or "\r" in subject or len(subject) > MAX_SUBJECT:
        raise ConnectorFailed(
            f"email_subject deve ser uma linha, sem quebras, de até {MAX_SUBJECT} caracteres."
        )
    body = str(params.get("email_body") or "")
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise ConnectorFailed(f"email_body passa de {MAX_BODY_BYTES // 1024} KB.")
    if workflow is None:
        raise ConnectorFailed("o e-mail só pode ser enviado por uma instância.")
    _queued.setdefault(workflow, []).append(Mail(to, subject, body))
    return {"enfileirado": len(to)}
