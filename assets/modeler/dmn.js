/* Entry of web/static/vendor/modeler/chamados-dmn.js, bundled by esbuild in
 * scripts/vendor_assets.py: bpmn.io's dmn-js decision table editor, alone (no DRD
 * diagram, no literal or boxed expressions: the engine runs one decision table per
 * file, engine/decisions.py), with pt-BR texts. web/static/js/decisions.js uses it
 * in the modeler page, beside the BPMN diagram. */
import EditingManager from 'dmn-js-shared/lib/base/EditingManager'
import DecisionTableEditor from 'dmn-js-decision-table/lib/Editor'
import { is } from 'dmn-js-shared/lib/util/ModelUtil'
import TranslateModule from './dmn-translate.js'

// dmn-js's Modeler (dmn-js/lib/Modeler) with only the view that opens a decision
// table: what SpiffWorkflow's DMN engine reads.
class DecisionTableModeler extends EditingManager {
  _getViewProviders () {
    return [{
      id: 'decisionTable',
      constructor: DecisionTableEditor,
      opens (element) {
        return is(element, 'dmn:Decision') && is(element.decisionLogic, 'dmn:DecisionTable')
      }
    }]
  }
}

window.ChamadosDmn = {
  Modeler: DecisionTableModeler,
  additionalModules: [TranslateModule]
}
