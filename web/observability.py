"""Request ids, JSON logs, health probes and Prometheus metrics.

* Every request gets an id: the incoming ``X-Request-ID`` when it is sane (1–64
  characters of ``A-Z a-z 0-9 . _ : -``), else a new one. It is echoed in the
  response, stamped on every log record and set in ``engine.context.request_id`` so
  audit rows written during the request carry it.
* One JSON line per request on the ``chamados.request`` logger (ts, level, msg,
  request_id, method, path, status, duration_ms, user_id); every other log record
  goes through the same JSON handler on the root logger.
* ``/healthz``: the process answers. ``/readyz``: the database answers and the schema
  is current (for now: every table exists). ``/metrics``: Prometheus text format, only
  with ``Authorization: Bearer <METRICS_TOKEN>``; without that setting it answers 404
  (business figures, such as tickets by status, are not for anyone who asks).

Several worker processes (``chamados serve --workers N``): each process counts its own
requests, so set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory (wiped at
every start) before the server starts; prometheus-client then keeps the counters in files
there and ``/metrics`` sums them. Only counters and histograms are kept there, so a worker
that died and was replaced needs no clean-up: its files keep the requests it counted,
which a counter must not lose (``mark_process_dead`` only matters for live gauges).

The database gauges (tickets by status, queue, timers, outbox) are computed with
COUNT queries at scrape time by whichever worker answers, so they need no sharing;
they and the readiness checks are the engine's (the facade's ``health``).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, cast

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from engine.service import Chamados, Gauges
from engine.service import request_id as request_id_var
from web.context import service
from web.logmask import PersonalDataFilter, mask

log = logging.getLogger(__name__)
access_log = logging.getLogger("chamados.request")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_METRICS_KEY = "chamados.metrics"
# Probes and scrapes arrive every few seconds: logged at DEBUG, not INFO.
_QUIET_ENDPOINTS = frozenset(
    {"observability.healthz", "observability.readyz", "observability.metrics"}
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# --- JSON logging ----------------------------------------------------------------------------

_LOG_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; request fields only when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_text:  # rendered (and masked) by web.logmask's filter
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class RequestIdFilter(logging.Filter):
    """Stamps every record (engine and library ones too) with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


def install_json_logging(stream: IO[str] | None = None) -> logging.Handler:
    """A JSON handler on the root logger, installed once per process."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_chamados_json", False):
            return handler
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    # CPF and e-mail addresses never reach the log (LGPD): whatever logger wrote them.
    handler.addFilter(PersonalDataFilter())
    handler._chamados_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    # Every request writes a line: what a record would gather and these lines never show
    # (the thread's and the process's names) is not gathered, as the logging HOWTO's
    # "Optimization" section describes (the caller's file and line stay: other handlers,
    # pytest's among them, show them).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    # SpiffWorkflow logs every task state change at INFO ("spiff.task"): the audit
    # rows already record what matters, so keep only its warnings.
    logging.getLogger("spiff").setLevel(logging.WARNING)
    # APScheduler announces every run of every job (every few seconds): keep its warnings.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler


# --- request id and per-request accounting ---------------------------------------------------


def _incoming_request_id() -> str | None:
    raw = request.headers.get(REQUEST_ID_HEADER, "")
    return raw if _SANE_REQUEST_ID.fullmatch(raw) else None


def _new_request_id() -> str:
    # 32 random hex digits, as uuid4().hex gave, without building a UUID object (a few
    # microseconds on every request).
    return os.urandom(16).hex()


def _begin_request() -> None:
    g.request_started = time.perf_counter()
    g.request_id = _incoming_request_id() or _new_request_id()
    g.request_id_token = request_id_var.set(g.request_id)


def _finish_request(response: Response) -> Response:
    # Runs on every request: each proxy (request, g) is read once into a local.
    ctx_g = g._get_current_object()
    req = request._get_current_object()  # type: ignore[attr-defined]
    request_id = ctx_g.get("request_id") or _new_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id
    now = time.perf_counter()
    elapsed = now - ctx_g.get("request_started", now)
    rule = req.url_rule
    endpoint = rule.endpoint if rule else "unmatched"
    method, path, status = req.method, req.path, response.status_code
    metrics: _Metrics = current_app.extensions[_METRICS_KEY]
    metrics.observe(method if method in _METHODS else "OTHER", endpoint, status, elapsed)
    level = logging.DEBUG if endpoint in _QUIET_ENDPOINTS else logging.INFO
    if access_log.isEnabledFor(level):
        access_log.log(
            level,
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "user_id": getattr(ctx_g.get("user"), "id", None),
            },
        )
    return response


def _end_request(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is None:
        return
    try:
        request_id_var.reset(token)
    except ValueError:  # set in another context: just clear it
        request_id_var.set(None)


# --- metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    database: DatabaseCollector
    # (method, endpoint, status) -> its counter and histogram children: labels() takes
    # a lock and builds its key on every call; the label sets are few and fixed.
    _children: dict[tuple[str, str, int], tuple[Any, Any]] = field(default_factory=dict)

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        key = (method, endpoint, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, endpoint, str(status)),
                self.latency.labels(method, endpoint),
            )
        children[0].inc()
        children[1].observe(seconds)


class DatabaseCollector:
    """Gauges read from the database at scrape time (the facade's ``health.gauges``)."""

    def __init__(self, service: Chamados) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "chamados_metrics_database_up", "1 when the database gauges below could be read."
        )
        found = self._service.health.gauges()
        up.add_metric([], 0 if found is None else 1)
        yield up
        if found is not None:
            yield from _families(found)


def _families(found: Gauges) -> Iterator[Metric]:
    tickets = GaugeMetricFamily("chamados_tickets", "Chamados by status.", labels=["status"])
    for code, count in sorted(found.tickets_by_status.items()):
        tickets.add_metric([code], count)
    yield tickets
    yield _gauge(
        "chamados_queue_size",
        "Analysis tasks waiting to be claimed.",
        found.queue_total - found.queue_claimed,
    )
    yield _gauge(
        "chamados_queue_claimed", "Analysis tasks claimed, not yet done.", found.queue_claimed
    )
    yield _gauge(
        "chamados_timers_waiting", "Workflow timers waiting to fire.", found.timers_waiting
    )
    yield _gauge(
        "chamados_timer_lag_seconds",
        "How long the most overdue waiting timer is past its due time (0 if none).",
        found.timer_lag_seconds,
    )
    yield _gauge("chamados_outbox_backlog", "E-mails waiting in the outbox.", found.outbox_pending)
    yield _gauge(
        "chamados_outbox_oldest_age_seconds",
        "Age of the oldest e-mail waiting in the outbox (0 if none).",
        found.outbox_oldest_age_seconds,
    )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _make_metrics(service: Chamados) -> _Metrics:
    # A registry per app (not the global one): tests build many apps in one process.
    registry = CollectorRegistry()
    requests = Counter(
        "chamados_http_requests",
        "HTTP requests by method, endpoint (not raw path) and status.",
        ["method", "endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "chamados_http_request_duration_seconds",
        "HTTP request latency by method and endpoint.",
        ["method", "endpoint"],
        registry=registry,
        buckets=_LATENCY_BUCKETS,
    )
    database = DatabaseCollector(service)
    registry.register(database)
    return _Metrics(registry, requests, latency, database)


def _scrape_registry(metrics: _Metrics) -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return metrics.registry
    # Every worker's counters, summed from the shared directory.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(metrics.database)
    return registry


# --- wiring ----------------------------------------------------------------------------------

bp = Blueprint("observability", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    ready, checks = service().health.readiness()
    body = jsonify(status="ok" if ready else "indisponivel", checks=checks)
    return body, (200 if ready else 503)


@bp.get("/metrics")
def metrics() -> Any:
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        # Not configured: no metrics for anyone (the endpoint is not even admitted to).
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8"), expected.encode("utf-8")
    ):
        return Response(
            "Envie Authorization: Bearer <METRICS_TOKEN>.\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    registry = _scrape_registry(current_app.extensions[_METRICS_KEY])
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(registry), content_type=content_type)


def init_observability(app: Flask) -> None:
    app.extensions[_METRICS_KEY] = _make_metrics(cast(Chamados, app.extensions["chamados"]))
    if app.config.get("LOG_JSON", True):
        install_json_logging()
    access_log.setLevel(logging.DEBUG if app.debug else logging.INFO)
    # First of all before_request functions: the id must exist before anything logs.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)
    app.register_blueprint(bp)
