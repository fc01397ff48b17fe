// Reads BPMN files with bpmn-moddle and the modeler's spiffworkflow descriptor, as the
// modeler does (SpiffArena's loop data references kept, as on its import), and writes them back: prints one JSON line per file,
// {file, warnings: [messages], spiffTypes: [types read], xml: what bpmn-moddle writes}.
// tests/test_spiff_moddle.py and the properties panel's browser test run it with node.
//   node scripts/moddle_roundtrip.mjs model.bpmn [...]
import { readFileSync } from 'node:fs'
import { BpmnModdle } from 'bpmn-moddle'
import { keepLoopReferences } from '../assets/modeler/loop_references.mjs'

const descriptor = JSON.parse(readFileSync(new URL('../assets/modeler/spiffworkflow.json', import.meta.url)))
const moddle = new BpmnModdle({ spiffworkflow: descriptor })

function spiffTypes(element, found, seen) {
  if (!element || typeof element !== 'object' || seen.has(element)) return found
  seen.add(element)
  if (typeof element.$type === 'string' && element.$type.startsWith('spiffworkflow:')) found.add(element.$type)
  for (const key of Object.keys(element)) {
    if (key === '$parent' || key === '$model' || key === '$descriptor') continue
    const value = element[key]
    if (Array.isArray(value)) value.forEach((v) => spiffTypes(v, found, seen))
    else if (value && typeof value === 'object' && value.$type) spiffTypes(value, found, seen)
  }
  return found
}

for (const file of process.argv.slice(2)) {
  const { rootElement, warnings } = await moddle.fromXML(readFileSync(file, 'utf8'))
  keepLoopReferences(warnings, moddle) // as the modeler does on import
  const { xml } = await moddle.toXML(rootElement, { format: true })
  const types = [...spiffTypes(rootElement, new Set(), new Set())].sort()
  console.log(JSON.stringify({ file, warnings: warnings.map((w) => w.message), spiffTypes: types, xml }))
}
