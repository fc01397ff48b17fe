"""The form builder's conversion (engine.designer.form_builder): rows ↔ JSON Schema and UI
schema. Every form of the product survives rows → JSON unchanged; what rows cannot say is
kept; a built form loads in the form engine."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from engine.designer import form_builder as fb
from engine.designer.validation import check_form_pair
from engine.errors import ProcessDefinitionError
from engine.settings import PROJECT_ROOT

FORMS = PROJECT_ROOT / "forms"
PRODUCT_FORMS = sorted(p.name for p in FORMS.glob("*-schema.json"))


def texts(schema: dict[str, Any], ui: dict[str, Any]) -> tuple[str, str]:
    return json.dumps(schema), json.dumps(ui)


def rebuilt(schema_text: str, ui_text: str, edit: Any = None) -> tuple[dict, dict]:
    read = fb.to_rows(schema_text, ui_text)
    rows = edit(read.rows) if edit else read.rows
    built = fb.to_json(read.title, rows, schema_text, ui_text)
    assert built.ok, built.errors
    return json.loads(built.schema_text), json.loads(built.ui_text)


@pytest.mark.parametrize("schema_file", PRODUCT_FORMS)
def test_every_product_form_round_trips_unchanged(schema_file: str) -> None:
    schema_text = (FORMS / schema_file).read_text("utf-8")
    ui_text = (FORMS / schema_file.replace("-schema", "-uischema")).read_text("utf-8")
    schema, ui = rebuilt(schema_text, ui_text)
    assert schema == json.loads(schema_text)
    assert ui == json.loads(ui_text)
    check_form_pair(schema_file, json.dumps(schema), json.dumps(ui))


def test_rows_read_label_name_kind_required_options_help_and_step() -> None:
    schema_text = (FORMS / "registrar-chamado-schema.json").read_text("utf-8")
    ui_text = (FORMS / "registrar-chamado-uischema.json").read_text("utf-8")
    read = fb.to_rows(schema_text, ui_text)
    by_name = {r.name: r for r in read.rows}
    assert read.title == "Registrar chamado"
    assert by_name["telefone"] == fb.Row(
        title="Telefone", name="telefone", kind="telefone", step="Identificação", origin="telefone"
    )
    assert by_name["alcance_defeito"].kind == "opcoes"
    assert by_name["alcance_defeito"].options.splitlines()[0] == (
        "protocolo_unico | Um protocolo específico"
    )
    assert by_name["detalhamento"].kind == "texto_longo" and by_name["detalhamento"].required
    assert by_name["detalhamento"].help.startswith("Descreva o erro")
    assert by_name["confirmo_dados"].kind == "sim_nao"
    assert by_name["anexos"].kind == "arquivos"
    assert read.json_only == {
        "orgao": "busca (x-lookup)",
        "objetivo": "opções de um catálogo",
        "tipo_problema": "opções de um catálogo",
        "protocolos": "widget table",
    }
    # The review step is no row's step.
    assert {r.step for r in read.rows} == {
        "Identificação",
        "Dados do Solicitante",
        "Informações do chamado",
        "Protocolos afetados",
        "Anexos e Observações",
    }


def test_unsupported_keys_are_kept_through_edits_and_renames() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "x-origem": {"sistema": "legado"},
        "properties": {
            "nome": {"type": "string", "title": "Nome", "maxLength": 80, "x-prefill": "user.name"},
            "motivo": {"type": "string", "title": "Motivo", "x-catalog": "motivo"},
            "quando": {"type": "string", "format": "date-time", "title": "Quando"},
        },
        "required": ["motivo"],
        "allOf": [{"if": {"required": ["nome"]}, "then": {"required": ["quando"]}}],
        "additionalProperties": False,
    }
    ui = {
        "ui:order": ["motivo", "nome", "quando"],
        "nome": {"ui:placeholder": "Seu nome", "ui:help": "Como no documento"},
        "motivo": {"ui:widget": "select"},
        "x-nota": "mantida",
    }

    def edit(rows: list[fb.Row]) -> list[fb.Row]:
        motivo, nome, quando = rows
        return [
            replace(nome, name="nome_completo", title="Nome completo", required=True),
            replace(motivo, title="Razão", help="Escolha uma"),
            quando,
        ]

    read = fb.to_rows(*texts(schema, ui))
    assert read.json_only == {"motivo": "opções de um catálogo", "quando": "formato date-time"}
    out_schema, out_ui = rebuilt(*texts(schema, ui), edit)
    assert out_schema["properties"]["nome_completo"] == {
        "type": "string",
        "title": "Nome completo",
        "maxLength": 80,
        "x-prefill": "user.name",
    }
    assert out_schema["properties"]["motivo"] == {
        "type": "string",
        "title": "Razão",
        "x-catalog": "motivo",
        "description": "Escolha uma",
    }
    assert out_schema["properties"]["quando"] == schema["properties"]["quando"]
    for key in ("x-origem", "allOf", "additionalProperties", "$schema"):
        assert out_schema[key] == schema[key]
    assert out_schema["required"] == ["motivo", "nome_completo"]
    assert out_ui == {
        "ui:order": ["nome_completo", "motivo", "quando"],
        "nome_completo": {"ui:placeholder": "Seu nome", "ui:help": "Como no documento"},
        "motivo": {"ui:widget": "select"},
        "x-nota": "mantida",
    }


def test_a_new_kind_drops_only_what_would_make_the_schema_lie() -> None:
    schema = {
        "type": "object",
        "properties": {"idade": {"type": "string", "title": "Idade", "maxLength": 3}},
    }
    ui = {"idade": {"ui:widget": "textarea", "ui:options": {"rows": 2}, "ui:help": "Anos"}}
    out_schema, out_ui = rebuilt(
        *texts(schema, ui), lambda rows: [replace(rows[0], kind="inteiro")]
    )
    assert out_schema["properties"]["idade"] == {"type": "integer", "title": "Idade"}
    assert out_ui == {"idade": {"ui:help": "Anos"}}
    out_schema, out_ui = rebuilt(
        *texts(schema, ui), lambda rows: [replace(rows[0], kind="arquivos")]
    )
    anexos = out_schema["properties"]["idade"]
    assert anexos["x-attachments"] is True and anexos["type"] == "array"
    assert out_ui["idade"]["ui:widget"] == "files"
    check_form_pair("f", json.dumps(out_schema), json.dumps(out_ui))


def test_options_lines() -> None:
    entries, error = fb.parse_options(
        "Pedir complemento\nok | Aprovar\nnao | Recusar | Com motivo\n"
    )
    assert error is None
    assert entries == [
        {"const": "pedir_complemento", "title": "Pedir complemento"},
        {"const": "ok", "title": "Aprovar"},
        {"const": "nao", "title": "Recusar", "description": "Com motivo"},
    ]
    assert fb.parse_options("")[1] == "Informe ao menos uma opção, uma por linha."
    assert "aparece mais de uma vez" in str(fb.parse_options("Sim\nsim | Sim mesmo")[1])
    assert "no máximo duas barras" in str(fb.parse_options("a | b | c | d")[1])
    assert "não gera um valor" in str(fb.parse_options("???")[1])
    assert "informe o valor e o rótulo" in str(fb.parse_options(" | Sem valor")[1])
    # enum stays enum; a label that differs from its slug keeps its value explicit.
    schema = {
        "type": "object",
        "properties": {"uf": {"type": "string", "enum": ["DF", "São Paulo"]}},
    }
    read = fb.to_rows(*texts(schema, {}))
    assert read.rows[0].options == "DF | DF\nSão Paulo | São Paulo"
    assert rebuilt(*texts(schema, {}))[0] == schema


def test_a_boolean_schema_field_is_kept_as_it_is() -> None:
    schema = {"type": "object", "properties": {"livre": True, "nome": {"type": "string"}}}
    assert fb.to_rows(*texts(schema, {})).json_only == {"livre": "tipo composto"}
    assert rebuilt(*texts(schema, {}))[0] == schema


def test_options_the_lines_cannot_carry_make_the_field_json_only() -> None:
    for options in (
        {"enum": [1, 2]},
        {"oneOf": [{"const": "a", "title": "A", "deprecated": True}]},
        {"oneOf": [{"const": "a|b", "title": "A"}]},
        {"oneOf": [{"const": "a", "title": "A"}, {"const": "a", "title": "B"}]},
    ):
        prop = {"type": "string", **options}
        kind, why = fb.kind_of(prop, {})
        assert kind == fb.JSON_ONLY and why == "opções que o construtor não representa"
        schema = {"type": "object", "properties": {"x": prop}}
        out_schema, _ui = rebuilt(*texts(schema, {}), lambda rows: [replace(rows[0], title="X")])
        assert out_schema["properties"]["x"] == {**prop, "title": "X"}


def test_steps_keep_their_ids_review_steps_and_fields_in_no_step() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "string"},
            "oculto": {"type": "string", "x-prefill": "user.email"},
        },
    }
    ui = {
        "ui:steps": [
            {"id": "primeira", "title": "Primeira", "fields": ["a"], "x-extra": 1},
            {"id": "segunda", "fields": ["b"]},
            {"id": "revisao", "title": "Revisão", "fields": [], "review": True},
        ]
    }
    read = fb.to_rows(*texts(schema, ui))
    assert [r.name for r in read.rows] == ["a", "b"] and read.hidden == ["oculto"]
    assert [r.step for r in read.rows] == ["Primeira", "segunda"]
    assert rebuilt(*texts(schema, ui)) == (schema, ui)

    def more(rows: list[fb.Row]) -> list[fb.Row]:
        new = fb.Row(title="C", name="c", kind="texto", step="Última etapa!")
        return [rows[0], new, replace(rows[1], step="Primeira")]

    out_schema, out_ui = rebuilt(*texts(schema, ui), more)
    assert out_ui["ui:steps"] == [
        {"id": "primeira", "title": "Primeira", "fields": ["a", "b"], "x-extra": 1},
        {"id": "ultima_etapa", "title": "Última etapa!", "fields": ["c"]},
        {"id": "revisao", "title": "Revisão", "fields": [], "review": True},
    ]
    assert list(out_schema["properties"]) == ["a", "c", "b", "oculto"]
    check_form_pair("f", json.dumps(out_schema), json.dumps(out_ui))


def test_bad_rows_get_a_message_each() -> None:
    rows = [
        fb.Row(name="nome", kind="texto", step="Um"),
        fb.Row(name="nome", kind="texto", step="Um"),
        fb.Row(name="2x", kind="texto", step="Um"),
        fb.Row(name="a__b", kind="texto", step="Um"),
        fb.Row(name="", kind="texto", step="Um"),
        fb.Row(name="cor", kind="lista", options="  \n", step="Um"),
        fb.Row(name="sem_etapa", kind="texto"),
        fb.Row(name="tipo", kind="calendario", step="Um"),
        fb.Row(name="inventado", kind=fb.JSON_ONLY, step="Um"),
    ]
    built = fb.to_json("", rows, "{}", "{}")
    assert not built.ok and built.schema_text == ""
    assert built.errors == {
        1: {"nome": "O nome “nome” já é o do campo 1: use outro."},
        2: {"nome": built.errors[2]["nome"]},
        3: {"nome": built.errors[3]["nome"]},
        4: {"nome": "Informe o nome do campo."},
        5: {"opcoes": "Informe ao menos uma opção, uma por linha."},
        6: {"etapa": "Informe a etapa: os outros campos estão em etapas."},
        7: {"tipo": "Escolha um tipo da lista."},
        8: {"tipo": "Escolha um tipo da lista."},
    }
    assert built.errors[2]["nome"].startswith("Nome inválido")
    assert built.errors[3]["nome"].startswith("Nome inválido")
    too_many = [fb.Row(name=f"c{i}", kind="texto") for i in range(fb.MAX_ROWS + 1)]
    assert fb.to_json("", too_many, "{}", "{}").form_error


def test_a_form_built_from_nothing_loads_in_the_engine() -> None:
    rows = [
        fb.Row(title="Nome", name="nome", kind="texto", required=True, step="Dados"),
        fb.Row(
            title="Prioridade",
            name="prioridade",
            kind="lista",
            options="Alta\nBaixa",
            step="Dados",
            required=True,
        ),
        fb.Row(title="Detalhes", name="detalhes", kind="texto_longo", help="Conte", step="Mais"),
        fb.Row(title="Valor", name="valor", kind="numero", step="Mais"),
        fb.Row(title="Aceito", name="aceito", kind="sim_nao", step="Mais"),
        fb.Row(title="Prazo", name="prazo", kind="data", step="Mais"),
    ]
    built = fb.to_json("Novo", rows, "{}", "{}")
    assert built.ok
    definition = check_form_pair("novo", built.schema_text, built.ui_text)
    assert [s.id for s in definition.steps] == ["dados", "mais"]
    assert definition.schema["required"] == ["nome", "prioridade"]
    assert definition.schema["properties"]["detalhes"]["description"] == "Conte"
    assert definition.ui["detalhes"] == {"ui:widget": "textarea"}
    assert definition.schema["properties"]["prazo"]["format"] == "date"
    assert definition.ui["prazo"] == {"ui:widget": "date"}  # the browser's date field
    assert definition.schema["$schema"].endswith("2020-12/schema")
    assert fb.to_rows(built.schema_text, built.ui_text).rows == [
        replace(r, origin=r.name) for r in rows
    ]


def test_json_the_builder_cannot_open_says_why() -> None:
    with pytest.raises(ProcessDefinitionError, match="não é um JSON válido"):
        fb.to_rows("{", "{}")
    with pytest.raises(ProcessDefinitionError, match="deve ser um objeto JSON"):
        fb.to_rows("[]", "{}")
    with pytest.raises(ProcessDefinitionError, match="não é um JSON válido"):
        fb.to_rows("[" * 100 + "]" * 100, "{}")


def test_a_renamed_or_removed_field_the_rules_still_name_is_pointed_out() -> None:
    schema_text = (FORMS / "analisar-chamado-schema.json").read_text("utf-8")
    ui_text = (FORMS / "analisar-chamado-uischema.json").read_text("utf-8")
    read = fb.to_rows(schema_text, ui_text)
    rows = [replace(r, name="resposta_final") if r.name == "resposta" else r for r in read.rows]
    rows = [r for r in rows if r.name != "motivo_devolucao"]
    built = fb.to_json(read.title, rows, schema_text, ui_text)
    assert built.ok
    assert built.warnings == [
        "O campo “resposta” (agora “resposta_final”) ainda é citado nas regras do esquema "
        "(allOf, if/then…): confira-as no editor JSON.",
        "O campo “motivo_devolucao” (removido) ainda é citado nas regras do esquema "
        "(allOf, if/then…): confira-as no editor JSON.",
    ]
    # The field nothing else names goes quietly.
    rows = [r for r in read.rows if r.name != "nota_interna"]
    assert fb.to_json(read.title, rows, schema_text, ui_text).warnings == []
