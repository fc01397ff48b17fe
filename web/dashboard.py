"""Painel (supervisors and admins): the figures of a period, each a chart, its table and
its CSV. A GET form filters it (period, grouping, órgão, service, process), so a view is
a link and works without JavaScript; a bad filter comes back named, with what was typed.
Who may see, and what, is the use case's (engine.usecases.dashboard): anyone else gets
its refusal as the 403 page."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request

from engine.errors import ValidationFailed
from engine.service import DashboardFilters, DashboardMetric, Panel, dashboard
from web import charts
from web.auth import login_required, signed_in_user
from web.context import service as svc

bp = Blueprint("dashboard", __name__)
FILTER_KEYS = ("de", "ate", "agrupamento", "orgao", "servico", "processo")


def init_dashboard(app: Flask) -> None:
    if bp.name not in app.blueprints:
        app.register_blueprint(bp)


def filter_args() -> dict[str, str]:
    return {key: request.args.get(key, "") for key in FILTER_KEYS if key in request.args}


def cell(value: Any, kind: str) -> str:
    """A table cell as people read it (pt-BR numbers, durations in words)."""
    if value is None:
        return "—"
    if kind == "hours":
        return dashboard.format_duration(value)
    if kind == "int":
        return f"{int(value):,}".replace(",", ".")
    return str(value)


def metric_json(metric: DashboardMetric) -> dict[str, Any]:
    """A figure for the API: durations in seconds, the table's rows as they are."""
    return {
        "key": metric.key,
        "title": metric.title,
        "description": metric.description,
        "chart": metric.chart or None,
        "columns": [
            {"title": c.title, "kind": {"hours": "seconds"}.get(c.kind, c.kind)}
            for c in metric.columns
        ],
        "rows": metric.rows,
        "summary": [{"label": label, "value": value} for label, value in metric.summary],
    }


def filters_json(filters: DashboardFilters) -> dict[str, Any]:
    return {
        "de": filters.start.isoformat(),
        "ate": filters.end.isoformat(),
        "agrupamento": filters.granularity,
        "orgao": filters.orgao_id,
        "servico": filters.servico,
        "processo": filters.process_id,
    }


def panel_json(panel: Panel) -> dict[str, Any]:
    return {
        "filters": filters_json(panel.filters),
        "all_processes": panel.everything,
        "metrics": [metric_json(m) for m in panel.metrics],
        "choices": {
            "orgaos": [{"id": i, "label": label} for i, label in panel.orgaos],
            "servicos": panel.servicos,
            "processos": [{"id": i, "label": label} for i, label in panel.processos],
        },
    }


@bp.get("/painel")
@login_required
def index() -> Any:
    user = signed_in_user()
    typed = filter_args()
    try:
        filters = svc().dashboard.filters(user, typed)
        panel = svc().dashboard.panel(user, filters)
    except ValidationFailed as refused:
        return render_template(
            "dashboard/index.html",
            panel=None,
            typed=typed,
            errors=refused.errors,
            granularities=dashboard.GRANULARITIES,
            max_days=dashboard.MAX_PERIOD_DAYS,
        ), 422
    return render_template(
        "dashboard/index.html",
        panel=panel,
        typed=filters.query(),
        errors={},
        granularities=dashboard.GRANULARITIES,
        max_days=dashboard.MAX_PERIOD_DAYS,
        chart_for=charts.chart_for,
        cell=cell,
        query=filters.query(),
    )


@bp.get("/painel/<key>.csv")
@login_required
def export(key: str) -> Any:
    """One figure's table as CSV (RFC 4180, UTF-8 with a BOM so spreadsheets read the
    accents; durations in hours with a decimal point, as numbers)."""
    user = signed_in_user()
    filters = svc().dashboard.filters(user, filter_args())
    panel = svc().dashboard.panel(user, filters)
    try:
        metric = panel.metric(key)
    except KeyError:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([dashboard.csv_header(c) for c in metric.columns])
    for row in metric.rows:
        writer.writerow(
            [dashboard.csv_value(v, c.kind) for v, c in zip(row, metric.columns, strict=True)]
        )
    name = f"painel-{metric.key}-{filters.start.isoformat()}-a-{filters.end.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
