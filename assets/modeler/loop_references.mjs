/* SpiffArena writes a multi-instance's loopDataInputRef / loopDataOutputRef as a name
 * that is often no element's id (a variable of the ticket's data, as SpiffWorkflow reads
 * it); bpmn-moddle drops such a reference with an "unresolved reference" warning — and
 * the modeler then refuses to save what it would lose. Kept instead as a reference to an
 * element of that id, which bpmn-moddle writes back as the same name.
 *
 * Used by the modeler (spiff_groups.js, on import) and by scripts/moddle_roundtrip.mjs
 * (which reads models as the modeler does). */
const LOOP_REF = /^(bpmn:)?loopData(Input|Output)Ref$/

export function keepLoopReferences(warnings, moddle) {
  for (let i = warnings.length - 1; i >= 0; i--) {
    const w = warnings[i]
    const property = (w && w.property) || ''
    if (!LOOP_REF.test(property) || !w.element || !w.value) continue
    if (!w.element.$instanceOf('bpmn:MultiInstanceLoopCharacteristics')) continue
    w.element.set(property.replace(/^bpmn:/, ''), moddle.create('bpmn:ItemAwareElement', { id: w.value }))
    warnings.splice(i, 1)
  }
  return warnings
}
