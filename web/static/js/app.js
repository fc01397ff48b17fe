/* Small enhancements; every page works without this file.
 * - Initialises the few gov.br DS components the pages use (header, menu, messages):
 *   core-init.js is not loaded because it wires upload/select/wizard to demo behaviour.
 * - Sends the CSRF token with htmx requests.
 * - Enter in a lookup search box or a table's new-row input clicks that widget's own
 *   button (data-enter-action) instead of the form's default action.
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

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', initDesignSystem)
  } else {
    initDesignSystem()
  }
})()
