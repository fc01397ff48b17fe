"""Accessibility checks for the browser tests: axe-core (WCAG 2.0/2.1 A and AA) and reflow.

axe-core is a development dependency (package.json, pinned): it is read from node_modules
and evaluated through the DevTools protocol, which the page's Content-Security-Policy does
not govern, so it is never served by the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA: the gov.br accessibility model (eMAG) follows them.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

_RUN = """async (tags) => {
  const result = await window.axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
  })
  return result.violations.map(v => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary),
  }))
}"""


def axe_source() -> str:
    if not AXE_JS.is_file():
        raise AssertionError(f"{AXE_JS} não encontrado: rode `npm ci` (axe-core é devDependency)")
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Every WCAG 2.0/2.1 A+AA violation axe finds on the page as it is now (any impact)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    return list(page.evaluate(_RUN, WCAG_TAGS))


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']}")
        lines.extend(f"      {n}" for n in v["nodes"])
    return "\n".join(lines)


def horizontal_overflow(page: Any, settle_ms: int = 1500) -> int:
    """CSS pixels the page is wider than its viewport (0 when nothing scrolls sideways).

    Measured again for up to ``settle_ms`` while it is not 0: right after an action the
    Design System's scripts may still be laying the page out (measured once on a loaded
    machine, a page with an error summary was wider for an instant, with no element past
    its edge). An overflow that lasts is what fails."""
    measure = "() => document.documentElement.scrollWidth - window.innerWidth"
    try:
        page.wait_for_function(f"({measure})() <= 0", timeout=settle_ms)
    except Exception:  # noqa: BLE001 - still wider after settling: report it
        pass
    return int(page.evaluate(measure))


def overflowing_elements(page: Any) -> list[str]:
    """The elements that stick out past the viewport's right edge (for the failure message)."""
    return list(
        page.evaluate(
            """() => {
              const w = window.innerWidth, out = []
              const clipped = (el) => {
                for (let a = el.parentElement; a; a = a.parentElement) {
                  const o = getComputedStyle(a).overflowX
                  const inside = a.getBoundingClientRect().right <= w + 1
                  if (o !== 'visible' && o !== 'clip' && inside) return true
                }
                return false
              }
              for (const el of document.querySelectorAll('body *')) {
                if (clipped(el)) continue
                const r = el.getBoundingClientRect()
                if (r.right > w + 1 && r.width > 0) {
                  out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                    (el.className && typeof el.className === 'string'
                      ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
                    ' right=' + Math.round(r.right))
                }
                if (out.length >= 8) break
              }
              return out
            }"""
        )
    )
