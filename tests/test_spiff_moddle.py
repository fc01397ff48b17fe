"""The modeler's spiffworkflow moddle descriptor reads SpiffArena's extension elements,
typed, and writes them back as SpiffArena writes them.

bpmn-moddle drops, with a warning, an element of a namespace it knows but of a type it
does not: the descriptor must type everything SpiffArena and SpiffWorkflow's parser
write, or saving from the modeler would lose it. Checked with node over the shipped
models and a model holding every extension element, element by element.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.spiff_moddle import ROOT, differences, parse, read

MODELS = sorted((ROOT / "processes").glob("*.bpmn")) + sorted(
    (ROOT / "tests" / "models").glob("*.bpmn")
)
EVERY_EXTENSION = ROOT / "tests" / "models" / "spiffarena_extensions.bpmn"


def test_every_model_reads_without_warnings_and_writes_back_unchanged() -> None:
    assert len(MODELS) >= 4
    for path, result in zip(MODELS, read(*MODELS), strict=True):
        assert result.warnings == [], path.name
        assert differences(parse(path.read_bytes()), parse(result.xml)) == [], path.name


def test_every_extension_element_is_typed() -> None:
    descriptor = json.loads((ROOT / "assets" / "modeler" / "spiffworkflow.json").read_text())
    element_types = {
        f"spiffworkflow:{t['name']}" for t in descriptor["types"] if "extends" not in t
    }
    (result,) = read(EVERY_EXTENSION)
    assert result.warnings == []
    assert set(result.spiff_types) == element_types  # none left generic, none unused
    written = result.xml
    # As SpiffArena writes them: lower-camel tags, the spiffworkflow prefix.
    for tag in ("instructionsForEndUser", "preScript", "serviceTaskOperator", "unitTest"):
        assert f"<spiffworkflow:{tag}" in written
    assert 'spiffworkflow:scriptsOnInstances="true"' in written


def test_an_unknown_spiffworkflow_element_is_reported(tmp_path: Path) -> None:
    """What the modeler relies on to refuse saving what it would drop (modeler.js)."""
    model = EVERY_EXTENSION.read_text().replace(
        "<spiffworkflow:allowGuest>",
        "<spiffworkflow:somethingNew>x</spiffworkflow:somethingNew><spiffworkflow:allowGuest>",
    )
    path = tmp_path / "novo.bpmn"
    path.write_text(model)
    (result,) = read(path)
    assert any("somethingNew" in w for w in result.warnings)
