"""Static files named by their content, so a browser keeps them until they change.

Every page links its style sheets, scripts and images with ``url_for('static', …)``; each
link gets ``?v=`` and the first 12 hex digits of the file's SHA-256. A request that names
the file's current version is answered with ``Cache-Control: public, max-age=31536000,
immutable``, so the browser uses its copy without asking. Before, every file was served
``no-cache`` (Flask's default): in Chromium each page after a visit's first cost the page
and a revalidation of each of its seven fonts (8 requests, each a round trip on a slow
phone and a request for a worker), and every file once the browser no longer held it in
memory; now each later page costs 1. A request without a version, or with an old one (a
page cached before a deploy), keeps ``no-cache`` and its revalidation.

Style sheets name the fonts and images they load by relative ``url(…)``; those links get
their version too, in the style sheet as served (rewritten once per process and file), so
the seven fonts of every page are not revalidated on every page either, and a style
sheet's version changes when a file it loads does.

The version comes from the content, not the file's time: several app servers, each with
its own copy of the files, give the same link for the same file. A version is computed
once per file and kept while the file's size and modification time stay the same (one
``stat`` per link; a file edited under ``make run`` gets a new version at once — a font
edited under a style sheet shows in the style sheet's version once the sheet is saved).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import threading
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, Response, request
from werkzeug.security import safe_join

VERSION_PARAM = "v"
ONE_YEAR = 365 * 24 * 3600
# url(x), url('x'), url("x") in a style sheet.
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_NOT_A_FILE_HERE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/|#)")  # data:, https:, //, /, #


@dataclass(frozen=True)
class _Known:
    mtime_ns: int
    size: int
    version: str
    stylesheet: bytes | None  # a style sheet as served, its links versioned


class StaticVersions:
    """The content version of each file under one folder, computed once per change."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def of(self, filename: str) -> str | None:
        """The file's version, or None when it is not a file under the folder."""
        known = self.find(filename)
        return known.version if known else None

    def stylesheet(self, filename: str) -> bytes | None:
        """A style sheet as served (its relative links versioned); None for other files."""
        known = self.find(filename)
        return known.stylesheet if known else None

    def find(self, filename: str, depth: int = 0) -> _Known | None:
        """What is known of a file under the folder (None: not one), read once per change."""
        path = safe_join(self.folder, filename)
        if path is None:
            return None
        try:
            found = os.stat(path)
            known = self._known.get(filename)
            if known and known.mtime_ns == found.st_mtime_ns and known.size == found.st_size:
                return known
            with open(path, "rb") as file:
                content = file.read()
        except OSError:  # missing, a folder, or removed meanwhile
            return None
        stylesheet = None
        if filename.endswith(".css") and depth < 4:  # a sheet loading a sheet, not a loop
            stylesheet = self._version_links(filename, content, depth)
            content = stylesheet
        known = _Known(
            found.st_mtime_ns, found.st_size, hashlib.sha256(content).hexdigest()[:12], stylesheet
        )
        with self._lock:
            self._known[filename] = known
        return known

    def _version_links(self, filename: str, content: bytes, depth: int) -> bytes:
        here = posixpath.dirname(filename)

        def versioned(match: re.Match[str]) -> str:
            quote, ref = match.group(1), match.group(2).strip()
            if _NOT_A_FILE_HERE.match(ref) or "?" in ref:  # elsewhere, or a query of its own
                return match.group(0)
            path, mark, fragment = ref.partition("#")
            target = self.find(posixpath.normpath(posixpath.join(here, path)), depth + 1)
            if target is None:
                return match.group(0)
            return f"url({quote}{path}?{VERSION_PARAM}={target.version}{mark}{fragment}{quote})"

        # Bytes that are not UTF-8 pass through as they came (surrogateescape both ways).
        text = content.decode("utf-8", "surrogateescape")
        return CSS_URL.sub(versioned, text).encode("utf-8", "surrogateescape")


def init_static_assets(app: Flask) -> None:
    assert app.static_folder is not None
    versions = StaticVersions(app.static_folder)
    app.extensions["static_versions"] = versions

    @app.url_defaults
    def add_version(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and VERSION_PARAM not in values:
            version = versions.of(values.get("filename", ""))
            if version:
                values[VERSION_PARAM] = version

    serve_file = app.view_functions["static"]

    def static(filename: str) -> Any:
        known = versions.find(filename)
        if known is None or known.stylesheet is None:
            # Flask's own view (send_static_file: a Response, or 404 for no file).
            response = cast(Response, serve_file(filename=filename))
        else:
            response = Response(known.stylesheet, mimetype="text/css")
            response.set_etag(known.version)
            response.cache_control.no_cache = True  # as Flask serves any file
            response.make_conditional(request)  # in place: 304 when the browser has it
        named = known is not None and request.args.get(VERSION_PARAM) == known.version
        if named and response.status_code in (200, 304):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = ONE_YEAR
            response.cache_control.immutable = True
        return response

    # The static endpoint's own view: the headers are decided where the file is served,
    # not in a hook every other request would run too.
    app.view_functions["static"] = static
