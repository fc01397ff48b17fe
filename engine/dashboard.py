"""Painel: what supervisors and admins read at a glance about the tickets of a period.

Every figure is about tickets of any process, described only by the columns their forms
fill through ``x-instance`` (engine.forms.annotations: ``orgao``, ``servico``,
``categoria``) and by their process: nothing here names a process, a form or a field.

The figures, for a period of Brasília days (at most ``MAX_PERIOD_DAYS``):

* **Abertos** — tickets sent (``submitted_at``; a draft is not a ticket yet) per day or
  per week (weeks start on Monday), and in the period by órgão, service, problem type
  and process.
* **Em aberto por idade** — tickets sent and not closed, now, by time since sent.
* **Tempos** — time to the first analysis (sent → the first claim or completion of a
  staff task, kept on the ticket as ``first_analysis_at``: a release and a new claim do
  not move it) of the tickets sent in the period, and time to the result (sent → closed)
  of the tickets closed in it; median (p50) and p90 by nearest rank, exact.
* **Prazos vencidos** — tickets sent in the period whose analysis passed its deadline
  (the model's ``marksOverdue`` timer fired: ``chamados.overdue``).
* **Rodadas de ajuste** — tickets closed in the period by rounds back to the requester.
* **Satisfação** — answers given in the period ("O atendimento resolveu seu problema?",
  engine.satisfaction): how many per score, their mean and how many have a comment.

How it stays fast at a million tickets (measured by ``bench/dashboard_scale.py``):
bounded queries on indexes, aggregated by the database, not a rollup table. Each figure
reads the tickets of its own period through an index on the time that defines it
(migration 0016: ``submitted_at``, ``closed_at``, the open tickets by ``submitted_at``,
``satisfaction_surveys.answered_at``) and nothing older, so the work follows the tickets
*in the period* — capped by the period's length — and not the tickets the database
holds; the time to the first analysis is a column of the ticket (migration 0018) for the
same reason, not a lookup of each ticket's tasks. What comes back is already counted:
the period's tickets per órgão × service × type × process (the breakdowns and the
filters' choices), per UTC hour × overdue (the series: Brasília's offset is a whole
number of hours, so hours add up to Brasília days exactly, past daylight-saving years
included), per adjustment rounds, per score; the percentiles are PostgreSQL's
``percentile_disc`` (which is the nearest rank); only SQLite, whose deployments are
small, sends the durations to Python to rank them. A rollup table would make a long
period cheaper still, but the percentiles need every duration (a histogram rounds them),
and keeping a row per day × órgão × service × type × process in step with every ticket
change would add writes to every step of every process, for a page few people open. What
this costs: a long period of a busy deployment reads its period's tickets inside the
database — see the benchmark's one-year line —; the default period is the last 30 days.
The open backlog is one aggregate over the partial index of open tickets, which holds
only what is still open. On PostgreSQL each statement is planned with its period's
values and run by the connection's own backend, without parallel workers
(``usecases/dashboard.py``): with a million tickets the planner's estimates for a
period's few thousand rows grow past its threshold for a parallel plan, and starting a
worker process per statement cost more than the statement's work.

Adding a figure (the incidents of issue #12, for one) is a fact query in
``usecases/dashboard.py`` and a builder in ``METRICS`` here: the page, the API and the
CSV export take every metric from that list.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from engine import limits
from engine.business_days import TZ
from engine.errors import ValidationFailed
from engine.satisfaction import SCALE

MAX_PERIOD_DAYS = 366
DEFAULT_DAYS = 30
GRANULARITIES = {"dia": "Dia", "semana": "Semana"}
SERVICE_MAX = 300  # chamados.servico
PROCESS_MAX = 100  # process_versions.process_id
# Backlog ages: (upper bound in days or None, label).
AGE_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (1, "Até 1 dia"),
    (3, "De 1 a 3 dias"),
    (7, "De 3 a 7 dias"),
    (15, "De 7 a 15 dias"),
    (30, "De 15 a 30 dias"),
    (None, "Mais de 30 dias"),
)
ROUND_BUCKETS = 5  # "5 ou mais"
NOT_INFORMED = "Não informado"


@dataclass(frozen=True)
class Filters:
    start: date  # first Brasília day of the period
    end: date  # last Brasília day, included
    granularity: str = "dia"
    orgao_id: int | None = None
    servico: str | None = None
    process_id: str | None = None

    def window(self) -> tuple[datetime, datetime]:
        """The period in UTC: [start 00:00, end + 1 day 00:00) in Brasília."""
        first = datetime.combine(self.start, time(), TZ).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(), TZ).astimezone(UTC)
        return first, after

    def query(self) -> dict[str, str]:
        """The filters as the page's GET form and the API take them (links, CSV)."""
        found = {
            "de": self.start.isoformat(),
            "ate": self.end.isoformat(),
            "agrupamento": self.granularity,
        }
        if self.orgao_id is not None:
            found["orgao"] = str(self.orgao_id)
        if self.servico:
            found["servico"] = self.servico
        if self.process_id:
            found["processo"] = self.process_id
        return found


def default_filters(today: date) -> Filters:
    return Filters(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today)


def _date(raw: str, errors: dict[str, str], name: str, what: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"Informe a data {what} no formato AAAA-MM-DD (por exemplo, 2026-11-30)."
        return None


def parse_filters(args: Mapping[str, str], today: date) -> Filters:
    """The filters of a request (page or API), every problem named in Portuguese."""
    errors: dict[str, str] = {}
    default = default_filters(today)
    raw_start, raw_end = (args.get("de") or "").strip(), (args.get("ate") or "").strip()
    start = _date(raw_start, errors, "de", "inicial") if raw_start else default.start
    end = _date(raw_end, errors, "ate", "final") if raw_end else today
    if start and end and not raw_start and raw_end:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start and end and "de" not in errors and "ate" not in errors:
        if end < start:
            errors["ate"] = "A data final deve ser igual ou posterior à data inicial."
        elif (end - start).days + 1 > MAX_PERIOD_DAYS:
            errors["ate"] = f"O período pode ter até {MAX_PERIOD_DAYS} dias."
    granularity = (args.get("agrupamento") or "dia").strip()
    if granularity not in GRANULARITIES:
        errors["agrupamento"] = "Agrupe por dia ou por semana."
    orgao_id = None
    raw_orgao = (args.get("orgao") or "").strip()
    if raw_orgao:
        if raw_orgao.isdigit() and len(raw_orgao) <= 9:
            orgao_id = int(raw_orgao)
        else:
            errors["orgao"] = "Escolha um órgão da lista (código SIORG)."
    servico = (args.get("servico") or "").strip() or None
    if servico is not None and len(servico) > SERVICE_MAX:
        errors["servico"] = f"O nome do serviço pode ter até {SERVICE_MAX} caracteres."
    elif servico is not None and (refused := limits.forbidden_character(servico)):
        errors["servico"] = refused
    process_id = (args.get("processo") or "").strip() or None
    if process_id is not None and (
        len(process_id) > PROCESS_MAX or limits.forbidden_character(process_id)
    ):
        errors["processo"] = "Escolha um processo da lista."
    if errors:
        raise ValidationFailed(errors, "Corrija os filtros do painel.")
    assert start is not None and end is not None
    return Filters(start, end, granularity, orgao_id, servico, process_id)


# --- facts: what the queries return (usecases/dashboard.py) ---------------------------------


@dataclass(frozen=True)
class Combo:
    """Tickets sent in the period with one órgão, service, problem type and process."""

    orgao_id: int | None
    servico: str | None
    categoria: str | None
    process_id: str
    count: int


@dataclass(frozen=True)
class Sent:
    """Tickets sent in one hour (UTC) of the period, overdue or not: Brasília's offset is
    a whole number of hours, so hours add up to Brasília days exactly."""

    hour: datetime
    overdue: bool
    count: int


@dataclass(frozen=True)
class Durations:
    """Seconds from one moment of a ticket to another: median, p90 (nearest rank), how many."""

    p50: float | None
    p90: float | None
    count: int


@dataclass
class Facts:
    filters: Filters
    now: datetime
    combos: list[Combo]  # sent in the period, the dimension filters applied
    sent: list[Sent]  # sent in the period per hour, the dimension filters applied
    first_analysis: Durations  # of the tickets sent in the period
    result: Durations  # of the tickets closed in the period
    rounds: dict[int, int]  # tickets closed in the period per adjustment rounds
    backlog: list[int]  # open tickets per AGE_BUCKETS
    ratings: dict[int, int]  # answers in the period per score
    comments: int  # of those answers, with a comment
    # Incidents (engine.outages) opened in the period: (state, tickets linked, followers).
    outages: list[tuple[str, int, int]] = field(default_factory=list)
    # Labels of what the rows name: órgão ids, problem type codes, process ids.
    orgao_labels: dict[int, str] = field(default_factory=dict)
    categoria_labels: dict[str, str] = field(default_factory=dict)
    process_labels: dict[str, str] = field(default_factory=dict)

    @property
    def opened(self) -> int:
        return sum(c.count for c in self.combos)


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    title: str
    # text | int | hours (seconds, shown as a duration, exported as hours) | decimal | percent
    kind: str = "int"


@dataclass(frozen=True)
class Metric:
    key: str  # the CSV's file name and the API's key
    title: str
    description: str
    columns: list[Column]
    rows: list[list[Any]]
    # The chart: "colunas" (over time), "barras" (categories) or "" (table only); the
    # values are the column ``chart_column`` of each row, labelled by its first column.
    chart: str = "barras"
    chart_column: int = 1
    summary: list[tuple[str, str]] = field(default_factory=list)  # headline figures

    def chart_points(self) -> list[tuple[str, float]]:
        return [(str(row[0]), float(row[self.chart_column] or 0)) for row in self.rows]


def percentile(values: Sequence[float], p: int) -> float | None:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def local_day(moment: datetime) -> date:
    return moment.astimezone(TZ).date()


def bucket_of(day: date, granularity: str) -> date:
    return day - timedelta(days=day.weekday()) if granularity == "semana" else day


def buckets(filters: Filters) -> list[date]:
    """Every bucket of the period, empty ones included (a chart shows the quiet days)."""
    found, day = [], bucket_of(filters.start, filters.granularity)
    step = timedelta(days=7 if filters.granularity == "semana" else 1)
    while day <= filters.end:
        found.append(day)
        day += step
    return found


def bucket_label(day: date, granularity: str) -> str:
    text = day.strftime("%d/%m/%Y")
    return f"Semana de {text}" if granularity == "semana" else text


def format_duration(seconds: float | None) -> str:
    """A duration as people read it: "45 min", "3 h 20 min", "2 d 4 h"."""
    if seconds is None:
        return "—"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def decimal_br(value: float | None, places: int = 1) -> str:
    return "—" if value is None else f"{value:.{places}f}".replace(".", ",")


def _per_bucket(facts: Facts, overdue_only: bool = False) -> Counter[date]:
    g = facts.filters.granularity
    counts: Counter[date] = Counter()
    for sent in facts.sent:
        if sent.overdue or not overdue_only:
            counts[bucket_of(local_day(sent.hour), g)] += sent.count
    return counts


def _opened_over_time(facts: Facts) -> Metric:
    g = facts.filters.granularity
    counts = _per_bucket(facts)
    rows = [[bucket_label(day, g), counts.get(day, 0)] for day in buckets(facts.filters)]
    per = "dia" if g == "dia" else "semana"
    return Metric(
        key="abertos",
        title=f"Chamados abertos por {per}",
        description="Chamados enviados em cada "
        + ("dia" if g == "dia" else "semana (de segunda a domingo)")
        + ", no horário de Brasília. Rascunhos não contam.",
        columns=[Column(GRANULARITIES[g], "text"), Column("Chamados abertos")],
        rows=rows,
        chart="colunas",
        summary=[("Total no período", str(facts.opened))],
    )


def _by(
    key: str,
    title: str,
    heading: str,
    counts: Counter[Any],
    label: Callable[[Any], str],
) -> Metric:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], label(kv[0]).casefold()))
    return Metric(
        key=key,
        title=title,
        description="Chamados enviados no período, do mais frequente ao menos frequente.",
        columns=[Column(heading, "text"), Column("Chamados abertos")],
        rows=[[label(value), n] for value, n in ordered],
    )


def _count(facts: Facts, attribute: str) -> Counter[Any]:
    counts: Counter[Any] = Counter()
    for combo in facts.combos:
        counts[getattr(combo, attribute)] += combo.count
    return counts


def _by_orgao(facts: Facts) -> Metric:
    labels = facts.orgao_labels
    return _by(
        "por_orgao",
        "Abertos por órgão",
        "Órgão",
        _count(facts, "orgao_id"),
        lambda v: NOT_INFORMED if v is None else labels.get(v, f"SIORG {v}"),
    )


def _by_servico(facts: Facts) -> Metric:
    return _by(
        "por_servico",
        "Abertos por serviço",
        "Serviço",
        _count(facts, "servico"),
        lambda v: v or NOT_INFORMED,
    )


def _by_categoria(facts: Facts) -> Metric:
    labels = facts.categoria_labels
    return _by(
        "por_tipo",
        "Abertos por tipo de problema",
        "Tipo de problema",
        _count(facts, "categoria"),
        lambda v: NOT_INFORMED if v is None else labels.get(v, v),
    )


def _by_process(facts: Facts) -> Metric:
    labels = facts.process_labels
    return _by(
        "por_processo",
        "Abertos por processo",
        "Processo",
        _count(facts, "process_id"),
        lambda v: labels.get(v, v),
    )


def _backlog(facts: Facts) -> Metric:
    return Metric(
        key="em_aberto",
        title="Em aberto por idade",
        description="Chamados enviados e ainda não concluídos, agora, pelo tempo desde o "
        "envio (os filtros de órgão, serviço e processo valem; o período, não).",
        columns=[Column("Tempo desde o envio", "text"), Column("Chamados em aberto")],
        rows=[[label, n] for (_bound, label), n in zip(AGE_BUCKETS, facts.backlog, strict=True)],
        summary=[("Total em aberto", str(sum(facts.backlog)))],
    )


def _times(facts: Facts) -> Metric:
    first, result = facts.first_analysis, facts.result
    rows = [
        ["Até a primeira análise", first.p50, first.p90, first.count],
        ["Até o resultado", result.p50, result.p90, result.count],
    ]
    return Metric(
        key="tempos",
        title="Tempo até a primeira análise e até o resultado",
        description="Primeira análise: do envio até a equipe assumir (ou concluir) a primeira "
        "tarefa, para os chamados enviados no período. Resultado: do envio até a conclusão, "
        "para os chamados concluídos no período. Tempo corrido. Mediana (p50): metade levou "
        "até esse tempo; p90: nove em cada dez.",
        columns=[
            Column("Medida", "text"),
            Column("Mediana (p50)", "hours"),
            Column("p90", "hours"),
            Column("Chamados", "int"),
        ],
        rows=rows,
        chart="",
        summary=[
            ("Primeira análise, mediana", format_duration(first.p50)),
            ("Resultado, mediana", format_duration(result.p50)),
        ],
    )


def _sla(facts: Facts) -> Metric:
    g = facts.filters.granularity
    sent, late = _per_bucket(facts), _per_bucket(facts, overdue_only=True)
    rows = [
        [bucket_label(day, g), late.get(day, 0), sent.get(day, 0)] for day in buckets(facts.filters)
    ]
    total, breached = facts.opened, sum(s.count for s in facts.sent if s.overdue)
    share = 100 * breached / total if total else None
    return Metric(
        key="prazos_vencidos",
        title="Prazos de análise vencidos",
        description="Chamados enviados no período cuja análise passou do prazo que o modelo "
        "do processo define, por " + ("dia" if g == "dia" else "semana") + " de envio.",
        columns=[
            Column(GRANULARITIES[g], "text"),
            Column("Com prazo vencido"),
            Column("Chamados abertos"),
        ],
        rows=rows,
        chart="colunas",
        summary=[
            ("Com prazo vencido", str(breached)),
            ("Do total aberto no período", "—" if share is None else f"{decimal_br(share)} %"),
        ],
    )


def _rounds(facts: Facts) -> Metric:
    counts: Counter[int] = Counter()
    for rounds, n in facts.rounds.items():
        counts[min(rounds, ROUND_BUCKETS)] += n
    rows = []
    for n in range(ROUND_BUCKETS + 1):
        label = (
            "Nenhuma"
            if n == 0
            else "1 rodada"
            if n == 1
            else f"{n} ou mais rodadas"
            if n == ROUND_BUCKETS
            else f"{n} rodadas"
        )
        rows.append([label, counts.get(n, 0)])
    closed = sum(facts.rounds.values())
    mean = sum(r * n for r, n in facts.rounds.items()) / closed if closed else None
    return Metric(
        key="ajustes",
        title="Rodadas de ajuste",
        description="Chamados concluídos no período pelo número de vezes que voltaram ao "
        "solicitante para ajuste.",
        columns=[Column("Rodadas de ajuste", "text"), Column("Chamados concluídos")],
        rows=rows,
        summary=[
            ("Chamados concluídos", str(closed)),
            ("Média de rodadas", decimal_br(mean, 2)),
        ],
    )


def _satisfaction(facts: Facts) -> Metric:
    total = sum(facts.ratings.values())
    mean = sum(score * n for score, n in facts.ratings.items()) / total if total else None
    return Metric(
        key="satisfacao",
        title="Satisfação: “O atendimento resolveu seu problema?”",
        description="Respostas dadas no período, de 1 (não resolveu) a 5 (resolveu totalmente).",
        columns=[Column("Resposta", "text"), Column("Respostas")],
        rows=[
            [f"{score} — {label}", facts.ratings.get(score, 0)] for score, label in SCALE.items()
        ],
        summary=[
            ("Respostas", str(total)),
            ("Média", decimal_br(mean, 2)),
            ("Com comentário", str(facts.comments)),
        ],
    )


OUTAGE_STATES = {"aberto": "Abertos", "resolvendo": "Sendo resolvidos", "resolvido": "Resolvidos"}


def _outages(facts: Facts) -> Metric:
    rows = []
    for state, label in OUTAGE_STATES.items():
        mine = [o for o in facts.outages if o[0] == state]
        rows.append([label, len(mine), sum(o[1] for o in mine), sum(o[2] for o in mine)])
    return Metric(
        key="incidentes",
        title="Incidentes e chamados vinculados",
        description="Incidentes abertos no período, pela situação de hoje, com os chamados "
        "vinculados a eles e as pessoas que acompanham o problema em vez de abrir um chamado.",
        columns=[
            Column("Situação", "text"),
            Column("Incidentes"),
            Column("Chamados vinculados"),
            Column("Pessoas acompanhando"),
        ],
        rows=rows,
        summary=[
            ("Incidentes", str(len(facts.outages))),
            ("Chamados vinculados", str(sum(o[1] for o in facts.outages))),
            ("Pessoas acompanhando", str(sum(o[2] for o in facts.outages))),
        ],
    )


# Every figure, in the page's order; each builds one Metric from the facts.
METRICS: tuple[Callable[[Facts], Metric], ...] = (
    _opened_over_time,
    _by_orgao,
    _by_servico,
    _by_categoria,
    _by_process,
    _backlog,
    _times,
    _sla,
    _rounds,
    _outages,
    _satisfaction,
)


def metrics(facts: Facts) -> list[Metric]:
    return [build(facts) for build in METRICS]


# A text cell starting with one of these is a formula to a spreadsheet (OWASP "CSV
# injection"): a service name a requester typed must not run in a supervisor's sheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value: Any, kind: str) -> str:
    """A cell of the CSV export: numbers as numbers (hours with two decimals, a dot);
    a text that a spreadsheet would read as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if kind == "hours":
        return f"{value / 3600:.2f}"
    text = str(value)
    if kind == "text" and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_header(column: Column) -> str:
    return f"{column.title} (horas)" if column.kind == "hours" else column.title
