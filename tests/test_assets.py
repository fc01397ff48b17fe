"""The layout serves every asset itself: after `scripts/vendor_assets.py` (``make assets``),
base.html references only local /static/ files, and each of them exists."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, flash, render_template, render_template_string

from engine.settings import PROJECT_ROOT
from web import create_app, static_assets

STATIC = PROJECT_ROOT / "web" / "static"
VENDOR = STATIC / "vendor"
PAGE = (
    '{% extends "base.html" %}{% block title %}Teste{% endblock %}'
    "{% block content %}<p>ok</p>{% endblock %}"
)


class Assets(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.forms: list[dict[str, str | None]] = []
        self.hidden: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}
        self.lang: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "link" and a.get("href"):
            self.urls.append(str(a["href"]))
        if tag in ("script", "img", "source", "iframe") and a.get("src"):
            self.urls.append(str(a["src"]))
        if tag == "meta" and a.get("name"):
            self.meta[str(a["name"])] = a.get("content")
        if tag == "form":
            self.forms.append(a)
        if tag == "input" and a.get("type") == "hidden":
            self.hidden.append(a)


@dataclass(frozen=True)
class FakeUser:
    display_name: str
    roles: frozenset[str] = field(default_factory=frozenset)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    if not (VENDOR / "govbr-ds" / "core.min.css").is_file():
        pytest.fail("web/static/vendor is empty: run `make assets` (npm ci + vendor_assets.py)")
    tmp = tmp_path_factory.mktemp("assets")
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'assets.sqlite3'}",
            "TESTING": True,
            "SECRET_KEY": "test",
        }
    )


def page(app: Flask, **context: Any) -> str:
    with app.test_request_context("/"):
        return render_template_string(PAGE, **context)


def static_file(url: str) -> Path:
    assert url.startswith("/static/"), url
    return STATIC / url.removeprefix("/static/").split("?")[0]


def test_base_references_only_local_static_files_that_exist(app: Flask) -> None:
    assets = Assets(page(app))
    assert len(assets.urls) >= 7  # favicon, 4 stylesheets, 3 scripts
    for url in assets.urls:
        assert not re.match(r"^(https?:)?//", url), f"remote asset {url}"
        assert static_file(url).is_file(), f"{url} does not exist"
    names = {Path(u.split("?")[0]).name for u in assets.urls}
    assert {
        "core.min.css",
        "all.min.css",
        "latin.css",
        "app.css",
        "core.min.js",
        "htmx.min.js",
        "app.js",
    } <= names


def test_stylesheets_load_only_files_that_were_vendored(app: Flask) -> None:
    for url in Assets(page(app)).urls:
        css = static_file(url)
        if css.suffix != ".css":
            continue
        for ref in re.findall(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""", css.read_text("utf-8")):
            if ref.startswith("data:"):
                continue
            assert not re.match(r"^(https?:)?//", ref), f"{css.name} loads remote {ref}"
            target = (css.parent / re.split(r"[?#]", ref)[0]).resolve()
            assert target.is_file(), f"{css.name} needs {ref}"


def test_font_awesome_5_matches_the_design_system() -> None:
    # The DS's CSS asks for the "Font Awesome 5 Free" family by name.
    fa = (VENDOR / "fontawesome" / "css" / "all.min.css").read_text("utf-8")
    assert '"Font Awesome 5 Free"' in fa
    assert "Font Awesome\\ 5 Free" in (VENDOR / "govbr-ds" / "core.min.css").read_text("utf-8")


def test_layout_for_anonymous_visitors(app: Flask) -> None:
    html = page(app)
    assets = Assets(html)
    assert assets.lang == "pt-BR"
    assert assets.meta["csrf-token"]
    assert "Chamados — Plataforma de Automação" in html
    assert 'class="br-header' in html and 'class="br-footer' in html
    assert 'class="br-sign-in primary" href="/entrar"' in html
    assert "Fila de trabalho" not in html and "Papéis" not in html
    assert "<title>Teste · Chamados — Plataforma de Automação</title>" in html


def test_layout_for_a_signed_in_analyst(app: Flask) -> None:
    html = page(app, current_user=FakeUser("Ana <Souza>", frozenset({"analyst"})))
    assets = Assets(html)
    assert "Ana &lt;Souza&gt;" in html
    assert "br-sign-in" not in html
    (logout,) = [f for f in assets.forms if f.get("action") == "/sair"]
    assert logout["method"] == "post"
    assert any(h.get("name") == "csrf_token" and h.get("value") for h in assets.hidden)
    assert "Minhas solicitações" in html and "Serviços" in html
    assert "Fila de trabalho" in html and "Papéis" not in html


def test_admin_sees_roles_menu(app: Flask) -> None:
    html = page(app, current_user=FakeUser("Admin", frozenset({"admin"})))
    assert "Papéis" in html and "Fila de trabalho" not in html


def test_flash_messages_become_br_messages(app: Flask) -> None:
    with app.test_request_context("/"):
        for category in ("success", "danger", "warning", "info", "error"):
            flash(f"mensagem {category}", category)
        html = render_template_string(PAGE)
    for tone in ("success", "danger", "warning", "info"):
        assert f'<div class="br-message {tone}">' in html
    assert html.count('class="br-message danger"') == 2  # "error" reads as danger


def test_error_page(app: Flask) -> None:
    with app.test_request_context("/"):
        html = render_template(
            "error.html",
            status=404,
            title="Página não encontrada",
            message="O endereço <b>não</b> existe.",
        )
    assert "Página não encontrada" in html and "404" in html
    assert "&lt;b&gt;não&lt;/b&gt;" in html


def test_htmx_sends_the_csrf_header() -> None:
    js = (STATIC / "js" / "app.js").read_text("utf-8")
    assert "X-CSRFToken" in js and "htmx:configRequest" in js


# --- versioned links: a returning browser keeps the files until they change ----------------


def test_every_static_link_names_its_files_content(app: Flask) -> None:
    client = app.test_client()
    for url in Assets(page(app)).urls:
        path, _, query = url.partition("?")
        served = client.get(url)
        assert served.status_code == 200, url
        # A style sheet's content as served (its own links versioned), any other file's bytes.
        if not path.endswith(".css"):
            assert served.data == static_file(path).read_bytes()
        assert query == f"v={hashlib.sha256(served.data).hexdigest()[:12]}", url


def test_the_named_version_is_kept_a_year_any_other_is_revalidated(app: Flask) -> None:
    client = app.test_client()
    (versioned,) = [u for u in Assets(page(app)).urls if u.startswith("/static/css/app.css?")]
    current = client.get(versioned)
    assert current.status_code == 200
    assert current.cache_control.immutable and current.cache_control.public
    assert current.cache_control.max_age == 365 * 24 * 3600
    assert not current.cache_control.no_cache
    assert not current.headers.getlist("Set-Cookie")  # nothing per person in a shared cache
    for url in ("/static/css/app.css", "/static/css/app.css?v=000000000000"):
        other = client.get(url)  # no version, or a page cached before a deploy
        assert other.status_code == 200
        assert other.cache_control.no_cache and not other.cache_control.max_age, url
    assert client.get("/static/css/nada.css?v=x").status_code == 404


def test_a_changed_file_gets_a_new_version_and_a_missing_one_none(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_text("a{}")
    versions = static_assets.StaticVersions(str(tmp_path))
    first = versions.of("a.css")
    assert first == hashlib.sha256(b"a{}").hexdigest()[:12]
    assert versions.of("a.css") == first
    (tmp_path / "a.css").write_text("a{color:red}")
    assert versions.of("a.css") not in (None, first)
    assert versions.of("b.css") is None
    assert versions.of("../a.css") is None  # outside the folder
    assert versions.of("") is None  # the folder itself


def test_a_stylesheet_names_the_version_of_each_file_it_loads(app: Flask) -> None:
    client = app.test_client()
    (sheet,) = [u for u in Assets(page(app)).urls if "fontawesome/css/all.min.css?" in u]
    served = client.get(sheet)
    assert served.status_code == 200 and served.mimetype == "text/css"
    assert served.cache_control.immutable
    fonts = re.findall(r"url\(([^)]*\.woff2[^)]*)\)", served.get_data(as_text=True))
    assert fonts
    for ref in fonts:
        path, _, query = ref.partition("?")
        font = STATIC / "vendor" / "fontawesome" / "css" / path
        assert query == f"v={hashlib.sha256(font.read_bytes()).hexdigest()[:12]}", ref
        loaded = client.get(f"/static/vendor/fontawesome/webfonts/{Path(path).name}?{query}")
        assert loaded.status_code == 200 and loaded.cache_control.immutable, ref
    # The sheet's own version covers what it serves, and a browser's copy is still good.
    etag = served.headers["ETag"]
    assert client.get(sheet, headers={"If-None-Match": etag}).status_code == 304


def test_a_stylesheets_links_are_versioned_and_nothing_else_changes(tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "f.woff2").write_bytes(b"font")
    font_version = hashlib.sha256(b"font").hexdigest()[:12]
    sheet = tmp_path / "css" / "s.css"
    sheet.write_text(
        "a{src:url(../fonts/f.woff2)}b{src:url('../fonts/f.woff2#x')}"
        'c{src:url("data:font/woff2;base64,AA")}d{src:url(https://cdn.example/f.woff2)}'
        "e{src:url(../fonts/f.woff2?#iefix)}f{src:url(../fonts/missing.woff2)}"
        "g{src:url(../../../etc/passwd)}h{content:'\u00e7'}"
    )
    versions = static_assets.StaticVersions(str(tmp_path))
    served = versions.stylesheet("css/s.css")
    assert (
        served
        == (
            f"a{{src:url(../fonts/f.woff2?v={font_version})}}"
            f"b{{src:url('../fonts/f.woff2?v={font_version}#x')}}"
            'c{src:url("data:font/woff2;base64,AA")}d{src:url(https://cdn.example/f.woff2)}'
            "e{src:url(../fonts/f.woff2?#iefix)}f{src:url(../fonts/missing.woff2)}"
            "g{src:url(../../../etc/passwd)}h{content:'\u00e7'}"
        ).encode()
    )
    assert versions.of("css/s.css") == hashlib.sha256(served).hexdigest()[:12]
    assert versions.stylesheet("fonts/f.woff2") is None  # only style sheets are rewritten
    # A font changed, then its sheet saved: the sheet names the new font, and is new itself.
    before = versions.of("css/s.css")
    (tmp_path / "fonts" / "f.woff2").write_bytes(b"font 2")
    sheet.write_text(sheet.read_text() + " ")
    assert f"?v={hashlib.sha256(b'font 2').hexdigest()[:12]}".encode() in (
        versions.stylesheet("css/s.css") or b""
    )
    assert versions.of("css/s.css") != before
