"""Runs scripts/moddle_roundtrip.mjs with node: what bpmn-moddle, with the modeler's
spiffworkflow descriptor, reads from a BPMN file and writes back."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "moddle_roundtrip.mjs"


@dataclass(frozen=True)
class Read:
    warnings: list[str]
    spiff_types: list[str]
    xml: str


def read(*paths: Path) -> list[Read]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node não encontrado: instale nodejs (make test precisa dele para os assets)")
    if not (ROOT / "node_modules" / "bpmn-moddle").is_dir():
        pytest.fail("node_modules/bpmn-moddle ausente: rode npm ci")
    result = subprocess.run(
        [node, str(SCRIPT), *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [Read(d["warnings"], d["spiffTypes"], d["xml"]) for d in lines]


def differences(a: etree._Element, b: etree._Element, path: str = "") -> list[str]:
    """Element by element: tag, attributes, text (whitespace-only text is layout), children.
    Comments are not model content (bpmn-moddle drops them)."""
    here = f"{path}/{etree.QName(a).localname}[{a.get('id') or ''}]"
    found = []
    if a.tag != b.tag:
        return [f"{here}: {a.tag} != {b.tag}"]
    if dict(a.attrib) != dict(b.attrib):
        found.append(f"{here}: atributos {dict(a.attrib)} != {dict(b.attrib)}")
    if (a.text or "").strip() != (b.text or "").strip():
        found.append(f"{here}: texto {a.text!r} != {b.text!r}")
    kids_a = [c for c in a if isinstance(c.tag, str)]
    kids_b = [c for c in b if isinstance(c.tag, str)]
    if len(kids_a) != len(kids_b):
        found.append(f"{here}: {len(kids_a)} filhos != {len(kids_b)}")
    for x, y in zip(kids_a, kids_b, strict=False):
        found.extend(differences(x, y, here))
    return found


def parse(xml: str | bytes) -> etree._Element:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    return etree.fromstring(data, etree.XMLParser(remove_comments=True))
