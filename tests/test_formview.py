"""web/formview.py + templates/macros/forms.html rendered in a minimal Flask app, and the
Jinja filters of web/filters.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask, render_template_string

from engine import forms
from engine.errors import ProcessDefinitionError
from engine.settings import PROJECT_ROOT
from tests.test_forms import NUP, OrgaoLookup, seed_catalogs, valid_chamado
from web import filters
from web.formview import build_form_view, build_lookup_view, build_review

XSS = '<script>alert("x")</script>'
MACROS = '{% import "macros/forms.html" as f %}'


class Page(HTMLParser):
    """Collects form controls, labels, buttons and element ids of a fragment."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.buttons: list[dict[str, str | None]] = []
        self.labels: list[str] = []
        self.ids: dict[str, dict[str, str | None]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        a["_tag"] = tag
        if a.get("id"):
            self.ids[str(a["id"])] = a
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)
        if tag == "button":
            self.buttons.append(a)
        if tag == "label" and a.get("for"):
            self.labels.append(str(a["for"]))

    def actions(self) -> list[str]:
        return [str(b.get("value")) for b in self.buttons if b.get("name") == "_action"]

    def control(self, name: str) -> dict[str, str | None]:
        return next(c for c in self.controls if c.get("name") == name)


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "web" / "templates"))
    filters.init_filters(app)
    return app


@pytest.fixture(scope="module")
def registrar() -> forms.FormDefinition:
    return forms.load_form(
        PROJECT_ROOT / "forms", "registrar-chamado-schema.json", "registrar-chamado-uischema.json"
    )


@pytest.fixture(scope="module")
def schema(registrar: forms.FormDefinition) -> dict[str, Any]:
    return forms.resolve_catalogs(registrar.schema, seed_catalogs())


def render(app: Flask, source: str, **context: Any) -> str:
    with app.test_request_context():
        return render_template_string(MACROS + source, **context)


def render_fields(app: Flask, view: Any) -> str:
    return render(app, "{{ f.fields(view) }}", view=view)


def assert_every_control_labelled(page: Page) -> None:
    assert page.controls, "nothing rendered"
    for control in page.controls:
        assert control.get("id"), f"control without id: {control}"
        assert control["id"] in page.labels, f"no <label for={control['id']}>"
    assert len(page.labels) == len(set(page.labels)), "duplicate label targets"


def test_every_widget_renders_with_a_real_label(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    data = valid_chamado()
    view = build_form_view(
        schema, registrar.ui, data, lookups={"orgao": OrgaoLookup()}, queries={"orgao": "saúde"}
    )
    page = Page(render_fields(app, view))
    assert_every_control_labelled(page)
    kinds = {(c["_tag"], c.get("type")) for c in page.controls}
    assert kinds >= {
        ("input", "text"),
        ("input", "email"),
        ("input", "tel"),
        ("select", None),
        ("input", "radio"),
        ("input", "checkbox"),
        ("textarea", None),
        ("input", "search"),
        ("input", "file"),
    }
    assert view.multipart


def test_values_are_shown_and_selected(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    view = build_form_view(schema, registrar.ui, valid_chamado(), lookups={"orgao": OrgaoLookup()})
    html = render_fields(app, view)
    page = Page(html)
    assert page.control("telefone")["value"] == "(61) 99999-9999"
    assert "checked" in page.ids["f-tipo_solicitante-2"]  # cidadao
    assert "checked" in page.ids["f-confirmo_dados"]
    assert '<option value="erro_api" selected>Erro em alguma API</option>' in html
    assert "Instituto Nacional do Seguro Social (INSS)" in html
    # Read-only values are shown, but never posted.
    assert "readonly" in page.ids["f-solicitante_nome"]
    assert page.ids["f-solicitante_nome"].get("name") is None
    assert page.ids["f-solicitante_nome"]["value"] == "Maria da Silva"


def test_required_marker_and_help(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    view = build_form_view(schema, registrar.ui, {}, fields=["nome_servico", "detalhamento"])
    page = Page(render_fields(app, view))
    assert page.ids["f-nome_servico"]["aria-required"] == "true"
    detail = page.ids["f-detalhamento"]
    assert detail["rows"] == "8" and detail["maxlength"] == "5000"
    assert detail["aria-describedby"] == "f-detalhamento-help"
    assert page.ids["f-detalhamento-help"]["_tag"] == "p"


def test_errors_appear_next_to_fields(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    data = {"telefone": "6199", "detalhamento": "curto"}
    errors = forms.validate(schema, data)
    view = build_form_view(schema, registrar.ui, data, errors)
    html = render_fields(app, view)
    page = Page(html)
    tel = page.ids["f-telefone"]
    assert tel["aria-invalid"] == "true"
    assert "f-telefone-error" in str(tel["aria-describedby"]).split()
    assert page.ids["f-telefone-error"]["class"] == "feedback danger"
    assert 'class="br-input danger"' in html
    assert "Telefone inválido. Use DDD + número, ex.: (61) 99999-9999." in html
    assert "Marque esta confirmação para continuar." in html
    # Radio groups carry the message on their fieldset.
    assert "f-tipo_solicitante-error" in str(page.ids["f-tipo_solicitante"]["aria-describedby"])


def test_user_data_is_escaped(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    data = {
        "nome_servico": XSS,
        "detalhamento": XSS,
        "solicitante_nome": XSS,
        "protocolos": [{"numero": XSS}],
        "anexos": [{"id": 1, "nome": XSS, "tamanho": 1}],
    }
    view = build_form_view(
        schema,
        registrar.ui,
        data,
        {"telefone": XSS},
        pending={"protocolos__new__numero": XSS},
        queries={"orgao": XSS},
        lookups={"orgao": OrgaoLookup()},
    )
    html = render_fields(app, view)
    review = render(
        app, "{{ f.review(sections) }}", sections=build_review(schema, registrar.ui, data)
    )
    for out in (html, review):
        assert "<script>" not in out
        assert "&lt;script&gt;" in out


def test_table_widget(app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition) -> None:
    data = {"protocolos": [{"numero": NUP}, {"numero": "12a"}]}
    errors = forms.validate(schema, data, ["protocolos"])
    errors["protocolos__new__numero"] = "Este protocolo já está na tabela."
    view = build_form_view(
        schema,
        registrar.ui,
        data,
        errors,
        ["protocolos"],
        pending={"protocolos__new__numero": "23037001462202165"},
    )
    html = render_fields(app, view)
    page = Page(html)
    assert_every_control_labelled(page)
    assert page.actions() == [
        "add_row:protocolos",
        "remove_row:protocolos:0",
        "remove_row:protocolos:1",
    ]
    assert "Adicionar Dados na Tabela +" in html
    assert 'class="br-table app-table app-cards"' in html
    new = page.control("protocolos__new__numero")
    assert new["value"] == "23037001462202165"
    assert new["placeholder"] == "Ex.: 23037.001462/2021-65"
    assert new["aria-invalid"] == "true"
    assert "Este protocolo já está na tabela." in html
    assert f'<input type="hidden" name="protocolos__0__numero" value="{NUP}">' in html
    assert "Protocolo inválido" in html  # the bad row's own message
    remove = next(b for b in page.buttons if b.get("value") == "remove_row:protocolos:0")
    assert remove["aria-label"] == f"Remover {NUP}"


def test_empty_table_says_so(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    html = render_fields(app, build_form_view(schema, registrar.ui, {}, {}, ["protocolos"]))
    assert "Nenhum item adicionado." in html


def test_files_widget(app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition) -> None:
    data = {
        "anexos": [
            {"id": 7, "nome": "tela.png", "tamanho": 1258291},
            {"id": 8, "nome": "log.txt", "tamanho": 300},
        ]
    }
    view = build_form_view(
        schema, registrar.ui, data, {"anexos__upload": "Arquivo grande demais."}, ["anexos"]
    )
    html = render_fields(app, view)
    page = Page(html)
    assert_every_control_labelled(page)
    assert page.actions() == ["remove_file:7", "remove_file:8", "upload:anexos"]
    upload = page.control("anexos__upload")
    assert upload["type"] == "file" and "multiple" in upload
    assert "1,2 MB" in html and "300 bytes" in html
    assert "Arquivo grande demais." in html and upload["aria-invalid"] == "true"
    assert "Até 10 MB por arquivo" in html


def test_files_use_stored_attachments_when_given(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    class Row:
        def __init__(self, filename: str, size: int) -> None:
            self.filename, self.size = filename, size

    data = {"anexos": [{"id": 7, "nome": "velho.png"}, {"id": 9, "nome": "apagado.pdf"}]}
    view = build_form_view(
        schema, registrar.ui, data, {}, ["anexos"], attachments={7: Row("tela.png", 2048)}
    )
    (files_view,) = view.fields
    assert [(f.id, f.name, f.size_text) for f in files_view.files] == [(7, "tela.png", "2 KB")]


def test_lookup_without_javascript(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    lookups = {"orgao": OrgaoLookup()}
    view = build_form_view(
        schema, registrar.ui, {"orgao": 26}, {}, ["orgao"], lookups, queries={"orgao": "minist"}
    )
    html = render_fields(app, view)
    page = Page(html)
    assert_every_control_labelled(page)
    assert page.actions() == ["lookup:orgao"]
    search = page.control("orgao__q")
    assert search["value"] == "minist" and search["data-enter-action"] == "lookup:orgao"
    radios = [c for c in page.controls if c.get("name") == "orgao"]
    assert [(r["value"], "checked" in r) for r in radios] == [
        ("26", True),
        ("7", False),
    ]
    assert "Ministério da Saúde" in html
    assert "hx-get" not in html


def test_lookup_with_htmx_and_no_results(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    view = build_form_view(
        schema,
        registrar.ui,
        {},
        {"orgao": "Campo obrigatório."},
        ["orgao"],
        {"orgaos": OrgaoLookup()},
        queries={"orgao": "zzz"},
        search_url="/orgaos/busca",
    )
    html = render_fields(app, view)
    page = Page(html)
    search = page.control("orgao__q")
    assert search["hx-get"] == "/orgaos/busca"
    assert search["hx-target"] == "#f-orgao-results"
    assert search["hx-vals"] == '{"campo": "orgao"}'
    assert "Nenhum resultado para “zzz”" in html
    assert "Campo obrigatório." in html


def test_lookup_results_fragment(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    field = build_lookup_view(
        schema, registrar.ui, "orgao", {}, "saúde", {"orgao": OrgaoLookup()}, "/busca"
    )
    html = render(app, "{{ f.lookup_results(field, field.lookup_results) }}", field=field)
    page = Page(html)
    assert_every_control_labelled(page)
    assert [c["value"] for c in page.controls] == ["7"]
    # An endpoint may pass just the field name, (value, label) pairs and the query.
    html = render(
        app, "{{ f.lookup_results('orgao', results, q) }}", results=[(26, f"INSS {XSS}")], q="inss"
    )
    page = Page(html)
    assert_every_control_labelled(page)
    assert page.controls[0]["name"] == "orgao" and "&lt;script&gt;" in html
    assert render(app, "{{ f.lookup_results('orgao', [], '') }}").strip() == ""


def test_analysis_form_renders_all_fields(app: Flask) -> None:
    analisar = forms.load_form(
        PROJECT_ROOT / "forms", "analisar-chamado-schema.json", "analisar-chamado-uischema.json"
    )
    schema = forms.resolve_catalogs(analisar.schema, seed_catalogs())
    errors = forms.validate(schema, {"decisao": "resolver"})
    view = build_form_view(schema, analisar.ui, {"decisao": "resolver"}, errors)
    html = render(
        app, "{{ f.errors_summary(errors, view) }}{{ f.fields(view) }}", errors=errors, view=view
    )
    page = Page(html)
    assert_every_control_labelled(page)
    assert [f.name for f in view.fields] == list(analisar.steps[0].fields)
    assert "Sobre as opções de “Motivo da devolução”" in html
    assert 'href="#f-resposta"' in html and "Há 1 problema no formulário." in html
    assert page.ids["f-resposta"]["aria-invalid"] == "true"


def test_wizard_nav_and_actions(app: Flask, registrar: forms.FormDefinition) -> None:
    steps = list(registrar.steps)
    html = render(
        app,
        "{{ f.wizard_nav(steps, 'informacoes', ['protocolos']) }}"
        "{{ f.wizard_actions(steps, 'informacoes') }}",
        steps=steps,
    )
    page = Page(html)
    gotos = [a for a in page.actions() if a.startswith("goto:")]
    assert gotos == [f"goto:{s.id}" for s in steps]
    current = next(b for b in page.buttons if b.get("aria-current") == "step")
    assert current["value"] == "goto:informacoes" and current["step-num"] == "3"
    flagged = next(b for b in page.buttons if b.get("value") == "goto:protocolos")
    assert flagged["data-alert"] == "danger"
    assert page.actions()[-3:] == ["back", "save", "next"]

    last = Page(render(app, "{{ f.wizard_actions(steps, 'revisao') }}", steps=steps))
    assert last.actions() == ["back", "save", "submit"]
    first = Page(render(app, "{{ f.wizard_actions(steps, 'identificacao') }}", steps=steps))
    assert first.actions() == ["save", "next"]


def test_review_lists_every_step_with_change_buttons(
    app: Flask, schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    data = valid_chamado()
    sections = build_review(
        schema,
        registrar.ui,
        data,
        {"orgao": OrgaoLookup()},
        {"protocolos.1.numero": "Protocolo inválido."},
    )
    html = render(app, "{{ f.review(sections) }}", sections=sections)
    page = Page(html)
    assert page.actions() == [f"goto:{s.id}" for s in registrar.steps if not s.review]
    for text in (
        "Solicitante/Cidadão",
        "Erro em alguma API",
        NUP,
        "tela.png (2 KB)",
        "Instituto Nacional do Seguro Social (INSS)",
        "Sim",
        "Protocolo inválido.",
    ):
        assert text in html
    assert [s.has_errors for s in sections] == [False, False, False, True, False]
    readonly = render(app, "{{ f.review(sections, editable=false) }}", sections=sections)
    assert "_action" not in readonly


def test_default_action_is_hidden_from_users(app: Flask) -> None:
    page = Page(render(app, "{{ f.default_action('next') }}"))
    (button,) = page.buttons
    assert button["value"] == "next" and button["tabindex"] == "-1"
    assert button["aria-hidden"] == "true"


# ------------------------------------------------------------------ filters


def test_datetime_filters_use_brasilia_time() -> None:
    moment = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    assert filters.datetime_br(moment) == "02/01/2025 00:04"
    assert filters.datetime_br(moment.replace(tzinfo=None)) == "02/01/2025 00:04"
    assert filters.date_br(moment) == "02/01/2025"
    assert filters.date_br(date(2024, 12, 31)) == "31/12/2024"
    assert filters.datetime_br(None) == "" and filters.date_br(None) == ""


def test_cpf_and_filesize_filters() -> None:
    assert filters.cpf("39053344705") == "390.533.447-05"
    assert filters.cpf("123") == "123"
    assert filters.cpf(None) == ""
    assert filters.filesize(1258291) == "1,2 MB"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=20), "agora mesmo"),
        (timedelta(minutes=1), "há 1 minuto"),
        (timedelta(minutes=45), "há 45 minutos"),
        (timedelta(hours=5), "há 5 horas"),
        (timedelta(days=1), "há 1 dia"),
        (timedelta(days=3, hours=2), "há 3 dias"),
        (timedelta(days=65), "há 2 meses"),
        (timedelta(days=800), "há 2 anos"),
    ],
)
def test_relative_age(delta: timedelta, text: str) -> None:
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert filters.relative_age(now - delta, now=now) == text


def test_has_endpoint(app: Flask) -> None:
    with app.test_request_context():
        assert filters.has_endpoint("static")
        assert not filters.has_endpoint("requester.my_chamados")
        assert render_template_string("{{ has_endpoint('static') }}") == "True"


def test_read_only_widgets_show_their_value(app: Flask, schema: dict[str, Any]) -> None:
    ui = {
        "protocolos": {"ui:widget": "table", "ui:readonly": True},
        "tipo_solicitante": {"ui:widget": "radio", "ui:readonly": True},
    }
    data = {"protocolos": [{"numero": NUP}], "tipo_solicitante": "cidadao"}
    view = build_form_view(schema, ui, data, {}, ["protocolos", "tipo_solicitante"])
    page = Page(render_fields(app, view))
    assert_every_control_labelled(page)
    assert [(c["id"], c["value"], "readonly" in c, c.get("name")) for c in page.controls] == [
        ("f-protocolos", NUP, True, None),
        ("f-tipo_solicitante", "Solicitante/Cidadão", True, None),
    ]
    assert page.actions() == [] and not view.multipart


def test_react_jsonschema_forms_widgets_are_drawn_with_ours(app: Flask) -> None:
    """SpiffArena's forms name react-jsonschema-form's widgets: a date is the browser's
    date field, the others plain labelled text fields; an unknown one is refused."""
    schema = {
        "properties": {
            "vencimento": {"type": "string", "title": "Vencimento"},
            "parcelas": {"type": "integer", "title": "Parcelas"},
            "site": {"type": "string", "title": "Site"},
            "cidade": {"type": "string", "title": "Cidade"},
        }
    }
    ui = {
        "vencimento": {"ui:widget": "date"},
        "parcelas": {"ui:widget": "updown"},
        "site": {"ui:widget": "uri"},
        "cidade": {"ui:widget": "typeahead"},
    }
    form = forms.load_form_from_texts(json.dumps(schema), json.dumps(ui), "rjsf.json")
    page = Page(render_fields(app, build_form_view(form.schema, form.ui, {})))
    assert_every_control_labelled(page)
    assert page.control("vencimento").get("type") == "date"
    assert {page.control(n).get("type") for n in ("parcelas", "site", "cidade")} == {"text"}
    ui["site"] = {"ui:widget": "estrelas"}
    with pytest.raises(ProcessDefinitionError, match="widget desconhecido 'estrelas'"):
        forms.load_form_from_texts(json.dumps(schema), json.dumps(ui), "rjsf.json")
