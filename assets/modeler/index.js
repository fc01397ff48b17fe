/* Entry of web/static/vendor/modeler/chamados-modeler.js, bundled by esbuild in
 * scripts/vendor_assets.py: bpmn-js's modeler with bpmn.io's properties panel, the
 * spiffworkflow moddle descriptor (SpiffArena's extension elements, typed), the
 * Chamados groups of fields and pt-BR texts. web/static/js/modeler.js uses it. */
import Modeler from 'bpmn-js/lib/Modeler'
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel'
import spiffworkflow from './spiffworkflow.json'
import ChamadosProviderModule from './provider.js'
import TranslateModule from './translate.js'

window.ChamadosBpmn = {
  Modeler,
  additionalModules: [
    BpmnPropertiesPanelModule,
    BpmnPropertiesProviderModule,
    ChamadosProviderModule,
    TranslateModule
  ],
  moddleExtensions: { spiffworkflow }
}
