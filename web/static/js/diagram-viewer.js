/* A ticket's diagram (see templates/_diagram.html): the bpmn-js navigated viewer (global
 * BpmnJS) draws the ticket's own process version; completed steps, taken flows and the
 * current step get markers. The step list in the page stays: it is the text equivalent. */
(function () {
  'use strict'

  async function show(section) {
    if (typeof window.BpmnJS === 'undefined') return
    var response = await fetch(section.dataset.diagramUrl, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    })
    if (!response.ok) return
    var data = await response.json()
    var container = section.querySelector('.app-diagram-canvas')
    container.hidden = false
    var viewer = new window.BpmnJS({ container: container })
    try {
      await viewer.importXML(data.xml)
    } catch (error) {
      container.hidden = true
      return
    }
    var canvas = viewer.get('canvas')
    var registry = viewer.get('elementRegistry')
    function mark(ids, marker) {
      ids.forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, marker) })
    }
    mark(data.completed, 'app-done')
    // Reached, then cut short by an interrupting boundary event: part of the path taken.
    mark(data.interrupted || [], 'app-done')
    mark(data.flows, 'app-flow-done')
    mark(data.current, 'app-current')
    canvas.zoom('fit-viewport')
    var legend = section.querySelector('.app-diagram-legend')
    if (legend) legend.hidden = false
    section.dataset.loaded = 'true'
  }

  function init() {
    document.querySelectorAll('[data-diagram-url]').forEach(function (section) {
      show(section).catch(function () { /* the text list is still there */ })
    })
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init)
  } else {
    init()
  }
})()
