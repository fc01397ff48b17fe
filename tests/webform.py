"""A tiny browser-like form reader for Flask test-client tests.

It collects what a browser would post from a page's first ``<form method=post>``
that contains a given marker (hidden inputs, typed values, checked boxes and
radios, selected options, textareas), so tests post exactly what the page holds.
"""

from __future__ import annotations

from html.parser import HTMLParser


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, object]] = []
        self._form: dict[str, object] | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._form = {"action": a.get("action", ""), "fields": [], "names": set()}
            self.forms.append(self._form)
        if self._form is None:
            return
        fields: list[tuple[str, str]] = self._form["fields"]  # type: ignore[assignment]
        names: set[str] = self._form["names"]  # type: ignore[assignment]
        name = a.get("name")
        if tag == "input" and name:
            names.add(name)
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            fields.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            names.add(name)
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            fields.append((self._select, a.get("value", "")))
        elif tag == "textarea" and name:
            names.add(name)
            self._textarea = name
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            fields: list[tuple[str, str]] = self._form["fields"]  # type: ignore[assignment]
            fields.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None
        elif tag == "form":
            self._form = None


def form_fields(html: str, containing: str = "_step") -> list[tuple[str, str]]:
    """What the first post form holding an input named ``containing`` (or whose action
    is ``containing``) would send, as (name, value) pairs."""
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        if containing in form["names"] or form["action"] == containing:  # type: ignore[operator]
            return list(form["fields"])  # type: ignore[arg-type]
    raise AssertionError(f"no post form with an input named {containing!r}")


def fill(
    html: str, values: dict[str, str | list[str]], containing: str = "_step"
) -> dict[str, list[str]]:
    """The page's form with ``values`` replacing what the page holds for those names."""
    posted: dict[str, list[str]] = {}
    for name, value in form_fields(html, containing):
        if name not in values:
            posted.setdefault(name, []).append(value)
    for name, value in values.items():
        posted[name] = value if isinstance(value, list) else [value]
    return posted
