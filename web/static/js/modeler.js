/* The process modeler: bpmn-js with bpmn.io's properties panel (the bundle
 * web/static/vendor/modeler/chamados-modeler.js, global ChamadosBpmn, built from
 * assets/modeler/ by scripts/vendor_assets.py) talking to the server.
 *
 * - Loads the draft (GET data-draft-url: {xml, version, forms, groups}).
 * - Saves with the draft's version (POST data-save-url, JSON), whatever the model's state:
 *   the server answers with what still blocks publishing, [{element_id, message}], shown in
 *   a list and on the diagram (422 only for what is not a model at all, nothing saved).
 * - Validates as one edits (after a pause) and on demand, without saving; imports a .bpmn (the server checks it safely and sends it
 *   back), downloads the diagram as it is on screen.
 * - The properties panel (assets/modeler/provider.js) edits what the engine runs; SpiffArena's
 *   extension elements are typed by the spiffworkflow moddle descriptor and written as
 *   SpiffArena writes them. What the page knows (form files, groups, previews) reaches the
 *   panel through the `chamados` option below.
 */
(function () {
  'use strict'

  var root = document.getElementById('modeler')
  if (!root || typeof window.ChamadosBpmn === 'undefined') return
  root.hidden = false

  var cfg = root.dataset
  var state = { version: null, forms: [], newForms: {}, groups: [], connectors: [], dirty: false, loading: true, lost: [] }
  var statusEl = document.getElementById('modeler-status')
  var errorsEl = document.getElementById('modeler-errors')
  var panelEl = document.getElementById('modeler-panel-body')

  // What only the page knows, for the properties panel (assets/modeler/provider.js).
  var chamados = {
    forms: function () {
      var names = state.forms.slice()
      Object.keys(state.newForms).forEach(function (k) {
        names.push(state.newForms[k].schema, state.newForms[k].ui)
      })
      return names
    },
    groups: function () { return state.groups },
    connectors: function () { return state.connectors },
    formUrl: function (taskId) { return cfg.formUrl.replace('__TASK__', encodeURIComponent(taskId)) },
    createForm: function (bo) {
      var schema = bo.id + '-schema.json'
      var ui = bo.id + '-uischema.json'
      if (state.forms.indexOf(schema) === -1) {
        state.newForms[bo.id] = { schema: schema, ui: ui, title: bo.name || bo.id }
      }
      say('Formulário inicial criado para ' + bo.id + ': salve o rascunho e depois edite-o.', 'warning')
      return { schema: schema, ui: ui }
    },
    previewTimer: async function (kind, expression) {
      try {
        var answer = await postJson(cfg.timerUrl, { kind: kind, expression: expression, xml: await currentXml() })
        return answer.status === 200 ? answer.data : { preview: null, error: null }
      } catch (error) {
        return { preview: null, error: null }
      }
    },
    previewMarkdown: async function (text) {
      try {
        var answer = await postJson(cfg.instructionsUrl, { text: text })
        return answer.status === 200 ? answer.data.html : ''
      } catch (error) {
        return ''
      }
    }
  }

  var B = window.ChamadosBpmn
  var modeler = new B.Modeler({
    container: '#modeler-canvas',
    // bpmn-js's own keyboard bindings (undo/redo, delete, select all, direct editing…);
    // they leave keys typed in the panel's fields alone.
    keyboard: { bindTo: document },
    propertiesPanel: {
      parent: panelEl,
      // Every section open: what an element has is seen (and reached by Tab) at once.
      layout: { groups: ['general', 'documentation', 'app-condition', 'app-default-flow', 'app-user-task',
        'app-manual-task', 'app-script', 'app-pre-post', 'app-timer', 'app-lane', 'app-outcome', 'app-call', 'app-decision',
        'app-message', 'app-correlation', 'app-multi-instance', 'app-connector', 'app-data-object'].reduce(function (all, id) {
        all[id] = { open: true }
        return all
      }, {}) }
    },
    additionalModules: B.additionalModules,
    moddleExtensions: B.moddleExtensions,
    chamados: chamados
  })
  window.chamadosModeler = modeler // tests and the browser console drive it

  // ---------------------------------------------------------------- server

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]')
    return meta ? meta.getAttribute('content') : ''
  }

  function say(message, tone) {
    statusEl.textContent = message
    statusEl.className = 'app-modeler-status' + (tone ? ' ' + tone : '')
  }

  async function api(url, options) {
    options = options || {}
    var headers = Object.assign({ Accept: 'application/json', 'X-CSRFToken': csrfToken() }, options.headers)
    var response = await fetch(url, Object.assign({ credentials: 'same-origin' }, options, { headers: headers }))
    var type = response.headers.get('Content-Type') || ''
    if (type.indexOf('json') === -1) {
      throw new Error('Resposta inesperada do servidor (HTTP ' + response.status + '). A sessão pode ter expirado: recarregue a página.')
    }
    return { status: response.status, data: await response.json() }
  }

  function postJson(url, body) {
    return api(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  }

  async function currentXml() {
    var result = await modeler.saveXML({ format: true })
    return result.xml
  }

  // The decision tables' editor (static/js/decisions.js), when the page has it: its
  // changed tables travel with the diagram on save and validate.
  var decisions = window.ChamadosDecisions || null
  async function dmnChanges() {
    return decisions ? decisions.changes() : {}
  }

  // ---------------------------------------------------------------- problems on the diagram

  var marked = []

  function clearProblems() {
    var canvas = modeler.get('canvas')
    modeler.get('overlays').remove({ type: 'app-error' })
    marked.forEach(function (id) { canvas.removeMarker(id, 'app-invalid') })
    marked = []
  }

  function showProblems(problems) {
    if (decisions) decisions.showProblems(problems)
    clearProblems()
    errorsEl.innerHTML = ''
    root.dataset.problems = String(problems.length)
    if (!problems.length) {
      var ok = document.createElement('li')
      ok.textContent = 'Nenhum problema encontrado.'
      errorsEl.appendChild(ok)
      return
    }
    var registry = modeler.get('elementRegistry')
    problems.forEach(function (problem) {
      var item = document.createElement('li')
      var element = problem.element_id ? registry.get(problem.element_id) : null
      if (element) {
        var button = document.createElement('button')
        button.type = 'button'
        button.className = 'br-button tertiary small'
        button.textContent = problem.element_id
        button.addEventListener('click', function () {
          modeler.get('selection').select(element)
          modeler.get('canvas').scrollToElement(element)
        })
        item.appendChild(button)
        item.appendChild(document.createTextNode(' ' + problem.message))
        markElement(element, problem.message)
      } else {
        item.textContent = (problem.element_id ? problem.element_id + ': ' : '') + problem.message
      }
      errorsEl.appendChild(item)
    })
  }

  function markElement(element, message) {
    if (marked.indexOf(element.id) === -1) {
      modeler.get('canvas').addMarker(element.id, 'app-invalid')
      marked.push(element.id)
    }
    var badge = document.createElement('div')
    badge.className = 'app-error-badge'
    badge.title = message
    badge.textContent = '!'
    modeler.get('overlays').add(element.id, 'app-error', { position: { top: -10, right: 10 }, html: badge })
  }

  // ---------------------------------------------------------------- actions

  async function load() {
    try {
      var answer = await api(cfg.draftUrl)
      state.version = answer.data.version
      state.forms = answer.data.forms || []
      state.groups = answer.data.groups || []
      await loadConnectors()
      noteLost(await modeler.importXML(answer.data.xml))
      modeler.get('canvas').zoom('fit-viewport')
      if (decisions) await decisions.load(answer.data.decisions || {})
      state.dirty = false
      state.loading = false
      root.dataset.version = String(state.version)
      root.dataset.ready = 'true'
      if (!state.lost.length) say('Diagrama carregado (revisão ' + state.version + ' do rascunho).')
    } catch (error) {
      say('Não foi possível carregar o diagrama: ' + error.message, 'danger')
    }
  }

  // The platform's connectors (operators and their parameters) for service tasks.
  async function loadConnectors() {
    if (!cfg.connectorsUrl) return
    try {
      var answer = await api(cfg.connectorsUrl)
      if (answer.status === 200) state.connectors = answer.data.connectors || []
    } catch (error) {
      state.connectors = []
    }
  }

  // The descriptor types every spiffworkflow element SpiffArena and SpiffWorkflow know;
  // an element it still cannot read would be dropped by saving from here, so saving
  // from the modeler is refused and the designer told why (the draft stays as it was).
  function noteLost(result) {
    state.lost = ((result && result.warnings) || []).map(function (w) { return w.message })
    if (state.lost.length) {
      say('O modelador não reconhece ' + state.lost.length + ' trecho(s) deste modelo e não pode salvá-lo sem perdê-los: ' +
        state.lost.slice(0, 3).join('; ') + '. Edite-o em “Nomes e condições” ou importe o arquivo na página do modelo.', 'danger')
    }
  }

  async function save() {
    if (state.lost.length) {
      say('Nada foi salvo: o modelador perderia trechos que não reconhece (' + state.lost.slice(0, 3).join('; ') + ').', 'danger')
      return
    }
    say('Salvando…')
    try {
      var answer = await postJson(cfg.saveUrl, {
        xml: await currentXml(),
        version: state.version,
        new_forms: Object.keys(state.newForms).map(function (k) { return state.newForms[k] }),
        dmn: await dmnChanges()
      })
      if (answer.status === 200) {
        if (decisions) decisions.saved()
        state.version = answer.data.version
        state.forms = answer.data.forms || state.forms
        state.newForms = {}
        state.dirty = false
        root.dataset.version = String(state.version)
        // Saved whatever its state: what still blocks publishing is listed and marked.
        var problems = answer.data.errors || []
        showProblems(problems)
        if (problems.length) {
          say('Rascunho salvo (revisão ' + state.version + '), com ' + problems.length + ' problema(s): corrija-os antes de publicar.', 'warning')
        } else {
          say('Rascunho salvo (revisão ' + state.version + ').', 'success')
        }
        refreshPanel()
      } else {
        if (answer.data.errors) showProblems(answer.data.errors)
        say('Nada foi salvo: ' + (answer.data.detail || 'erro ' + answer.status), 'danger')
      }
    } catch (error) {
      say('Nada foi salvo: ' + error.message, 'danger')
    }
  }

  async function validate() {
    say('Validando…')
    try {
      var answer = await postJson(cfg.validateUrl, { xml: await currentXml(), dmn: await dmnChanges() })
      var problems = answer.data.errors || []
      showProblems(problems)
      say(problems.length ? problems.length + ' problema(s) encontrado(s).' : 'O modelo é válido.', problems.length ? 'danger' : 'success')
    } catch (error) {
      say('Não foi possível validar: ' + error.message, 'danger')
    }
  }

  // Problems on the diagram as one edits: validated once the editing pauses, never on
  // every keystroke (one request per pause), the list and the markers only.
  var liveTimer = null
  function validateSoon() {
    clearTimeout(liveTimer)
    liveTimer = setTimeout(async function () {
      try {
        var answer = await postJson(cfg.validateUrl, { xml: await currentXml(), dmn: await dmnChanges() })
        if (answer.status === 200) showProblems(answer.data.errors || [])
      } catch (error) {
        // The "Validar" button says why; a background check stays quiet.
      }
    }, 800)
  }

  async function importFile(file) {
    var body = new FormData()
    body.append('arquivo', file)
    say('Importando ' + file.name + '…')
    try {
      var answer = await api(cfg.importUrl, { method: 'POST', body: body })
      if (answer.status !== 200) {
        showProblems(answer.data.errors || [])
        say('Arquivo recusado: ' + answer.data.detail, 'danger')
        return
      }
      noteLost(await modeler.importXML(answer.data.xml))
      modeler.get('canvas').zoom('fit-viewport')
      state.dirty = true
      showProblems(answer.data.errors || [])
      if (!state.lost.length) say('Arquivo importado: revise e salve para guardá-lo no rascunho.', 'warning')
    } catch (error) {
      say('Não foi possível importar: ' + error.message, 'danger')
    }
  }

  async function download() {
    var blob = new Blob([await currentXml()], { type: 'application/xml' })
    var link = document.createElement('a')
    link.href = URL.createObjectURL(blob)
    link.download = (cfg.processId || 'processo') + '.bpmn'
    document.body.appendChild(link)
    link.click()
    link.remove()
    setTimeout(function () { URL.revokeObjectURL(link.href) }, 1000)
  }

  // ---------------------------------------------------------------- the properties panel

  // The panel redraws on selection and on changes; the form files change on saving.
  function refreshPanel() {
    var selected = modeler.get('selection').get()
    if (selected.length) modeler.get('eventBus').fire('elements.changed', { elements: selected })
  }

  // The element list: the keyboard's way to what the panel edits (the canvas is a
  // pointer's surface). Kept in step with the diagram and with the selection.
  var pickEl = document.getElementById('modeler-element')
  var TYPE_LABELS = {
    'bpmn:Participant': 'Processo (pool)', 'bpmn:Lane': 'Raia', 'bpmn:UserTask': 'Tarefa de usuário',
    'bpmn:ManualTask': 'Tarefa manual', 'bpmn:ScriptTask': 'Tarefa de script', 'bpmn:Task': 'Tarefa',
    'bpmn:ServiceTask': 'Tarefa de serviço', 'bpmn:StartEvent': 'Início', 'bpmn:EndEvent': 'Fim',
    'bpmn:BoundaryEvent': 'Evento de borda', 'bpmn:IntermediateCatchEvent': 'Evento intermediário',
    'bpmn:ExclusiveGateway': 'Decisão', 'bpmn:InclusiveGateway': 'Decisão inclusiva',
    'bpmn:ParallelGateway': 'Paralelo', 'bpmn:SequenceFlow': 'Fluxo', 'bpmn:SubProcess': 'Subprocesso',
    'bpmn:CallActivity': 'Atividade de chamada', 'bpmn:BusinessRuleTask': 'Regra de negócio',
    'bpmn:Process': 'Processo'
  }

  function rootProcess() {
    var root = modeler.get('canvas').getRootElement()
    return root && root.type === 'bpmn:Process' ? root : null
  }

  function fillPicker() {
    var current = pickEl.value
    var elements = modeler.get('elementRegistry').filter(function (e) {
      return !e.labelTarget && e.type !== 'label' && e.businessObject && e.businessObject.id &&
        !/^bpmn:(Collaboration|Process|Definitions)$/.test(e.type) && e.parent
    })
    while (pickEl.options.length > 1) pickEl.remove(1)
    // A model without a pool: the process is the diagram's root, shown when nothing is
    // selected; listed first so its id and isExecutable are reached from here too.
    var root = modeler.get('canvas').getRootElement()
    if (root && root.type === 'bpmn:Process') elements.unshift(root)
    elements.forEach(function (e) {
      var bo = e.businessObject
      var option = document.createElement('option')
      option.value = e.id
      option.textContent = (TYPE_LABELS[e.type] || e.type.replace('bpmn:', '')) + ': ' +
        (bo.name ? bo.name + ' (' + bo.id + ')' : bo.id)
      pickEl.appendChild(option)
    })
    pickEl.value = current || (rootProcess() && !modeler.get('selection').get().length ? rootProcess().id : '')
  }

  pickEl.addEventListener('change', function () {
    var element = pickEl.value && modeler.get('elementRegistry').get(pickEl.value)
    if (!element) return
    // A field of the panel still focused commits on blur: first, so the change lands on
    // the element it was typed for and the panel then shows the new one.
    var active = document.activeElement
    if (active && panelEl.contains(active)) active.blur()
    setTimeout(function () {
      if (element === rootProcess()) return modeler.get('selection').select(null)
      modeler.get('selection').select(element)
      if (!element.waypoints) modeler.get('canvas').scrollToElement(element)
    }, 0)
  })
  modeler.on('selection.changed', function (event) {
    var one = event.newSelection.length === 1 ? event.newSelection[0] : null
    if (one && one.labelTarget) one = one.labelTarget
    var root = rootProcess()
    pickEl.value = one ? one.id : (event.newSelection.length ? '' : (root ? root.id : ''))
  })
  modeler.on('import.done', fillPicker)
  modeler.on('commandStack.changed', fillPicker)

  // bpmn.io's panel shows an entry's error and description next to its field; tie them
  // to the field for screen readers (aria-describedby, aria-invalid), and say whether
  // each section's toggle is open (aria-expanded). Redone after every redraw.
  function tieEntries() {
    panelEl.querySelectorAll('.bio-properties-panel-entry').forEach(function (entry) {
      var field = entry.querySelector('input, textarea, select')
      if (!field || !field.id) return
      var ids = []
      var error = entry.querySelector(':scope > .bio-properties-panel-error')
      if (error) {
        if (error.id !== field.id + '-erro') error.id = field.id + '-erro'
        ids.push(error.id)
      }
      var description = entry.querySelector(':scope > .bio-properties-panel-description')
      if (description) {
        if (description.id !== field.id + '-ajuda') description.id = field.id + '-ajuda'
        ids.push(description.id)
      }
      var wanted = ids.join(' ')
      if ((field.getAttribute('aria-describedby') || '') !== wanted) {
        if (wanted) field.setAttribute('aria-describedby', wanted)
        else field.removeAttribute('aria-describedby')
      }
      var invalid = error ? 'true' : 'false'
      if (field.getAttribute('aria-invalid') !== invalid) field.setAttribute('aria-invalid', invalid)
    })
    panelEl.querySelectorAll('.bio-properties-panel-group-header').forEach(function (header) {
      var button = header.querySelector('.bio-properties-panel-group-header-button.bio-properties-panel-arrow')
      if (!button) return
      var open = header.classList.contains('open') ? 'true' : 'false'
      if (button.getAttribute('aria-expanded') !== open) button.setAttribute('aria-expanded', open)
      var title = header.querySelector('.bio-properties-panel-group-header-title')
      var name = 'Abrir ou fechar a seção ' + (title ? title.textContent : '')
      if (button.getAttribute('aria-label') !== name) button.setAttribute('aria-label', name)
    })
  }
  new MutationObserver(tieEntries).observe(panelEl, {
    childList: true, subtree: true, attributes: true, attributeFilter: ['class']
  })

  // ---------------------------------------------------------------- wiring

  modeler.on('commandStack.changed', function () {
    if (state.loading) return
    state.dirty = true
    say('Alterações não salvas.', 'warning')
    validateSoon()
  })
  root.addEventListener('app:decisions-changed', function () {
    if (state.loading) return
    state.dirty = true
    say('Alterações não salvas.', 'warning')
    validateSoon()
  })
  root.querySelector('[data-action="save"]').addEventListener('click', save)
  root.querySelector('[data-action="validate"]').addEventListener('click', validate)
  root.querySelector('[data-action="download"]').addEventListener('click', download)
  document.getElementById('modeler-import').addEventListener('change', function (event) {
    var file = event.target.files && event.target.files[0]
    if (file) importFile(file)
    event.target.value = ''
  })
  document.addEventListener('keydown', function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === 's') {
      event.preventDefault()
      save()
    }
  })
  window.addEventListener('beforeunload', function (event) {
    if (state.dirty) {
      event.preventDefault()
      event.returnValue = ''
    }
  })

  load()
})()
