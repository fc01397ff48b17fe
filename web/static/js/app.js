/* Small enhancements; every page works without this file.
 * - Initialises the few gov.br DS components the pages use (header, menu, messages):
 *   core-init.js is not loaded because it wires upload/select/wizard to demo behaviour.
 * - Sends the CSRF token with htmx requests.
 * - Enter in a lookup search box or a table's new-row input clicks that widget's own
 *   button (data-enter-action) instead of the form's default action.
 * - Escape closes the side menu (or the quick-links list) and gives the focus back to the
 *   button that opened it (the DS closes it but leaves the focus nowhere).
 * - A page that comes back with an element marked autofocus (the error summary, the new
 *   row...) keeps it focused even if a component initialised after load moved the focus.
 */
(function () {
  'use strict'

  function initDesignSystem() {
    if (typeof window.core === 'undefined') return
    var components = [
      ['.br-header', 'BRHeader', 'br-header'],
      ['.br-menu', 'BRMenu', 'br-menu'],
      ['.br-message', 'BRAlert', 'br-message']
    ]
    components.forEach(function (c) {
      var Ctor = window.core[c[1]]
      if (!Ctor) return
      document.querySelectorAll(c[0]).forEach(function (el) {
        try { new Ctor(c[2], el) } catch (e) { /* a broken widget must not break the page */ }
      })
    })
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]')
    return meta ? meta.getAttribute('content') : ''
  }

  document.addEventListener('htmx:configRequest', function (event) {
    var token = csrfToken()
    if (token) event.detail.headers['X-CSRFToken'] = token
  })

  document.addEventListener('keydown', function (event) {
    var input = event.target
    if (event.key !== 'Enter' || !input || !input.dataset || !input.dataset.enterAction) return
    if (!input.form) return
    var buttons = input.form.querySelectorAll('button[name="_action"]')
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].value === input.dataset.enterAction) {
        event.preventDefault()
        buttons[i].click()
        return
      }
    }
  })

  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape') return
    var menu = document.querySelector('.br-menu.active')
    var trigger = null
    if (menu) {
      trigger = document.querySelector('[data-toggle="menu"][data-target="#' + menu.id + '"]')
      var close = menu.querySelector('[data-dismiss="menu"]')
      if (close) close.click()
    } else {
      var dropdown = document.querySelector('.header-links.dropdown [data-toggle="dropdown"][aria-expanded="true"]')
      if (dropdown) {
        dropdown.click()
        trigger = dropdown
      }
    }
    if (trigger) {
      event.preventDefault()
      // After the DS has finished closing (it may move the focus itself).
      setTimeout(function () { trigger.focus() }, 0)
    }
  }, true) // capture: see the menu open before the DS's own handler closes it

  function keepAutofocus() {
    var target = document.querySelector('[autofocus]')
    if (target && document.activeElement !== target) target.focus()
  }

  function init() {
    initDesignSystem()
    keepAutofocus()
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init)
  } else {
    init()
  }
})()
