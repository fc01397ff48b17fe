/* The draft's decision tables in the modeler page: bpmn.io's dmn-js decision table editor
 * (web/static/vendor/modeler/chamados-dmn.js, global ChamadosDmn, built from
 * assets/modeler/dmn.js) over the draft's .dmn files.
 *
 * - Lists the tables (one decision per .dmn file, as the engine runs them), opens one at
 *   a time in the editor, creates a starter table under a decision id, deletes one.
 * - Keeps every table's XML as edited; the modeler's "Salvar rascunho" sends the ones
 *   changed or deleted with the diagram (`dmn: {name: xml | null}`), in the same draft
 *   version, and "Validar" sends them too: the server checks them as it will run them
 *   (engine/decisions.py) and a business rule task's decision against them.
 * - Shows the problems of the tables (by decision id or file name) next to the editor.
 *
 * web/static/js/modeler.js calls window.ChamadosDecisions: load(files), changes(),
 * saved(), showProblems(problems); this file tells it of an edit with the
 * `app:decisions-changed` event on #modeler.
 */
(function () {
  'use strict'

  var section = document.getElementById('decisions')
  var root = document.getElementById('modeler')
  if (!section || !root || typeof window.ChamadosDmn === 'undefined') return
  section.hidden = false

  var pick = document.getElementById('decisions-file')
  var editorEl = document.getElementById('decisions-editor')
  var statusEl = document.getElementById('decisions-status')
  var problemsEl = document.getElementById('decisions-problems')
  var newForm = document.getElementById('decisions-new')
  var newId = document.getElementById('decisions-new-id')
  var newName = document.getElementById('decisions-new-name')
  var newError = document.getElementById('decisions-new-id-erro')
  var actions = section.querySelectorAll('[data-dmn-action]')

  // name → XML as last known (saved or edited); what changed since the last save.
  // `stored`: the tables the saved draft has (deleting one of them is a change to save).
  var state = { texts: {}, stored: {}, changed: {}, deleted: {}, open: null, importing: false, lastRow: null, problems: [] }

  var D = window.ChamadosDmn
  var dmn = new D.Modeler({
    container: editorEl,
    // The editor's own key bindings (copy/paste rules, undo) only while focus is in it.
    // Every keystroke reaches the table at once (no 300 ms delay): "Salvar rascunho"
    // right after typing saves what was typed.
    decisionTable: { keyboard: { bindTo: editorEl }, debounceInput: false, additionalModules: D.additionalModules }
  })
  window.chamadosDmn = dmn // tests and the browser console drive it

  // The decision ids a file declares (one per file is what the engine accepts).
  function decisionIds (text) {
    var found = []
    try {
      var doc = new DOMParser().parseFromString(text, 'application/xml')
      Array.prototype.forEach.call(doc.getElementsByTagNameNS('*', 'decision'), function (node) {
        if (node.getAttribute('id')) found.push(node.getAttribute('id'))
      })
    } catch (error) {
      // unreadable: the server names it
    }
    return found
  }

  function say (message, tone) {
    statusEl.textContent = message
    statusEl.className = 'app-decisions-status' + (tone ? ' ' + tone : '')
  }

  function names () {
    return Object.keys(state.texts).filter(function (n) { return !state.deleted[n] }).sort()
  }

  function notifyModeler () {
    root.dispatchEvent(new CustomEvent('app:decisions-changed'))
  }

  function fillPick () {
    var list = names()
    pick.innerHTML = ''
    if (!list.length) {
      var none = document.createElement('option')
      none.value = ''
      none.textContent = '(nenhuma tabela de decisão)'
      pick.appendChild(none)
    }
    list.forEach(function (name) {
      var option = document.createElement('option')
      option.value = name
      var ids = decisionIds(state.texts[name])
      option.textContent = name + (ids.length ? ' — decisão ' + ids.join(', ') : '') + (state.changed[name] ? ' (não salva)' : '')
      pick.appendChild(option)
    })
    pick.value = state.open || ''
    actions.forEach(function (button) { button.disabled = !state.open })
    section.dataset.files = list.join(' ')
  }

  // The open table's XML into `state.texts` (the editor holds one table at a time).
  async function keepOpen () {
    if (!state.open || !state.changed[state.open]) return
    var result = await dmn.saveXML({ format: true })
    state.texts[state.open] = result.xml
  }

  async function open (name) {
    await keepOpen()
    state.open = name || null
    if (!name) {
      dmn.clear && dmn.clear()
      editorEl.hidden = true
      fillPick()
      return
    }
    editorEl.hidden = false
    state.importing = true
    try {
      await dmn.importXML(state.texts[name])
      describeTable()
      say('Tabela ' + name + ' aberta.')
    } catch (error) {
      say('Não foi possível abrir ' + name + ': ' + error.message, 'danger')
    } finally {
      state.importing = false
    }
    fillPick()
    showProblems(state.problems)
  }

  // dmn-js's table is a grid of editable cells: caption and labels for screen readers.
  function describeTable () {
    var table = editorEl.querySelector('table')
    if (table && !table.querySelector('caption')) {
      var caption = document.createElement('caption')
      caption.className = 'sr-only'
      caption.textContent = 'Regras da tabela de decisão ' + (state.open || '') + ': cada linha é uma regra; as colunas são as entradas e as saídas.'
      table.insertBefore(caption, table.firstChild)
    }
    editorEl.querySelectorAll('[contenteditable="true"]').forEach(function (cell) {
      if (cell.getAttribute('role') !== 'textbox') cell.setAttribute('role', 'textbox')
      // dmn-js names every cell just "Entrada" or "Saída": which rule and column, here.
      var td = cell.closest('td')
      var rowId = td && td.getAttribute('data-row-id')
      var colId = td && (td.getAttribute('data-col-id') || (td.classList.contains('annotation') ? 'annotation' : null))
      var label = cellLabel(rowId, colId)
      if (label && cell.getAttribute('aria-label') !== label) cell.setAttribute('aria-label', label)
    })
  }

  function cellLabel (rowId, colId) {
    if (!rowId || !colId) return null
    var viewer = dmn.getActiveViewer()
    if (!viewer) return null
    var sheetRoot = viewer.get('sheet').getRoot()
    var row = sheetRoot.rows.findIndex(function (r) { return r.id === rowId })
    var col = sheetRoot.cols.find(function (c) { return c.id === colId })
    if (row === -1) return null
    var bo = col && col.businessObject
    var what = 'anotação'
    if (bo && bo.$type === 'dmn:InputClause') what = 'entrada ' + (bo.label || (bo.inputExpression && bo.inputExpression.text) || '')
    if (bo && bo.$type === 'dmn:OutputClause') what = 'saída ' + (bo.label || bo.name || '')
    return 'Regra ' + (row + 1) + ', ' + what.trim()
  }

  function starter (id, label) {
    var esc = function (text) {
      return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')
    }
    return '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_' + id + '" name="' + esc(label) + '" namespace="http://camunda.org/schema/1.0/dmn">\n' +
      '  <decision id="' + id + '" name="' + esc(label) + '">\n' +
      '    <decisionTable id="DecisionTable_' + id + '">\n' +
      '      <input id="Input_' + id + '_1" label="Valor">\n' +
      '        <inputExpression id="InputExpression_' + id + '_1" typeRef="number"><text>valor</text></inputExpression>\n' +
      '      </input>\n' +
      '      <output id="Output_' + id + '_1" label="Resultado" name="resultado" typeRef="string" />\n' +
      '      <rule id="Rule_' + id + '_1">\n' +
      '        <inputEntry id="InputEntry_' + id + '_1"><text>&lt; 100</text></inputEntry>\n' +
      '        <outputEntry id="OutputEntry_' + id + '_1"><text>"baixo"</text></outputEntry>\n' +
      '      </rule>\n' +
      '      <rule id="Rule_' + id + '_2">\n' +
      '        <inputEntry id="InputEntry_' + id + '_2"><text>&gt;= 100</text></inputEntry>\n' +
      '        <outputEntry id="OutputEntry_' + id + '_2"><text>"alto"</text></outputEntry>\n' +
      '      </rule>\n' +
      '    </decisionTable>\n' +
      '  </decision>\n' +
      '</definitions>\n'
  }

  // A decision id is an XML NCName, and the file is named after it.
  var DECISION_ID = /^[A-Za-z_][A-Za-z0-9_-]{0,90}$/

  async function create (event) {
    event.preventDefault()
    var id = newId.value.trim()
    var problem = null
    var taken = names().some(function (n) { return decisionIds(state.texts[n]).indexOf(id) !== -1 })
    if (!DECISION_ID.test(id)) {
      problem = 'Identificador inválido: comece com uma letra ou _ e use só letras sem acento, dígitos, _ ou - (ex.: faixa_de_valor).'
    } else if (taken || names().indexOf(id + '.dmn') !== -1) {
      problem = 'Já existe uma tabela de decisão com este identificador.'
    }
    newError.textContent = problem || ''
    newError.hidden = !problem
    newId.setAttribute('aria-invalid', problem ? 'true' : 'false')
    if (problem) {
      newId.focus()
      return
    }
    var name = id + '.dmn'
    await keepOpen()
    delete state.deleted[name]
    state.texts[name] = starter(id, newName.value.trim() || id)
    state.changed[name] = true
    newId.value = ''
    newName.value = ''
    await open(name)
    say('Tabela ' + name + ' criada (decisão ' + id + '): edite as regras e salve o rascunho. Na tarefa de regra de negócio, informe a decisão ' + id + '.', 'warning')
    notifyModeler()
  }

  async function remove () {
    var name = state.open
    if (!name) return
    if (!window.confirm('Excluir a tabela de decisão ' + name + ' do rascunho? A exclusão vale ao salvar o rascunho.')) return
    if (state.stored[name]) state.deleted[name] = true
    else delete state.texts[name] // never saved: nothing to tell the server
    delete state.changed[name]
    state.open = null
    var rest = names()
    await open(rest[0] || null)
    say('Tabela ' + name + ' excluída: salve o rascunho para confirmar.', 'warning')
    notifyModeler()
    pick.focus()
  }

  function trigger (action) {
    var viewer = dmn.getActiveViewer()
    if (!viewer) return
    var sheetRoot = viewer.get('sheet').getRoot()
    var rule = state.lastRow && sheetRoot.rows.find(function (r) { return r.id === state.lastRow })
    if (action === 'removeRule') {
      if (!rule) {
        say('Escolha uma célula da regra a excluir (Tab até ela) e use o botão de novo.', 'warning')
        return
      }
      viewer.get('editorActions').trigger('removeRule', { rule: rule })
      state.lastRow = null
      say('Regra excluída.')
      return
    }
    viewer.get('editorActions').trigger(action)
    if (action === 'addRule') {
      // The new rule's first cell, for typing right away.
      var rows = sheetRoot.rows
      var last = rows[rows.length - 1]
      setTimeout(function () {
        var cell = last && editorEl.querySelector('td[data-row-id="' + last.id + '"] [contenteditable="true"]')
        if (cell) cell.focus()
      }, 0)
      say('Regra ' + rows.length + ' acrescentada.')
    } else {
      say(action === 'addInput' ? 'Entrada acrescentada: edite-a pelo botão do cabeçalho da coluna.' : 'Saída acrescentada: edite-a pelo botão do cabeçalho da coluna.')
    }
  }

  // ---------------------------------------------------------------- for modeler.js

  function load (files) {
    state.texts = Object.assign({}, files || {})
    state.stored = {}
    Object.keys(state.texts).forEach(function (name) { state.stored[name] = true })
    state.changed = {}
    state.deleted = {}
    state.open = null
    return open(names()[0] || null)
  }

  async function changes () {
    await keepOpen()
    var out = {}
    Object.keys(state.changed).forEach(function (name) { out[name] = state.texts[name] })
    Object.keys(state.deleted).forEach(function (name) { out[name] = null })
    return out
  }

  function saved () {
    var count = Object.keys(state.changed).length + Object.keys(state.deleted).length
    Object.keys(state.deleted).forEach(function (name) {
      delete state.texts[name]
      delete state.stored[name]
    })
    Object.keys(state.changed).forEach(function (name) { state.stored[name] = true })
    state.changed = {}
    state.deleted = {}
    fillPick()
    if (count) say(count === 1 ? 'Tabela salva com o rascunho.' : count + ' tabelas salvas com o rascunho.', 'success')
  }

  function belongs (problem, ids, files) {
    if (problem.element_id && ids.indexOf(problem.element_id) !== -1) return true
    return files.some(function (name) { return problem.message.indexOf(name + ':') === 0 })
  }

  function showProblems (problems) {
    state.problems = problems || []
    var files = names()
    var ids = []
    files.forEach(function (name) { ids = ids.concat(decisionIds(state.texts[name])) })
    var mine = state.problems.filter(function (p) { return belongs(p, ids, files) })
    // A business rule task calling a decision no table has is the diagram's problem, but
    // it is about the tables too: said here as well.
    var calls = state.problems.filter(function (p) { return /tabela de decisão/.test(p.message) && !belongs(p, ids, files) })
    problemsEl.innerHTML = ''
    section.dataset.problems = String(mine.length + calls.length)
    if (!mine.length && !calls.length) {
      var ok = document.createElement('li')
      ok.textContent = files.length ? 'Nenhum problema nas tabelas de decisão.' : 'Nenhuma tabela de decisão no rascunho.'
      problemsEl.appendChild(ok)
      return
    }
    mine.concat(calls).forEach(function (problem) {
      var item = document.createElement('li')
      item.textContent = problem.message
      problemsEl.appendChild(item)
    })
  }

  window.ChamadosDecisions = { load: load, changes: changes, saved: saved, showProblems: showProblems }

  // ---------------------------------------------------------------- wiring

  dmn.on('viewer.created', function (event) {
    event.viewer.on('elements.changed', function () {
      if (state.importing || !state.open) return
      if (!state.changed[state.open]) {
        state.changed[state.open] = true
        fillPick()
      }
      say('Alterações na tabela ' + state.open + ' não salvas.', 'warning')
      notifyModeler()
    })
  })
  // Labels for the cells the editor (re)draws, and the rule the focus is on.
  new MutationObserver(function () { describeTable() }).observe(editorEl, {
    childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ['aria-label']
  })
  editorEl.addEventListener('focusin', function (event) {
    var td = event.target.closest && event.target.closest('td[data-row-id]')
    if (td) state.lastRow = td.getAttribute('data-row-id')
  }, true) // captured: the editor stops focus events from bubbling out of its cells
  pick.addEventListener('change', function () { open(pick.value) })
  newForm.addEventListener('submit', create)
  section.querySelector('[data-dmn-action="delete"]').addEventListener('click', remove)
  section.querySelectorAll('[data-dmn-action][data-editor-action]').forEach(function (button) {
    button.addEventListener('click', function () { trigger(button.dataset.editorAction) })
  })
  window.addEventListener('beforeunload', function (event) {
    if (Object.keys(state.changed).length || Object.keys(state.deleted).length) {
      event.preventDefault()
      event.returnValue = ''
    }
  })
})()
