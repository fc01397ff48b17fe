/* The process modeler: bpmn-js (vendored distro, global BpmnJS) talking to the server.
 *
 * - Loads the draft (GET data-draft-url: {xml, version, forms}).
 * - Saves with the draft's version (POST data-save-url, JSON), whatever the model's state:
 *   the server answers with what still blocks publishing, [{element_id, message}], shown in
 *   a list and on the diagram (422 only for what is not a model at all, nothing saved).
 * - Validates as one edits (after a pause) and on demand, without saving; imports a .bpmn (the server checks it safely and sends it
 *   back), downloads the diagram as it is on screen.
 * - A side panel edits the selected element's name and, for user tasks, the form files
 *   (SpiffArena's formJsonSchemaFilename / formUiSchemaFilename properties). Unknown
 *   extension elements are kept as bpmn-moddle generic elements, so nothing is lost.
 */
(function () {
  'use strict'

  var SPIFF_NS = 'http://spiffworkflow.org/bpmn/schema/1.0/core'
  var SCHEMA_KEY = 'formJsonSchemaFilename'
  var UI_KEY = 'formUiSchemaFilename'

  var root = document.getElementById('modeler')
  if (!root || typeof window.BpmnJS === 'undefined') return
  root.hidden = false

  var cfg = root.dataset
  // bpmn-js's own keyboard bindings (undo/redo, delete, select all, direct editing…);
  // they leave keys typed in the side panel's fields alone.
  var modeler = new window.BpmnJS({ container: '#modeler-canvas', keyboard: { bindTo: document } })
  window.chamadosModeler = modeler // tests and the browser console drive it
  var state = { version: null, forms: [], newForms: {}, dirty: false, loading: true }
  var statusEl = document.getElementById('modeler-status')
  var errorsEl = document.getElementById('modeler-errors')
  var panelEl = document.getElementById('modeler-panel-body')

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

  // ---------------------------------------------------------------- problems on the diagram

  var marked = []

  function clearProblems() {
    var canvas = modeler.get('canvas')
    modeler.get('overlays').remove({ type: 'app-error' })
    marked.forEach(function (id) { canvas.removeMarker(id, 'app-invalid') })
    marked = []
  }

  function showProblems(problems) {
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
      await modeler.importXML(answer.data.xml)
      modeler.get('canvas').zoom('fit-viewport')
      state.dirty = false
      state.loading = false
      root.dataset.version = String(state.version)
      root.dataset.ready = 'true'
      say('Diagrama carregado (revisão ' + state.version + ' do rascunho).')
    } catch (error) {
      say('Não foi possível carregar o diagrama: ' + error.message, 'danger')
    }
  }

  async function save() {
    say('Salvando…')
    try {
      var answer = await postJson(cfg.saveUrl, {
        xml: await currentXml(),
        version: state.version,
        new_forms: Object.keys(state.newForms).map(function (k) { return state.newForms[k] })
      })
      if (answer.status === 200) {
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
        renderPanel()
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
      var answer = await postJson(cfg.validateUrl, { xml: await currentXml() })
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
        var answer = await postJson(cfg.validateUrl, { xml: await currentXml() })
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
      await modeler.importXML(answer.data.xml)
      modeler.get('canvas').zoom('fit-viewport')
      state.dirty = true
      showProblems(answer.data.errors || [])
      say('Arquivo importado: revise e salve para guardá-lo no rascunho.', 'warning')
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

  // ---------------------------------------------------------------- form properties (generic moddle elements)

  function propertiesElement(bo, create) {
    var moddle = modeler.get('moddle')
    var ext = bo.extensionElements
    if (!ext) {
      if (!create) return null
      ext = moddle.create('bpmn:ExtensionElements', { values: [] })
      ext.$parent = bo
    }
    var values = ext.values || (ext.values = [])
    var props = values.filter(function (v) { return v.$type === 'spiffworkflow:properties' })[0]
    if (!props && create) {
      props = moddle.createAny('spiffworkflow:properties', SPIFF_NS, { $children: [] })
      props.$parent = ext
      values.push(props)
    }
    return props ? { ext: ext, props: props } : null
  }

  function formProperties(bo) {
    var found = {}
    var holder = propertiesElement(bo, false)
    var children = holder ? holder.props.$children || [] : []
    children.forEach(function (c) { if (c.name) found[c.name] = c.value })
    return found
  }

  function setFormProperties(element, updates) {
    var moddle = modeler.get('moddle')
    var holder = propertiesElement(element.businessObject, true)
    var children = holder.props.$children || (holder.props.$children = [])
    Object.keys(updates).forEach(function (name) {
      var value = updates[name]
      var existing = children.filter(function (c) { return c.name === name })[0]
      if (!value) {
        if (existing) children.splice(children.indexOf(existing), 1)
      } else if (existing) {
        existing.value = value
      } else {
        var child = moddle.createAny('spiffworkflow:property', SPIFF_NS, { name: name, value: value })
        child.$parent = holder.props
        children.push(child)
      }
    })
    // Through the command stack: undoable, and it marks the draft as changed.
    modeler.get('modeling').updateProperties(element, { extensionElements: holder.ext })
  }

  // ---------------------------------------------------------------- side panel

  function field(labelText, input) {
    var wrap = document.createElement('div')
    wrap.className = 'br-input mb-2'
    var label = document.createElement('label')
    label.htmlFor = input.id
    label.textContent = labelText
    wrap.appendChild(label)
    wrap.appendChild(input)
    return wrap
  }

  function fileSelect(id, current, onChange) {
    var select = document.createElement('select')
    select.id = id
    var names = state.forms.concat(Object.keys(state.newForms).reduce(function (all, k) {
      return all.concat([state.newForms[k].schema, state.newForms[k].ui])
    }, []))
    if (current && names.indexOf(current) === -1) names.push(current)
    ;[''].concat(names).forEach(function (name) {
      var option = document.createElement('option')
      option.value = name
      option.textContent = name || '(nenhum)'
      option.selected = name === (current || '')
      select.appendChild(option)
    })
    select.addEventListener('change', function () { onChange(select.value) })
    return select
  }

  function renderPanel() {
    var selected = modeler.get('selection').get()
    panelEl.innerHTML = ''
    if (selected.length !== 1) {
      panelEl.innerHTML = '<p class="text-down-01">Selecione um elemento do diagrama.</p>'
      return
    }
    var element = selected[0]
    var bo = element.businessObject
    var info = document.createElement('p')
    info.className = 'text-down-01'
    info.textContent = bo.$type.replace('bpmn:', '') + ' · id ' + bo.id
    panelEl.appendChild(info)

    var name = document.createElement('input')
    name.id = 'panel-name'
    name.type = 'text'
    name.value = bo.name || ''
    name.addEventListener('change', function () {
      modeler.get('modeling').updateLabel(element, name.value)
    })
    panelEl.appendChild(field('Nome', name))

    if (bo.$type !== 'bpmn:UserTask' && bo.$type !== 'bpmn:ManualTask') return
    var props = formProperties(bo)
    panelEl.appendChild(field('Esquema do formulário', fileSelect('panel-schema', props[SCHEMA_KEY], function (v) {
      var update = {}
      update[SCHEMA_KEY] = v
      setFormProperties(element, update)
    })))
    panelEl.appendChild(field('UI do formulário', fileSelect('panel-ui', props[UI_KEY], function (v) {
      var update = {}
      update[UI_KEY] = v
      setFormProperties(element, update)
    })))
    var create = document.createElement('button')
    create.type = 'button'
    create.className = 'br-button secondary small mb-2'
    create.textContent = 'Criar formulário para esta tarefa'
    create.addEventListener('click', function () {
      var schema = bo.id + '-schema.json'
      var ui = bo.id + '-uischema.json'
      if (state.forms.indexOf(schema) === -1) {
        state.newForms[bo.id] = { schema: schema, ui: ui, title: bo.name || bo.id }
      }
      var update = {}
      update[SCHEMA_KEY] = schema
      update[UI_KEY] = ui
      setFormProperties(element, update)
      renderPanel()
      say('Formulário inicial criado para ' + bo.id + ': salve o rascunho e depois edite-o.', 'warning')
    })
    panelEl.appendChild(create)
    var edit = document.createElement('a')
    edit.className = 'br-button tertiary small'
    edit.href = cfg.formUrl.replace('__TASK__', encodeURIComponent(bo.id))
    edit.textContent = 'Editar o formulário (salve antes)'
    panelEl.appendChild(edit)
  }

  // ---------------------------------------------------------------- wiring

  modeler.on('selection.changed', renderPanel)
  modeler.on('commandStack.changed', function () {
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
