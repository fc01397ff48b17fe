"""Model templates (e-mails, texts) are bounded in CPU time and length (engine.templating).

The two reproductions of the security review go through the real entry points:
``mail.render`` with a model's templates and ``policy.render``. Each render runs under a
watchdog (SIGALRM): without the bounds the nested loop would run for hours, and the test
must fail, not hang. The watchdog's margin is generous (the CPU budget is 1 s; the CI is
a busy 2-core VM); nothing here asserts a tight timing.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

from engine import mail, policy, templating
from engine.errors import ProcessDefinitionError
from engine.scripting import sanitize_for_md

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://chamados.example.gov.br"
WATCHDOG_SECONDS = 60

NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
# The same, with the sizes from the instance data: no design-time check can see them.
NESTED_LOOPS_FROM_DATA = "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}"
HUGE_REPETITION = "{{ 'a' * 200000000 }}"

TOO_SLOW = "limite de processamento"
TOO_LONG = "longo demais"


@contextmanager
def watchdog(seconds: int = WATCHDOG_SECONDS) -> Iterator[None]:
    """Fails the test (instead of hanging it) if the block runs longer than ``seconds``."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        pytest.fail(f"a renderização não foi interrompida em {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def model_mail(body: str) -> dict[str, str]:
    """A model's e-mail "x" whose plain text content is ``body``."""
    return {
        "mail/x.txt": '{% extends "_layout.txt" %}{% block subject %}Assunto{% endblock %}'
        "{% block content %}" + body + "{% endblock %}",
        "mail/x.html": '{% extends "_layout.html" %}{% block content %}<p>x</p>{% endblock %}',
    }


def render_mail(body: str, **context: Any) -> mail.RenderedMail:
    with watchdog():
        return mail.render(model_mail(body), "x", context, BASE)


def render_text(source: str, **data: Any) -> str | None:
    with watchdog():
        return policy.render(source, data)


# --- the review's reproductions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "data"),
    [(NESTED_LOOPS, {}), (NESTED_LOOPS_FROM_DATA, {"n": 100000})],
    ids=["constant", "from-data"],
)
def test_nested_loops_in_a_mail_stop_at_the_cpu_budget(source: str, data: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match=TOO_SLOW) as refused:
        render_mail(source, **data)
    # The path every broken template takes: a TemplateError the action fails with.
    assert isinstance(refused.value, templating.TemplateLimitError)


def test_a_huge_repetition_in_a_mail_is_refused_before_it_is_built() -> None:
    with pytest.raises(TemplateError, match=TOO_LONG):
        render_mail(HUGE_REPETITION)


@pytest.mark.parametrize(
    ("source", "data", "words"),
    [
        (NESTED_LOOPS, {}, TOO_SLOW),
        (NESTED_LOOPS_FROM_DATA, {"n": 100000}, TOO_SLOW),
        (HUGE_REPETITION, {}, TOO_LONG),
    ],
    ids=["loops-constant", "loops-from-data", "repetition"],
)
def test_a_runaway_text_renders_as_nothing_and_is_logged(
    source: str, data: dict[str, Any], words: str, caplog: pytest.LogCaptureFixture
) -> None:
    # As any text that fails at run time: None, the step and the page go on.
    with caplog.at_level(logging.WARNING, logger="engine.policy"):
        assert render_text(source, **data) is None
    assert any(words in record.getMessage() for record in caplog.records)


def test_nested_constant_loops_are_refused_at_design_time() -> None:
    problem = mail.check_template("mail/x.txt", model_mail(NESTED_LOOPS))
    assert problem is not None and "10.000.000.000 vezes" in problem
    assert mail.check_template("mail/x.txt", model_mail(NESTED_LOOPS_FROM_DATA)) is None
    with pytest.raises(ProcessDefinitionError, match="laços aninhados"):
        policy.read(_process_with_message(NESTED_LOOPS), "p")
    assert policy.read(_process_with_message("{{ n }}"), "p").element("t").message == "{{ n }}"


def _process_with_message(message: str) -> etree._Element:
    namespaces = f'xmlns:bpmn="{policy.BPMN_NS}" xmlns:spiffworkflow="{policy.SPIFF_NS}"'
    xml = f"""<bpmn:definitions {namespaces}>
      <bpmn:process id="p"><bpmn:userTask id="t"><bpmn:extensionElements>
        <spiffworkflow:property name="message" value="{message}"/>
      </bpmn:extensionElements></bpmn:userTask></bpmn:process></bpmn:definitions>"""
    return etree.fromstring(xml.encode())


# --- other ways to a long text or a long render, scaled so that, unbounded, each only
# renders (a few MB, well under a second) and the test fails --------------------------

AMPLIFIERS = {
    "output of a loop": "{% for i in range(20000) %}{{ linha }}{% endfor %}",
    "list printed": "{{ [linha * 10] * 2000 }}",
    "list joined": "{{ ([linha * 10] * 2000) | join }}",
    "concatenation": "{% set a = linha * 9000 %}{{ a ~ a }}",
    "center": "{{ 'a' | center(2000000) }}",
    "method width": "{{ 'a'.ljust(2000000) }}",
    "printf width": "{{ '%2000000s' % 'a' }}",
    "format width": "{{ '{:>2000000}'.format('a') }}",
    "replace": "{{ ('a' * 2000) | replace('a', 'b' * 1000) }}",
    "block assignment": "{% set b %}{% for i in range(20000) %}{{ linha }}{% endfor %}{% endset %}"
    "{{ b | length }}",
    "doubling": "{% set ns = namespace(s=linha) %}{% for i in range(15) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "kept copies": "{% set x = linha * 9000 %}{% set ns = namespace(l=[]) %}"
    "{% for i in range(25) %}{{ ns.l.append(x ~ i) or '' }}{% endfor %}",
    "kept slices": "{% set x = linha * 9000 %}{% set ns = namespace(l=[]) %}"
    "{% for i in range(25) %}{{ ns.l.append(x[i:]) or '' }}{% endfor %}",
}


@pytest.mark.parametrize("source", AMPLIFIERS.values(), ids=AMPLIFIERS.keys())
def test_other_long_texts_are_refused(source: str) -> None:
    with pytest.raises(TemplateError, match="demais"):
        render_mail(source, linha="x" * 100)


def test_a_macro_calling_itself_is_refused_not_a_crash() -> None:
    source = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"
    with pytest.raises(TemplateError, match="chama a si mesmo"):
        render_mail(source)
    assert render_text(source) is None


def test_a_range_past_jinjas_cap_is_a_template_error() -> None:
    # Jinja's own refusal is an OverflowError: a page showing the text would fail with it.
    assert render_text("{{ range(200000) | length }}") is None
    with pytest.raises(TemplateError, match="100.000"):
        render_mail("{{ range(200000) | length }}")


# --- ordinary templates render as before --------------------------------------------------

SAMPLE = {
    "protocolo": "CH-2026-000123",
    "nome": "Maria da Silva",
    "servico": "Aposentadoria por idade",
    "orgao": "INSS",
    "processo": "Chamado",
    "situacao": "Em análise",
    "resultado": "Resolvido.\nVeja https://www.gov.br/x.",
    "mensagem": "Linha 1\nLinha 2 <b>negrito?</b> https://e.gov.br/a.",
    "ajuste_solicitado": "Anexe o print da tela de erro.",
    "resposta": "Seu pedido foi atendido.",
    "justificativa_devolucao": "Faltou o documento.",
    "motivo_devolucao": "conta_govbr",
    "analista": "João",
    "prazo": datetime(2026, 3, 10, 20, 30, tzinfo=UTC),
    "pedido_em": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    "desde": datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
    "expira_em": datetime(2026, 4, 1, 12, 0, tzinfo=UTC),
    "acao": "Concluir a tarefa",
    "elemento": "Task_1",
    "solicitacoes": 3,
    "texto": "Texto do incidente.",
    "titulo": "Sistema fora do ar",
    "avaliacao_escala": [(1, "Não resolveu"), (5, "Resolveu totalmente")],
    **{
        f"{name}_url": f"{BASE}/{name}/7"
        for name in ("tracking", "analise", "tarefa", "meus_dados", "servico", "avaliacao")
    },
    "base_url": BASE + "/",
    "catalogos": {
        "motivo_devolucao": {"conta_govbr": ("Problema com a conta gov.br", "Procure ajuda.")}
    },
}


def _shipped_mail_templates() -> dict[str, str]:
    files = {
        f"mail/{p.name}": p.read_text("utf-8") for p in (ROOT / "processes" / "mail").iterdir()
    }
    for path in (ROOT / "engine" / "mail_templates").iterdir():
        if not path.name.startswith("_"):
            files[f"mail/{path.name}"] = path.read_text("utf-8")
    return files


def _unbounded_like(env: Any) -> SandboxedEnvironment:
    """Jinja's own sandbox, configured as ``env``: what mail rendered with before."""
    plain = SandboxedEnvironment(
        loader=env.loader,
        autoescape=env.autoescape,
        undefined=env.undefined,
        trim_blocks=env.trim_blocks,
        lstrip_blocks=env.lstrip_blocks,
        keep_trailing_newline=env.keep_trailing_newline,
        finalize=lambda value: "" if value is None else value,
    )
    for name in ("datahora", "rich_text", "catalogo", "catalogo_ajuda"):
        plain.filters[name] = env.filters[name]
    return plain


def test_shipped_mail_templates_render_as_with_jinjas_own_sandbox() -> None:
    files = _shipped_mail_templates()
    bounded = mail._new_environment(files)
    plain = _unbounded_like(bounded)
    assert len(files) >= 20
    for name in sorted(files):
        with templating.budget():
            got = templating.render(bounded.get_template(name), SAMPLE)
        assert got == plain.get_template(name).render(SAMPLE), name
        assert len(got) > 50, name
        assert mail.check_template(name, files) is None, name


def test_shipped_texts_render_as_with_jinjas_own_sandbox() -> None:
    plain = SandboxedEnvironment(autoescape=False, undefined=Undefined)
    plain.filters["sanitize_for_md"] = sanitize_for_md
    plain.globals["sanitize_for_md"] = sanitize_for_md
    labels = {"conta_govbr": "Problema com a conta gov.br"}

    def catalogo(_name: str, code: Any) -> Any:
        return labels.get(code, code)

    texts = []
    for path in (ROOT / "processes").glob("*.bpmn"):
        tree = etree.parse(str(path)).getroot()
        for process in tree.iter(f"{{{policy.BPMN_NS}}}process"):
            for element in policy.read(tree, process.get("id") or "").elements.values():
                texts += [t for t in (element.message, element.outcome) if t]
    assert len(texts) >= 5
    for source in texts:
        expected = plain.from_string(source).render(SAMPLE, catalogo=catalogo).strip() or None
        assert policy.render(source, SAMPLE, catalogo=catalogo) == expected, source
        assert expected, source


def test_a_normal_loop_and_arithmetic_still_work() -> None:
    source = (
        "{% for i in range(3) %}{{ loop.index }}:{{ i * 2 + 1 }}{{ ',' if not loop.last }}"
        "{% endfor %} {{ '%05d' % 42 }} {{ 'ab' * 3 }} {{ nomes | join(', ') }} {{ x[1:3] }}"
        " {{ '{:>4}'.format(7) }} {{ 2 ** 10 }} {{ none_value }}"
    )
    data = {"nomes": ["Ana", "Bia"], "x": "abcd", "none_value": None}
    assert render_text(source, **data) == "1:1,2:3,3:5 00042 ababab Ana, Bia bc    7 1024 None"
    text = render_mail(source, **data).text
    assert "1:1,2:3,3:5 00042 ababab Ana, Bia bc    7 1024" in text and "None" not in text
