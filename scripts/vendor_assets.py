#!/usr/bin/env python3
"""Copy the front-end files the app serves from node_modules into web/static/vendor/.

No CDN is reachable from users' browsers, so every stylesheet, script, font and image
is served by the app. Only the files below are copied (plus whatever their CSS points
at with ``url(...)``, keeping relative paths so fonts keep loading). Any missing file
stops the script with a non-zero exit: a half-vendored page must never ship.

The modeler is the one asset built here rather than copied: bpmn-js's modeler with
bpmn.io's properties panel (ES modules) is bundled by esbuild (a pinned devDependency,
run from node_modules: no network) from ``assets/modeler/index.js`` into
``modeler/chamados-modeler.js``, with the licenses of what it holds at its end.

Run after ``npm ci``:  python3 scripts/vendor_assets.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
DEST = ROOT / "web" / "static" / "vendor"

# (source under node_modules, destination under web/static/vendor)
FILES: list[tuple[str, str]] = [
    ("@govbr-ds/core/dist/core.min.css", "govbr-ds/core.min.css"),
    ("@govbr-ds/core/dist/core.min.js", "govbr-ds/core.min.js"),
    ("@govbr-ds/core/dist/favicon.ico", "govbr-ds/favicon.ico"),
    ("@govbr-ds/core/LICENSE", "govbr-ds/LICENSE"),
    ("@fortawesome/fontawesome-free/css/all.min.css", "fontawesome/css/all.min.css"),
    ("@fortawesome/fontawesome-free/LICENSE.txt", "fontawesome/LICENSE.txt"),
    ("@fontsource/raleway/latin.css", "raleway/latin.css"),
    ("@fontsource/raleway/LICENSE", "raleway/LICENSE"),
    ("htmx.org/dist/htmx.min.js", "htmx/htmx.min.js"),
    ("htmx.org/LICENSE", "htmx/LICENSE"),
    # bpmn-js's prebuilt navigated viewer for a ticket's diagram (the modeler is bundled
    # below). Its license asks that the bpmn.io mark stay visible.
    (
        "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
        "bpmn-js/bpmn-navigated-viewer.production.min.js",
    ),
    ("bpmn-js/dist/assets/diagram-js.css", "bpmn-js/assets/diagram-js.css"),
    ("bpmn-js/dist/assets/bpmn-js.css", "bpmn-js/assets/bpmn-js.css"),
    (
        "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css",
        "bpmn-js/assets/bpmn-font/css/bpmn-embedded.css",
    ),
    ("bpmn-js/LICENSE", "bpmn-js/LICENSE"),
    # The properties panel's stylesheet and licenses (its code is in the modeler bundle).
    ("@bpmn-io/properties-panel/dist/assets/properties-panel.css", "modeler/properties-panel.css"),
    ("@bpmn-io/properties-panel/LICENSE", "modeler/LICENSE-properties-panel"),
    ("bpmn-js-properties-panel/LICENSE", "modeler/LICENSE-bpmn-js-properties-panel"),
    # dmn-js's decision table editor (its code is the DMN bundle below): stylesheets, the
    # icon font, license (which, like bpmn-js's, asks that the bpmn.io mark stay visible).
    ("dmn-js/dist/assets/dmn-js-shared.css", "dmn-js/assets/dmn-js-shared.css"),
    ("dmn-js/dist/assets/dmn-js-decision-table.css", "dmn-js/assets/dmn-js-decision-table.css"),
    (
        "dmn-js/dist/assets/dmn-js-decision-table-controls.css",
        "dmn-js/assets/dmn-js-decision-table-controls.css",
    ),
    ("dmn-js/dist/assets/dmn-font/css/dmn.css", "dmn-js/assets/dmn-font/css/dmn.css"),
    ("dmn-js/LICENSE", "dmn-js/LICENSE"),
]

# esbuild's entry and output (under the vendor directory).
BUNDLE_ENTRY = ROOT / "assets" / "modeler" / "index.js"
BUNDLE_OUT = "modeler/chamados-modeler.js"
# The decision table editor (dmn-js), a bundle of its own: only the modeler page loads it.
DMN_BUNDLE_ENTRY = ROOT / "assets" / "modeler" / "dmn.js"
DMN_BUNDLE_OUT = "modeler/chamados-dmn.js"
ESBUILD = NODE_MODULES / ".bin" / "esbuild"

CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""")


class VendorError(Exception):
    pass


def _source(relative: str) -> Path:
    path = NODE_MODULES / relative
    if not path.is_file():
        raise VendorError(f"missing {path} (run `npm ci` first?)")
    return path


def _css_references(css: Path) -> list[str]:
    """Relative files a stylesheet loads (fonts), without query strings or fragments."""
    found = []
    for ref in CSS_URL.findall(css.read_text(encoding="utf-8")):
        if ref.startswith(("data:", "http:", "https:", "//", "/", "#")):
            if ref.startswith(("http:", "https:", "//")):
                raise VendorError(f"{css} loads a remote file: {ref}")
            continue
        found.append(re.split(r"[?#]", ref, maxsplit=1)[0])
    return sorted(set(found))


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)


def vendor(build: Path) -> list[Path]:
    copied = []
    for relative, dest in FILES:
        src = _source(relative)
        _copy(src, build / dest)
        copied.append(build / dest)
        if src.suffix == ".css":
            for ref in _css_references(src):
                ref_src = (src.parent / ref).resolve()
                if not ref_src.is_file():
                    raise VendorError(f"{src} references {ref}, which does not exist")
                ref_dest = (build / dest).parent / ref
                _copy(ref_src, ref_dest)
                copied.append(ref_dest)
    return copied


def bundle(build: Path, entry: Path = BUNDLE_ENTRY, output: str = BUNDLE_OUT) -> Path:
    """A modeler bundle: one minified script, no network, fails loudly."""
    out = build / output
    if not ESBUILD.exists():
        raise VendorError(f"missing {ESBUILD} (run `npm ci` first?)")
    command = [
        str(ESBUILD),
        str(entry),
        "--bundle",
        "--minify",
        "--format=iife",
        "--target=es2019",
        "--legal-comments=eof",
        "--log-level=warning",
        f"--outfile={out}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not out.is_file():
        raise VendorError(f"esbuild failed: {result.stderr.strip() or result.stdout.strip()}")
    return out


def main() -> int:
    try:
        # Build aside and swap, so a failure never leaves a half-filled vendor dir.
        with tempfile.TemporaryDirectory(dir=DEST.parent if DEST.parent.exists() else None) as tmp:
            build = Path(tmp) / "vendor"
            copied = vendor(build)
            copied.append(bundle(build))
            copied.append(bundle(build, DMN_BUNDLE_ENTRY, DMN_BUNDLE_OUT))
            if DEST.exists():
                shutil.rmtree(DEST)
            shutil.move(str(build), DEST)
    except VendorError as exc:
        print(f"vendor_assets: ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"vendor_assets: {len(copied)} files in {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
