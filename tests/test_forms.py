"""engine.forms against the real forms/ files: loading, catalogs, validation messages,
reading posts (wizard actions, tables, files, read-only fields), diff and display."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine import forms
from engine.catalogs import CatalogOption
from engine.errors import ProcessDefinitionError
from engine.settings import PROJECT_ROOT

FORMS_DIR = PROJECT_ROOT / "forms"
NUP = "23037.001462/2021-65"
NUP_DIGITS = "23037001462202165"
NUP_2 = "19974.100540/2019-21"
PROTOCOL_MESSAGE = (
    "Protocolo inválido: informe o número da Plataforma (somente dígitos) ou um NUP "
    "válido (00000.000000/0000-00)."
)


def seed_catalogs() -> dict[str, list[CatalogOption]]:
    raw = json.loads((PROJECT_ROOT / "data" / "catalogs.json").read_text(encoding="utf-8"))
    return {
        name: [CatalogOption(i["code"], i["label"], i.get("help"), True) for i in items]
        for name, items in raw.items()
    }


@pytest.fixture(scope="module")
def registrar() -> forms.FormDefinition:
    return forms.load_form(
        FORMS_DIR, "registrar-chamado-schema.json", "registrar-chamado-uischema.json"
    )


@pytest.fixture(scope="module")
def analisar() -> forms.FormDefinition:
    return forms.load_form(
        FORMS_DIR, "analisar-chamado-schema.json", "analisar-chamado-uischema.json"
    )


@pytest.fixture
def schema(registrar: forms.FormDefinition) -> dict[str, Any]:
    return forms.resolve_catalogs(registrar.schema, seed_catalogs())


@pytest.fixture
def analysis_schema(analisar: forms.FormDefinition) -> dict[str, Any]:
    return forms.resolve_catalogs(analisar.schema, seed_catalogs())


def valid_chamado() -> dict[str, Any]:
    return {
        "solicitante_nome": "Maria da Silva",
        "solicitante_email": "maria@example.gov.br",
        "telefone": "(61) 99999-9999",
        "orgao": 26,
        "nome_servico": "Solicitar benefício",
        "objetivo": "erro",
        "confirmo_dados": True,
        "tipo_solicitante": "cidadao",
        "tipo_problema": "erro_api",
        "alcance_defeito": "alguns_protocolos",
        "detalhamento": "A etapa de integração falha sempre com erro 500 ao enviar.",
        "protocolos": [{"numero": NUP}, {"numero": "123456"}],
        "anexos": [{"id": 1, "nome": "tela.png", "tamanho": 2048}],
    }


def post(**values: Any) -> dict[str, list[str]]:
    """A form post as werkzeug's MultiDict.to_dict(flat=False) gives it."""
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


# ------------------------------------------------------------------- loading


def test_real_forms_load_with_their_steps(
    registrar: forms.FormDefinition, analisar: forms.FormDefinition
) -> None:
    assert [s.id for s in registrar.steps] == [
        "identificacao",
        "solicitante",
        "informacoes",
        "protocolos",
        "anexos",
        "revisao",
    ]
    assert registrar.steps[-1].review and registrar.steps[-1].fields == ()
    assert registrar.steps[3].fields == ("protocolos",)
    # No ui:steps: one step in ui:order.
    (only,) = analisar.steps
    assert only.fields == (
        "decisao",
        "resposta",
        "ajuste_solicitado",
        "motivo_devolucao",
        "justificativa_devolucao",
        "nota_interna",
    )
    assert only.title == "Analisar chamado"


def test_steps_without_order_follow_the_schema_and_star_means_the_rest() -> None:
    schema = {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}}
    assert forms.steps({}, schema)[0].fields == ("a", "b", "c")
    assert forms.steps({"ui:order": ["c", "*", "a"]}, schema)[0].fields == ("c", "b", "a")
    assert forms.steps({"ui:order": ["b"]}, schema)[0].fields == ("b", "a", "c")


def texts(schema: dict[str, Any], ui: dict[str, Any] | None = None) -> tuple[str, str]:
    return json.dumps(schema), json.dumps(ui or {})


# camelCase (SpiffArena's firstName) is a safe key; these are not.
@pytest.mark.parametrize("name", ["a b", "1campo", "com-hifen", "nome__coluna", "ação", "_x"])
def test_field_names_must_be_safe_task_data_keys(name: str) -> None:
    schema = {"type": "object", "properties": {name: {"type": "string"}}}
    with pytest.raises(ProcessDefinitionError) as exc:
        forms.load_form_from_texts(*texts(schema), name="meu-form.json")
    assert "meu-form.json" in exc.value.message
    assert f"'{name}'" in exc.value.message
    assert exc.value.element_id == name


def test_table_column_names_are_checked_too() -> None:
    schema = {
        "type": "object",
        "properties": {
            "t": {
                "type": "array",
                "items": {"type": "object", "properties": {"Col-1": {"type": "string"}}},
            }
        },
    }
    with pytest.raises(ProcessDefinitionError, match="'Col-1'"):
        forms.load_form_from_texts(*texts(schema), name="f.json")


def test_invalid_json_names_the_file_and_line() -> None:
    with pytest.raises(ProcessDefinitionError) as exc:
        forms.load_form_from_texts('{\n  "type": "object",\n  oops\n}', "{}", name="x.json")
    assert "x.json" in exc.value.message and "linha 3" in exc.value.message


def test_invalid_json_schema_is_refused() -> None:
    with pytest.raises(ProcessDefinitionError, match="esquema JSON inválido"):
        forms.load_form_from_texts(*texts({"type": "objeto", "properties": {}}), name="x.json")


def test_steps_must_name_existing_fields_once_and_place_every_required_field() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    unknown = {"ui:steps": [{"id": "um", "title": "Um", "fields": ["a", "zzz"]}]}
    with pytest.raises(ProcessDefinitionError, match="'zzz'"):
        forms.load_form_from_texts(*texts(schema, unknown), name="x.json")
    twice = {"ui:steps": [{"id": "um", "fields": ["a"]}, {"id": "dois", "fields": ["a"]}]}
    with pytest.raises(ProcessDefinitionError, match="aparece nas etapas"):
        forms.load_form_from_texts(*texts(schema, twice), name="x.json")
    missing = {"ui:steps": [{"id": "um", "title": "Um", "fields": []}]}
    with pytest.raises(ProcessDefinitionError, match="obrigatório 'a'"):
        forms.load_form_from_texts(*texts(schema, missing), name="x.json")


def test_unknown_widget_is_refused() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    with pytest.raises(ProcessDefinitionError, match="widget desconhecido"):
        forms.load_form_from_texts(*texts(schema, {"a": {"ui:widget": "slider"}}), name="x")


def test_load_form_refuses_paths_outside_the_forms_dir(tmp_path: Path) -> None:
    with pytest.raises(ProcessDefinitionError, match="não encontrado"):
        forms.load_form(FORMS_DIR, "../pyproject.toml", "registrar-chamado-uischema.json")


# ------------------------------------------------------------------ catalogs


def test_catalog_fields_get_active_options(registrar: forms.FormDefinition) -> None:
    catalogs = seed_catalogs()
    catalogs["tipo_problema"].append(CatalogOption("velho", "Erro antigo", None, False))
    resolved = forms.resolve_catalogs(registrar.schema, catalogs)
    codes = [o["const"] for o in resolved["properties"]["tipo_problema"]["oneOf"]]
    assert codes == ["erro_integracao", "erro_api", "erro_roteamento", "lentidao", "outros"]
    assert resolved["properties"]["objetivo"]["oneOf"] == [{"const": "erro", "title": "Erro"}]
    # The loaded definition is not modified.
    assert "oneOf" not in registrar.schema["properties"]["tipo_problema"]


def test_retired_catalog_value_kept_for_old_data(registrar: forms.FormDefinition) -> None:
    catalogs = seed_catalogs()
    catalogs["tipo_problema"].append(CatalogOption("velho", "Erro antigo", None, False))
    old = {**valid_chamado(), "tipo_problema": "velho"}

    new_schema = forms.resolve_catalogs(registrar.schema, catalogs)
    assert forms.validate(new_schema, old) == {"tipo_problema": "Escolha uma das opções."}

    old_schema = forms.resolve_catalogs(registrar.schema, catalogs, keep=old)
    assert forms.validate(old_schema, old) == {}
    prop = old_schema["properties"]["tipo_problema"]
    assert forms.display_value(prop, "velho") == "Erro antigo"


def test_catalog_help_becomes_the_option_description(analisar: forms.FormDefinition) -> None:
    resolved = forms.resolve_catalogs(analisar.schema, seed_catalogs())
    options = forms.options_of(resolved["properties"]["motivo_devolucao"])
    assert options[0][:2] == ("conta_govbr", "Dificuldade com conta gov.br")
    assert "gov.br" in (options[0][2] or "")


def test_unknown_catalog_is_a_definition_error(registrar: forms.FormDefinition) -> None:
    with pytest.raises(ProcessDefinitionError, match="objetivo"):
        forms.resolve_catalogs(registrar.schema, {"tipo_problema": []})


# ---------------------------------------------------------------- validation


def test_valid_chamado_has_no_errors(schema: dict[str, Any]) -> None:
    assert forms.validate(schema, valid_chamado()) == {}


def test_required_messages_in_form_order(schema: dict[str, Any]) -> None:
    errors = forms.validate(schema, {})
    assert list(errors) == [
        "solicitante_nome",
        "solicitante_email",
        "orgao",
        "nome_servico",
        "objetivo",
        "confirmo_dados",
        "tipo_solicitante",
        "tipo_problema",
        "alcance_defeito",
        "detalhamento",
    ]
    assert errors["orgao"] == "Campo obrigatório."
    assert errors["confirmo_dados"] == "Marque esta confirmação para continuar."


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"telefone": "6199"}, "telefone", forms.FORMAT_MESSAGES["telefone"]),
        ({"telefone": "(61) 99999-9999 ramal 1"}, "telefone", "Informe no máximo 20 caracteres."),
        (
            {"email_institucional": "nome@orgao"},
            "email_institucional",
            "E-mail inválido. Use o formato nome@dominio.gov.br.",
        ),
        ({"nome_servico": "ab"}, "nome_servico", "Informe pelo menos 3 caracteres."),
        ({"detalhamento": "curto"}, "detalhamento", "Informe pelo menos 20 caracteres."),
        ({"detalhamento": "x" * 5001}, "detalhamento", "Informe no máximo 5000 caracteres."),
        ({"confirmo_dados": False}, "confirmo_dados", "Marque esta confirmação para continuar."),
        ({"tipo_solicitante": "hacker"}, "tipo_solicitante", "Escolha uma das opções."),
        ({"objetivo": "outro"}, "objetivo", "Escolha uma das opções."),
        ({"orgao": "INSS"}, "orgao", "Escolha um item da lista de resultados da busca."),
        (
            {"protocolos": [{"numero": NUP}, {"numero": NUP}]},
            "protocolos",
            "Há itens repetidos na tabela.",
        ),
        (
            {"protocolos": [{"numero": NUP}, {"numero": "12a"}]},
            "protocolos.1.numero",
            PROTOCOL_MESSAGE,
        ),
        (
            {"protocolos": [{"numero": "23037.001462/2021-66"}]},
            "protocolos.0.numero",
            PROTOCOL_MESSAGE,
        ),
        ({"protocolos": [{}]}, "protocolos.0.numero", "Campo obrigatório."),
        (
            {"protocolos": [{"numero": str(i)} for i in range(1, 202)]},
            "protocolos",
            "A tabela aceita no máximo 200 itens.",
        ),
        (
            {"anexos": [{"id": i, "nome": f"{i}.pdf"} for i in range(21)]},
            "anexos",
            "Anexe no máximo 20 arquivos.",
        ),
        ({"inventado": "x"}, "inventado", "Campo não reconhecido."),
    ],
)
def test_pt_br_messages(
    schema: dict[str, Any], changes: dict[str, Any], key: str, message: str
) -> None:
    errors = forms.validate(schema, {**valid_chamado(), **changes})
    assert errors == {key: message}


def test_format_messages_of_every_custom_format() -> None:
    schema = {
        "type": "object",
        "properties": {
            "cpf": {"type": "string", "format": "cpf"},
            "fone": {"type": "string", "format": "telefone"},
            "prot": {"type": "string", "format": "protocolo"},
            "mail": {"type": "string", "format": "email"},
        },
    }
    bad = {"cpf": "111.111.111-11", "fone": "(61) 1234", "prot": "1/2", "mail": "a@@b"}
    assert forms.validate(schema, bad) == {
        "cpf": "CPF inválido. Confira os 11 dígitos, ex.: 000.000.000-00.",
        "fone": "Telefone inválido. Use DDD + número, ex.: (61) 99999-9999.",
        "prot": PROTOCOL_MESSAGE,
        "mail": "E-mail inválido. Use o formato nome@dominio.gov.br.",
    }
    good = {"cpf": "390.533.447-05", "fone": "61 3333-4444", "prot": NUP, "mail": "a.b@c.gov.br"}
    assert forms.validate(schema, good) == {}


def test_singular_length_message() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 1}}}
    assert forms.validate(schema, {"a": ""}) == {"a": "Informe pelo menos 1 caractere."}


def test_step_filter_reports_only_that_steps_fields(schema: dict[str, Any]) -> None:
    data = {"telefone": "123", "detalhamento": "curto"}
    step = ["tipo_problema", "alcance_defeito", "detalhamento"]
    assert forms.validate(schema, data, step) == {
        "tipo_problema": "Campo obrigatório.",
        "alcance_defeito": "Campo obrigatório.",
        "detalhamento": "Informe pelo menos 20 caracteres.",
    }
    bad_rows = {"protocolos": [{"numero": "x"}]}
    assert list(forms.validate(schema, bad_rows, ["protocolos"])) == ["protocolos.0.numero"]
    assert forms.validate(schema, bad_rows, []) == {}


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"decisao": "resolver"}, {"resposta": "Campo obrigatório."}),
        (
            {"decisao": "resolver", "resposta": "ok"},
            {"resposta": "Informe pelo menos 5 caracteres."},
        ),
        ({"decisao": "ajuste"}, {"ajuste_solicitado": "Campo obrigatório."}),
        ({"decisao": "devolver"}, {"motivo_devolucao": "Campo obrigatório."}),
        (
            {"decisao": "devolver", "motivo_devolucao": "zzz"},
            {"motivo_devolucao": "Escolha uma das opções."},
        ),
        ({"decisao": "devolver", "motivo_devolucao": "duplicado"}, {}),
        ({"decisao": "resolver", "resposta": "Corrigido na versão 2."}, {}),
        ({}, {"decisao": "Campo obrigatório."}),
        ({"decisao": "arquivar"}, {"decisao": "Escolha uma das opções."}),
    ],
)
def test_conditional_requirements_land_on_the_required_field(
    analysis_schema: dict[str, Any], data: dict[str, Any], errors: dict[str, str]
) -> None:
    assert forms.validate(analysis_schema, data) == errors


def test_conditional_error_hidden_when_field_not_in_step(analysis_schema: dict[str, Any]) -> None:
    assert forms.validate(analysis_schema, {"decisao": "resolver"}, ["decisao"]) == {}


# ------------------------------------------------------------- parse_submission

STEP1 = [
    "solicitante_nome",
    "solicitante_email",
    "telefone",
    "email_institucional",
    "orgao",
    "nome_servico",
    "objetivo",
    "confirmo_dados",
]


def parse(
    schema: dict[str, Any],
    registrar: forms.FormDefinition,
    fields: list[str],
    form: dict[str, list[str]],
    current: dict[str, Any] | None = None,
) -> forms.Submission:
    return forms.parse_submission(schema, registrar.ui, fields, form, current or {})


def test_text_is_stripped_typed_and_normalised(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    form = post(
        _action="next",
        telefone=" 61 99999 9999 ",
        email_institucional="  ",
        orgao="26",
        nome_servico="  Meu serviço ",
        objetivo="erro",
        confirmo_dados="on",
    )
    sub = parse(schema, registrar, STEP1, form, {"email_institucional": "old@x.gov.br"})
    assert sub.data == {
        "telefone": "(61) 99999-9999",
        "orgao": 26,
        "nome_servico": "Meu serviço",
        "objetivo": "erro",
        "confirmo_dados": True,
    }
    assert sub.action == forms.Action("next")
    assert sub.errors == {} and sub.pending == {}


def test_textarea_line_breaks_count_once(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = parse(schema, registrar, ["detalhamento"], post(detalhamento="linha 1\r\nlinha 2\r\n"))
    assert sub.data["detalhamento"] == "linha 1\nlinha 2"


def test_invalid_text_is_kept_as_typed_for_validation(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = parse(schema, registrar, STEP1, post(telefone="61 9", orgao="abc"))
    assert sub.data["telefone"] == "61 9"
    assert sub.data["orgao"] == "abc"
    errors = forms.validate(schema, sub.data, ["telefone", "orgao"])
    assert errors["telefone"].startswith("Telefone inválido")
    assert errors["orgao"] == "Escolha um item da lista de resultados da busca."


def test_checkbox_absent_means_false(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = parse(schema, registrar, STEP1, post(_action="next"), {"confirmo_dados": True})
    assert sub.data["confirmo_dados"] is False


def test_read_only_fields_never_come_from_the_post(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    current = {"solicitante_nome": "Maria da Silva", "solicitante_email": "maria@x.gov.br"}
    form = post(solicitante_nome="Outra Pessoa", solicitante_email="")
    sub = parse(schema, registrar, STEP1, form, current)
    assert sub.data["solicitante_nome"] == "Maria da Silva"
    assert sub.data["solicitante_email"] == "maria@x.gov.br"


def test_fields_outside_the_step_are_ignored(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    form = post(detalhamento="injetado", solicitante_nome="x", rodadas_ajuste="99")
    sub = parse(schema, registrar, ["tipo_solicitante"], form, {"detalhamento": "original"})
    assert sub.data == {"detalhamento": "original"}


def test_current_data_is_not_mutated(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    current = {"protocolos": [{"numero": "1"}]}
    parse(
        schema,
        registrar,
        ["protocolos"],
        post(_action="add_row:protocolos", protocolos__0__numero="1", protocolos__new__numero="2"),
        current,
    )
    assert current == {"protocolos": [{"numero": "1"}]}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("next", forms.Action("next")),
        ("back", forms.Action("back")),
        ("save", forms.Action("save")),
        ("submit", forms.Action("submit")),
        ("goto:informacoes", forms.Action("goto", target="informacoes")),
        ("goto:inexistente", forms.Action("save")),
        ("add_row:protocolos", forms.Action("add_row", target="protocolos")),
        ("add_row:anexos", forms.Action("save")),
        ("remove_row:protocolos:3", forms.Action("remove_row", target="protocolos", index=3)),
        ("remove_row:protocolos:x", forms.Action("save")),
        ("remove_file:17", forms.Action("remove_file", index=17)),
        ("remove_file:abc", forms.Action("save")),
        ("upload:anexos", forms.Action("upload", target="anexos")),
        ("lookup:orgao", forms.Action("lookup", target="orgao")),
        ("lookup:telefone", forms.Action("save")),
        ("next:extra", forms.Action("save")),
        ("", forms.Action("save")),
        ("apagar_tudo", forms.Action("save")),
    ],
)
def test_action_protocol(
    schema: dict[str, Any], registrar: forms.FormDefinition, raw: str, expected: forms.Action
) -> None:
    fields = ["orgao", "telefone", "protocolos", "anexos"]
    assert parse(schema, registrar, fields, post(_action=raw)).action == expected


def test_actions_on_fields_of_another_step_are_refused(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = parse(schema, registrar, ["tipo_solicitante"], post(_action="remove_row:protocolos:0"))
    assert sub.action == forms.Action("save")


def test_missing_action_reads_as_save(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    assert parse(schema, registrar, STEP1, post(telefone="x")).action.kind == "save"


def test_lookup_query_is_returned(schema: dict[str, Any], registrar: forms.FormDefinition) -> None:
    sub = parse(schema, registrar, STEP1, post(_action="lookup:orgao", orgao__q=" inss "))
    assert sub.queries == {"orgao": "inss"}
    assert "orgao" not in sub.data


# ------------------------------------------------------------------- tables


def table_post(action: str, rows: list[str], new: str = "") -> dict[str, list[str]]:
    form = post(_action=action, protocolos__new__numero=new)
    for i, value in enumerate(rows):
        form[f"protocolos__{i}__numero"] = [value]
    return form


def add(
    schema: dict[str, Any],
    registrar: forms.FormDefinition,
    rows: list[str],
    new: str,
    action: str = "add_row:protocolos",
) -> forms.Submission:
    return parse(schema, registrar, ["protocolos"], table_post(action, rows, new))


def test_add_row_appends_the_canonical_protocol(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = add(schema, registrar, ["123456"], f" {NUP_DIGITS} ")
    assert sub.data["protocolos"] == [{"numero": "123456"}, {"numero": NUP}]
    assert sub.errors == {} and sub.pending == {}


def test_add_row_refuses_duplicates_after_normalising(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = add(schema, registrar, [NUP], NUP_DIGITS)
    assert sub.errors == {"protocolos__new__numero": "Este protocolo já está na tabela."}
    assert sub.pending == {"protocolos__new__numero": NUP_DIGITS}
    assert sub.data["protocolos"] == [{"numero": NUP}]


def test_add_row_invalid_protocol_keeps_the_typed_text(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = add(schema, registrar, [NUP], "23037.001462/2021-99")
    assert sub.errors == {"protocolos__new__numero": PROTOCOL_MESSAGE}
    assert sub.pending == {"protocolos__new__numero": "23037.001462/2021-99"}
    assert sub.data["protocolos"] == [{"numero": NUP}]


def test_add_row_empty_is_required(schema: dict[str, Any], registrar: forms.FormDefinition) -> None:
    sub = add(schema, registrar, [], "   ")
    assert sub.errors == {"protocolos__new__numero": "Campo obrigatório."}
    assert "protocolos" not in sub.data


def test_add_row_respects_max_items(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    rows = [str(i) for i in range(1, 201)]
    sub = add(schema, registrar, rows, "999")
    assert sub.errors == {"protocolos__new__numero": "A tabela aceita no máximo 200 itens."}
    assert len(sub.data["protocolos"]) == 200


def test_remove_row_drops_that_row(schema: dict[str, Any], registrar: forms.FormDefinition) -> None:
    sub = add(schema, registrar, ["1", NUP, "3"], "", action="remove_row:protocolos:1")
    assert sub.data["protocolos"] == [{"numero": "1"}, {"numero": "3"}]
    sub = add(schema, registrar, ["1"], "", action="remove_row:protocolos:0")
    assert "protocolos" not in sub.data
    sub = add(schema, registrar, ["1"], "", action="remove_row:protocolos:9")
    assert sub.data["protocolos"] == [{"numero": "1"}]


def test_rows_come_from_the_post_in_index_order(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    form = post(
        _action="save",
        protocolos__2__numero="c",
        protocolos__0__numero="a",
        protocolos__1__numero=" ",
        protocolos__0__intruso="x",
    )
    sub = parse(schema, registrar, ["protocolos"], form, {"protocolos": [{"numero": "z"}]})
    assert sub.data["protocolos"] == [{"numero": "a"}, {"numero": "c"}]


def test_typed_row_is_added_when_moving_on(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    sub = add(schema, registrar, ["1"], NUP, action="next")
    assert sub.data["protocolos"] == [{"numero": "1"}, {"numero": NUP}]
    assert sub.action.kind == "next" and sub.errors == {}
    bad = add(schema, registrar, ["1"], "abc", action="next")
    assert bad.errors == {"protocolos__new__numero": PROTOCOL_MESSAGE}
    assert bad.pending == {"protocolos__new__numero": "abc"}


# -------------------------------------------------------------------- files


def test_attachment_refs_come_only_from_server_data(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    current = {
        "anexos": [
            {"id": 1, "nome": "a.pdf", "tamanho": 10},
            {"id": 2, "nome": "b.pdf", "tamanho": 20},
        ]
    }
    form = post(_action="save", anexos='[{"id": 99, "nome": "alheio.pdf"}]', observacoes="obs")
    sub = parse(schema, registrar, ["anexos", "observacoes"], form, current)
    assert sub.data["anexos"] == current["anexos"]

    sub = parse(
        schema, registrar, ["anexos", "observacoes"], post(_action="remove_file:1"), current
    )
    assert sub.data["anexos"] == [{"id": 2, "nome": "b.pdf", "tamanho": 20}]
    assert sub.action == forms.Action("remove_file", index=1)
    last = parse(
        schema,
        registrar,
        ["anexos"],
        post(_action="remove_file:2"),
        {"anexos": [{"id": 2, "nome": "b.pdf"}]},
    )
    assert "anexos" not in last.data


# --------------------------------------------------------------- diff/display


class OrgaoLookup:
    names = {26: "Instituto Nacional do Seguro Social (INSS)", 7: "Ministério da Saúde"}

    def label_for(self, value: Any) -> str | None:
        return self.names.get(value)

    def search(self, q: str) -> list[tuple[Any, str]]:
        return [(k, v) for k, v in self.names.items() if q.lower() in v.lower()]


def test_diff_lists_changed_fields_with_titles(schema: dict[str, Any]) -> None:
    old = valid_chamado()
    new = {
        **old,
        "tipo_solicitante": "analista_servico",
        "orgao": 7,
        "protocolos": [{"numero": "123456"}, {"numero": NUP_2}],
        "telefone": "",
    }
    changes = forms.diff(old, new, schema, {"orgaos": OrgaoLookup()})
    assert [c.field for c in changes] == ["telefone", "orgao", "tipo_solicitante", "protocolos"]
    by_field = {c.field: c for c in changes}
    assert by_field["telefone"].new_display == "Não informado"
    assert by_field["orgao"].title == "Nome do Órgão"
    assert by_field["orgao"].old_display == "Instituto Nacional do Seguro Social (INSS)"
    assert by_field["tipo_solicitante"].old_display == "Solicitante/Cidadão"
    assert by_field["tipo_solicitante"].new_display == "Analista do Serviço"
    protocolos = by_field["protocolos"]
    assert protocolos.added == (NUP_2,) and protocolos.removed == (NUP,)
    assert protocolos.old == old["protocolos"]


def test_diff_of_equal_data_is_empty(schema: dict[str, Any]) -> None:
    assert forms.diff(valid_chamado(), valid_chamado(), schema) == []
    assert forms.diff({"protocolos": []}, {}, schema) == []


def test_display_values(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    lookups = {"orgaos": OrgaoLookup()}
    assert forms.display_value(props["alcance_defeito"], "todos") == (
        "Todos os protocolos do serviço"
    )
    assert forms.display_value(props["tipo_problema"], "erro_api") == "Erro em alguma API"
    assert forms.display_value(props["confirmo_dados"], True) == "Sim"
    assert forms.display_value(props["confirmo_dados"], False) == "Não"
    assert forms.display_value(props["telefone"], None) == "Não informado"
    assert forms.display_value(props["orgao"], 26, lookups).endswith("(INSS)")
    assert forms.display_value(props["orgao"], 404, lookups) == "Código 404"
    by_field = {"orgao": OrgaoLookup()}
    assert forms.display_value(props["orgao"], 7, by_field, name="orgao") == "Ministério da Saúde"
    assert forms.display_value(props["orgao"], 7, by_field) == "Código 7"
    assert forms.display_value(props["protocolos"], [{"numero": NUP}, {"numero": "1"}]) == (
        f"{NUP}; 1"
    )
    anexos = [{"id": 1, "nome": "tela.png", "tamanho": 1258291}]
    assert forms.display_value(props["anexos"], anexos) == "tela.png (1,2 MB)"
    assert forms.display_value({"type": "string", "format": "cpf"}, "39053344705") == (
        "390.533.447-05"
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1536, "1,5 KB"),
        (10 * 1024, "10 KB"),
        (1258291, "1,2 MB"),
        (25 * 1024 * 1024, "25 MB"),
    ],
)
def test_format_filesize(size: int, text: str) -> None:
    assert forms.format_filesize(size) == text


def test_widgets_are_inferred_from_ui_and_schema(
    schema: dict[str, Any], registrar: forms.FormDefinition
) -> None:
    widgets = {n: forms.widget_of(schema, registrar.ui, n) for n in schema["properties"]}
    assert widgets == {
        "solicitante_nome": "text",
        "solicitante_email": "email",
        "telefone": "tel",
        "email_institucional": "email",
        "orgao": "lookup",
        "nome_servico": "text",
        "objetivo": "select",
        "confirmo_dados": "checkbox",
        "tipo_solicitante": "radio",
        "tipo_problema": "select",
        "alcance_defeito": "radio",
        "detalhamento": "textarea",
        "protocolos": "table",
        "anexos": "files",
        "observacoes": "textarea",
    }


def test_steps_with_errors_follow_step_order(registrar: forms.FormDefinition) -> None:
    errors = {"protocolos.0.numero": "x", "telefone": "y", "protocolos__new__numero": "z"}
    assert forms.steps_with_errors(registrar.steps, errors) == ["identificacao", "protocolos"]
