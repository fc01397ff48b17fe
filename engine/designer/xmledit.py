"""Small, safe edits of a model's XML (always parsed with ``specs.safe_parse_xml``)."""

from __future__ import annotations

from lxml import etree

from engine import specs
from engine.designer.validation import BPMN_NS, SPIFF_NS
from engine.errors import NotFound

# What a viewer of a ticket's diagram does not need: code and internal notes.
_VIEWER_DROPS = ("script", "conditionExpression", "extensionElements", "documentation")


def _serialize(tree: etree._Element) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def link_task_forms(bpmn: bytes, task_id: str, schema_file: str, ui_file: str | None) -> bytes:
    """Points a user task at its form files (SpiffArena's properties), keeping others."""
    tree = specs.safe_parse_xml(bpmn)
    task = next(
        (
            node
            for node in tree.iter(f"{{{BPMN_NS}}}userTask", f"{{{BPMN_NS}}}manualTask")
            if node.get("id") == task_id
        ),
        None,
    )
    if task is None:
        raise NotFound(f"A tarefa {task_id} não existe no rascunho.")
    extensions = task.find(f"{{{BPMN_NS}}}extensionElements")
    if extensions is None:
        extensions = etree.Element(f"{{{BPMN_NS}}}extensionElements")
        # BPMN wants extensionElements right after documentation, before incoming/outgoing.
        docs = task.findall(f"{{{BPMN_NS}}}documentation")
        task.insert(len(docs), extensions)
    props = extensions.find(f"{{{SPIFF_NS}}}properties")
    if props is None:
        props = etree.SubElement(extensions, f"{{{SPIFF_NS}}}properties")
    wanted = {specs.FORM_SCHEMA_KEY: schema_file, specs.FORM_UI_KEY: ui_file}
    for prop in list(props.findall(f"{{{SPIFF_NS}}}property")):
        if prop.get("name") in wanted:
            props.remove(prop)
    for name, value in wanted.items():
        if value:
            etree.SubElement(props, f"{{{SPIFF_NS}}}property", name=name, value=value)
    return _serialize(tree)


def viewer_xml(bpmn: bytes) -> str:
    """The diagram without scripts, conditions, extensions or documentation."""
    tree = specs.safe_parse_xml(bpmn)
    for local in _VIEWER_DROPS:
        for node in list(tree.iter(f"{{{BPMN_NS}}}{local}")):
            parent = node.getparent()
            if parent is not None:
                parent.remove(node)
    return etree.tostring(tree, encoding="unicode")
