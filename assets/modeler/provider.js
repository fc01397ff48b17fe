/* The Chamados groups of the properties panel: what the engine runs, in pt-BR.
 *
 * Runs after bpmn-js-properties-panel's own BPMN provider, keeps its "Geral" and
 * "Documentação" groups (name, isExecutable, documentation; the id fields are ours:
 * an NCName, checked as one types, a refused id kept in its field) and drops the library's
 * other groups (signals, errors, escalations, links, compensation stay in the XML as they
 * came; messages, multi-instance, connectors and data objects are spiff_groups.js's).
 * Adds, per element kind:
 *   - sequence flows out of a decision: the condition (Python, as the engine runs it);
 *     gateways: the default flow;
 *   - script tasks: the script; every task: spiffworkflow:preScript / postScript;
 *   - timers: the kind (duration, date, cycle) and the expression, with a pt-BR preview
 *     and the server's check as one types;
 *   - lanes: the group that works them (a lane's name is its group, as in SpiffArena);
 *   - call activities: the process of the same file they start; business rule tasks: the
 *     decision id (spiffworkflow:calledDecisionId: a decision of the model's DMN tables);
 *   - user tasks: form and UI schema files (spiffworkflow:properties) and the
 *     instructions (spiffworkflow:instructionsForEndUser, markdown, with a preview);
 *     manual tasks: the instructions.
 * The page gives what only the server knows through `config.chamados` (see
 * web/static/js/modeler.js): the form files, the groups, the preview calls.
 */
import { h } from '@bpmn-io/properties-panel/preact'
import { useEffect, useState } from '@bpmn-io/properties-panel/preact/hooks'
import {
  Group,
  SelectEntry,
  TextAreaEntry,
  TextFieldEntry,
  isSelectEntryEdited,
  isTextAreaEntryEdited,
  isTextFieldEntryEdited
} from '@bpmn-io/properties-panel'
import { useService } from 'bpmn-js-properties-panel'
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil'
import { LoopReferences, spiffGroups } from './spiff_groups.js'

const KEPT_GROUPS = ['general', 'documentation']
const SCHEMA_KEY = 'formJsonSchemaFilename'
const UI_KEY = 'formUiSchemaFilename'
const REQUESTER_LANE = 'Solicitante'

// ------------------------------------------------------------------ moddle helpers

export function extensionOf(bo, type) {
  const ext = bo.get('extensionElements')
  const values = (ext && ext.get('values')) || []
  return values.filter((v) => is(v, type))[0] || null
}

/* Commands that put `child` into bo's extension elements (creating them if needed). */
export function addExtensionCommands(element, bo, child, bpmnFactory) {
  const commands = []
  let ext = bo.get('extensionElements')
  if (!ext) {
    ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] })
    ext.$parent = bo
    commands.push({
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: bo, properties: { extensionElements: ext } }
    })
  }
  child.$parent = ext
  commands.push({
    cmd: 'element.updateModdleProperties',
    context: { element, moddleElement: ext, properties: { values: [...ext.get('values'), child] } }
  })
  return commands
}

export function removeExtensionCommands(element, bo, child) {
  const ext = bo.get('extensionElements')
  const values = ext.get('values').filter((v) => v !== child)
  if (!values.length) {
    return [{
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: bo, properties: { extensionElements: undefined } }
    }]
  }
  return [{
    cmd: 'element.updateModdleProperties',
    context: { element, moddleElement: ext, properties: { values } }
  }]
}

export function run(commandStack, commands) {
  if (commands.length) commandStack.execute('properties-panel.multi-command-executor', commands)
}

/* A text extension element (instructions, pre/post script): set, change or remove. */
export function setTextExtension(services, element, type, text, holder) {
  const { bpmnFactory, commandStack } = services
  const bo = holder || getBusinessObject(element)
  const existing = extensionOf(bo, type)
  const value = text || ''
  if (!value.trim()) {
    if (existing) run(commandStack, removeExtensionCommands(element, bo, existing))
    return
  }
  if (existing) {
    run(commandStack, [{
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: existing, properties: { value } }
    }])
    return
  }
  run(commandStack, addExtensionCommands(element, bo, bpmnFactory.create(type, { value }), bpmnFactory))
}

export function textExtension(element, type, holder) {
  const found = extensionOf(holder || getBusinessObject(element), type)
  return (found && found.get('value')) || ''
}

/* spiffworkflow:properties / spiffworkflow:property name= value=, as SpiffArena writes them. */
function spiffProperty(bo, name) {
  const holder = extensionOf(bo, 'spiffworkflow:Properties')
  const found = holder ? holder.get('properties').filter((p) => p.get('name') === name)[0] : null
  return found ? found.get('value') || '' : ''
}

function setSpiffProperties(services, element, updates) {
  const { bpmnFactory, commandStack } = services
  const bo = getBusinessObject(element)
  const commands = []
  let holder = extensionOf(bo, 'spiffworkflow:Properties')
  let list = holder ? [...holder.get('properties')] : []
  if (!holder) {
    holder = bpmnFactory.create('spiffworkflow:Properties', { properties: [] })
    commands.push(...addExtensionCommands(element, bo, holder, bpmnFactory))
  }
  Object.keys(updates).forEach((name) => {
    const value = updates[name]
    const existing = list.filter((p) => p.get('name') === name)[0]
    if (!value) {
      list = list.filter((p) => p !== existing)
    } else if (existing) {
      commands.push({
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: existing, properties: { value } }
      })
    } else {
      const property = bpmnFactory.create('spiffworkflow:Property', { name, value })
      property.$parent = holder
      list.push(property)
    }
  })
  commands.push({
    cmd: 'element.updateModdleProperties',
    context: { element, moddleElement: holder, properties: { properties: list } }
  })
  run(commandStack, commands)
}

export function useServices() {
  return {
    bpmnFactory: useService('bpmnFactory'),
    commandStack: useService('commandStack'),
    modeling: useService('modeling'),
    moddle: useService('moddle'),
    elementRegistry: useService('elementRegistry'),
    debounce: useService('debounceInput'),
    chamados: useService('config').chamados || {}
  }
}

// ------------------------------------------------------------------ ids

const NCNAME = /^[A-Za-z_][\w.-]*$/

/* An id as the engine and SpiffArena accept it: an XML NCName, unique in the model. */
export function checkId(target, value) {
  if (!value) return 'Informe o identificador.'
  const assigned = target.$model.ids.assigned(value)
  if (assigned && assigned !== target) return 'Outro elemento já usa este identificador: escolha outro.'
  if (/\s/.test(value)) return 'O identificador não pode ter espaços (use _ no lugar, ex.: analisar_pedido).'
  if (value.indexOf(':') !== -1) {
    return 'O identificador não pode ter dois-pontos (ex.: use analisar_pedido, não x:analisar_pedido).'
  }
  if (!NCNAME.test(value)) {
    return 'Identificador inválido: comece com uma letra ou _ e use só letras sem acento, dígitos, _, - ou . (um NCName do XML, ex.: Process_1).'
  }
  return null
}

/* Replaces the library's id fields: an id refused as typed stays in the field with its
 * message (nothing typed is lost) until it is fixed — typing the old id back clears it. */
function idEntry(label, targetOf, apply) {
  return function Entry(props) {
    const { element, id } = props
    const services = useServices()
    const target = targetOf(element)
    const [typed, setTyped] = useState(null)
    useEffect(() => setTyped(null), [element])
    return TextFieldEntry({
      element,
      id,
      label,
      getValue: () => (typed !== null ? typed : target.get('id')),
      setValue: (value, error) => {
        if (error) return setTyped(value)
        setTyped(null)
        if (value !== target.get('id')) apply(services, element, target, value)
      },
      validate: (value) => checkId(target, value),
      debounce: services.debounce
    })
  }
}

const ElementIdEntry = idEntry(
  'Identificador (id)',
  (element) => getBusinessObject(element),
  (services, element, target, value) => services.modeling.updateProperties(element, { id: value })
)
const ProcessIdEntry = idEntry(
  'Identificador do processo (id)',
  (element) => getBusinessObject(element).get('processRef'),
  (services, element, target, value) => run(services.commandStack, [{
    cmd: 'element.updateModdleProperties',
    context: { element, moddleElement: target, properties: { id: value } }
  }])
)

function withOwnIds(group) {
  if (group.id !== 'general') return group
  const entries = group.entries.map((entry) => {
    if (entry.id === 'id') return Object.assign({}, entry, { component: ElementIdEntry })
    if (entry.id === 'processId') return Object.assign({}, entry, { component: ProcessIdEntry })
    return entry
  })
  return Object.assign({}, group, { entries })
}

// ------------------------------------------------------------------ conditions and default flows

function isDecision(bo) {
  return is(bo, 'bpmn:ExclusiveGateway') || is(bo, 'bpmn:InclusiveGateway')
}

/* Camunda's ${…} and Zeebe's =… do not run here: the message says what to write. */
export function checkPython(text) {
  const value = (text || '').trim()
  if (value.indexOf('${') !== -1 || value.indexOf('#{') !== -1) {
    return 'A plataforma executa Python: escreva a expressão sem ${ }, por exemplo decisao == "resolver".'
  }
  if (value.startsWith('=')) {
    return 'A plataforma executa Python: escreva a expressão sem o = do início, por exemplo decisao == "resolver".'
  }
  return null
}

function ConditionEntry(props) {
  const { element, id } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const source = bo.get('sourceRef')
  const isDefault = source && source.get('default') === bo
  const getValue = () => {
    const expression = bo.get('conditionExpression')
    return (expression && expression.get('body')) || ''
  }
  const setValue = (value) => {
    const expression = bo.get('conditionExpression')
    if (!value || !value.trim()) {
      services.modeling.updateProperties(element, { conditionExpression: undefined })
    } else if (expression) {
      run(services.commandStack, [{
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: expression, properties: { body: value } }
      }])
    } else {
      const created = services.bpmnFactory.create('bpmn:FormalExpression', { body: value })
      services.modeling.updateProperties(element, { conditionExpression: created })
    }
  }
  return TextAreaEntry({
    element,
    id,
    label: 'Condição (expressão Python)',
    description: isDefault
      ? 'Este é o fluxo padrão do gateway: é seguido quando nenhuma outra condição vale e não precisa de condição.'
      : 'Avaliada com os dados do chamado, ex.: decisao == "resolver". O fluxo é seguido quando ela vale.',
    getValue,
    setValue,
    validate: checkPython,
    debounce: services.debounce,
    monospace: true,
    rows: 2
  })
}

function DefaultFlowEntry(props) {
  const { element, id } = props
  const { modeling } = useServices()
  const bo = getBusinessObject(element)
  const outgoing = bo.get('outgoing') || []
  const getOptions = () => [{ value: '', label: '(nenhum)' }].concat(outgoing.map((flow) => {
    const target = flow.get('targetRef')
    const to = target ? target.get('name') || target.get('id') : '?'
    return { value: flow.get('id'), label: (flow.get('name') || flow.get('id')) + ' → ' + to }
  }))
  return SelectEntry({
    element,
    id,
    label: 'Fluxo padrão (seguido quando nenhuma condição vale)',
    getValue: () => (bo.get('default') ? bo.get('default').get('id') : ''),
    setValue: (value) => {
      const flow = outgoing.filter((f) => f.get('id') === value)[0]
      modeling.updateProperties(element, { default: flow || undefined })
    },
    getOptions
  })
}

// ------------------------------------------------------------------ scripts

function ScriptEntry(props) {
  const { element, id } = props
  const { modeling, debounce } = useServices()
  const bo = getBusinessObject(element)
  return TextAreaEntry({
    element,
    id,
    label: 'Script (Python)',
    description: 'Executado com os dados do chamado como variáveis, ex.: total = valor * 2.',
    getValue: () => bo.get('script') || '',
    setValue: (value) => modeling.updateProperties(element, { script: value || undefined }),
    debounce,
    monospace: true,
    rows: 6
  })
}

function textExtensionEntry(type, label, description) {
  return function Entry(props) {
    const { element, id } = props
    const services = useServices()
    return TextAreaEntry({
      element,
      id,
      label,
      description,
      getValue: () => textExtension(element, type),
      setValue: (value) => setTextExtension(services, element, type, value),
      debounce: services.debounce,
      monospace: true,
      rows: 3
    })
  }
}

const PreScriptEntry = textExtensionEntry(
  'spiffworkflow:PreScript',
  'Script antes da tarefa (preScript, Python)',
  'Executado quando a tarefa começa.'
)
const PostScriptEntry = textExtensionEntry(
  'spiffworkflow:PostScript',
  'Script depois da tarefa (postScript, Python)',
  'Executado quando a tarefa é concluída.'
)

// ------------------------------------------------------------------ timers

const TIMER_KINDS = [
  { value: 'timeDuration', label: 'Duração (ex.: "P10D", 10 dias)' },
  { value: 'timeDate', label: 'Data e hora (ex.: "2026-12-01T09:00:00-03:00")' },
  { value: 'timeCycle', label: 'Repetição (ex.: "R3/P1D", 3 vezes, uma por dia)' }
]

function timerDefinition(element) {
  const defs = getBusinessObject(element).get('eventDefinitions') || []
  return defs.filter((d) => is(d, 'bpmn:TimerEventDefinition'))[0] || null
}

function timerKind(definition) {
  return TIMER_KINDS.map((k) => k.value).filter((k) => definition.get(k))[0] || null
}

/* businessDeadline:<var> of the enclosing process (engine/policy.py): a date timer that
 * reads <var> is that many business days after its step starts. */
function processDeadlines(element) {
  let node = getBusinessObject(element)
  while (node && !is(node, 'bpmn:Process')) {
    node = node.$parent
    if (node && is(node, 'bpmn:Participant')) node = node.get('processRef')
  }
  const found = {}
  const holder = node ? extensionOf(node, 'spiffworkflow:Properties') : null
  ;(holder ? holder.get('properties') : []).forEach((p) => {
    const name = p.get('name') || ''
    if (name.indexOf('businessDeadline:') === 0) found[name.slice(17)] = p.get('value') || ''
  })
  return found
}

function TimerKindEntry(props) {
  const { element, id } = props
  const { commandStack, bpmnFactory } = useServices()
  const definition = timerDefinition(element)
  return SelectEntry({
    element,
    id,
    label: 'Tipo de temporizador',
    getValue: () => timerKind(definition) || '',
    setValue: (kind) => {
      const current = timerKind(definition)
      const old = current ? definition.get(current) : null
      const expression = bpmnFactory.create('bpmn:FormalExpression', {
        body: old ? old.get('body') : ''
      })
      expression.$parent = definition
      const properties = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined }
      if (kind) properties[kind] = expression
      run(commandStack, [{
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: definition, properties }
      }])
    },
    getOptions: () => [{ value: '', label: '(escolha)' }].concat(TIMER_KINDS)
  })
}

function TimerValueEntry(props) {
  const { element, id } = props
  const services = useServices()
  const definition = timerDefinition(element)
  const kind = timerKind(definition) || 'timeDuration'
  const expression = definition.get(kind)
  const value = (expression && expression.get('body')) || ''
  const [check, setCheck] = useState({ key: null, preview: '', error: null })
  const key = kind + '\u0000' + value
  useEffect(() => {
    let live = true
    const ask = services.chamados.previewTimer
    if (!value.trim() || !ask) {
      setCheck({ key, preview: '', error: null })
      return undefined
    }
    ask(kind, value, processDeadlines(element)).then((answer) => {
      if (live) setCheck({ key, preview: answer.preview || '', error: answer.error || null })
    })
    return () => { live = false }
  }, [key])
  const known = check.key === key
  return TextFieldEntry({
    element,
    id,
    label: 'Valor do temporizador (expressão Python)',
    description: known && check.preview
      ? 'Prévia: ' + check.preview
      : 'Texto entre aspas, ex.: "P10D" (10 dias), "PT4H" (4 horas); ou o nome de um dado do chamado.',
    getValue: () => value,
    setValue: (text) => {
      const commands = []
      if (expression) {
        commands.push({
          cmd: 'element.updateModdleProperties',
          context: { element, moddleElement: expression, properties: { body: text } }
        })
      } else {
        const created = services.bpmnFactory.create('bpmn:FormalExpression', { body: text })
        created.$parent = definition
        const properties = {}
        properties[kind] = created
        commands.push({
          cmd: 'element.updateModdleProperties',
          context: { element, moddleElement: definition, properties }
        })
      }
      run(services.commandStack, commands)
    },
    // The server's answer for the value as stored; a value being typed is checked
    // once the typing pauses (the panel's debounce), then the answer shows here.
    validate: (text) => (known && text === value ? check.error : null),
    debounce: services.debounce
  })
}

// ------------------------------------------------------------------ lanes → groups

function slug(text) {
  return (text || '').normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50)
}

const INITIATOR_LANES = ['solicitante', 'requerente', 'process initiator', 'process_initiator', 'initiator']

/* The option a lane's name stands for, matched as engine/groups.py matches it. */
function laneChoice(name, groups) {
  const wanted = (name || '').trim().toLowerCase()
  if (!wanted) return ''
  if (INITIATOR_LANES.indexOf(wanted) !== -1) return '@solicitante'
  const found = groups.filter((g) => g.key === name || g.name.toLowerCase() === wanted || g.key === slug(name))[0]
  return found ? found.key : '@atual'
}

function LaneGroupEntry(props) {
  const { element, id } = props
  const { modeling, chamados } = useServices()
  const bo = getBusinessObject(element)
  const groups = (chamados.groups && chamados.groups()) || []
  const name = bo.get('name') || ''
  const choice = laneChoice(name, groups)
  return SelectEntry({
    element,
    id,
    label: 'Grupo que trabalha nesta raia',
    description: 'O nome da raia é o grupo (como no SpiffArena). Os grupos e seus membros ficam em Administração → Grupos.',
    getValue: () => choice,
    setValue: (value) => {
      if (value === '@solicitante') return modeling.updateLabel(element, REQUESTER_LANE)
      const group = groups.filter((g) => g.key === value)[0]
      if (group) modeling.updateLabel(element, group.name)
    },
    getOptions: () => {
      const options = [{ value: '', label: '(escolha um grupo)' },
        { value: '@solicitante', label: 'Solicitante (quem abriu o chamado)' }]
      groups.forEach((g) => options.push({ value: g.key, label: g.name }))
      if (choice === '@atual') {
        options.push({ value: '@atual', label: name + ' (nenhum grupo com este nome: será criado vazio ao publicar)' })
      }
      return options
    }
  })
}

// ------------------------------------------------------------------ user and manual tasks

function formFileEntry(key, label) {
  return function Entry(props) {
    const { element, id } = props
    const services = useServices()
    const bo = getBusinessObject(element)
    const current = spiffProperty(bo, key)
    return SelectEntry({
      element,
      id,
      label,
      getValue: () => current,
      setValue: (value) => {
        const updates = {}
        updates[key] = value
        setSpiffProperties(services, element, updates)
      },
      getOptions: () => {
        const names = ((services.chamados.forms && services.chamados.forms()) || []).slice()
        if (current && names.indexOf(current) === -1) names.push(current)
        return [{ value: '', label: '(nenhum)' }].concat(names.map((n) => ({ value: n, label: n })))
      }
    })
  }
}

const SchemaEntry = formFileEntry(SCHEMA_KEY, 'Esquema do formulário (JSON Schema)')
const UiEntry = formFileEntry(UI_KEY, 'UI do formulário (UI schema)')

function FormActions(props) {
  const { element } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const create = () => {
    const names = services.chamados.createForm(bo)
    const updates = {}
    updates[SCHEMA_KEY] = names.schema
    updates[UI_KEY] = names.ui
    setSpiffProperties(services, element, updates)
  }
  return h('div', { class: 'bio-properties-panel-entry app-panel-actions' }, [
    h('button', { type: 'button', class: 'br-button secondary small', onClick: create },
      'Criar formulário para esta tarefa'),
    h('a', { class: 'br-button tertiary small', href: services.chamados.formUrl(bo.get('id')) },
      'Editar o formulário (salve antes)')
  ])
}

function InstructionsEntry(props) {
  const { element, id } = props
  const services = useServices()
  const type = 'spiffworkflow:InstructionsForEndUser'
  const value = textExtension(element, type)
  const [preview, setPreview] = useState({ text: null, html: '' })
  useEffect(() => {
    let live = true
    const ask = services.chamados.previewMarkdown
    if (!value.trim() || !ask) {
      setPreview({ text: value, html: '' })
      return undefined
    }
    ask(value).then((html) => { if (live) setPreview({ text: value, html }) })
    return () => { live = false }
  }, [value])
  const field = TextAreaEntry({
    element,
    id,
    label: 'Instruções ao usuário (markdown)',
    description: 'Mostradas acima do formulário (ou do botão “Concluir”). Use {{ nome_do_dado }} para dados do chamado.',
    getValue: () => value,
    setValue: (text) => setTextExtension(services, element, type, text),
    debounce: services.debounce,
    rows: 5
  })
  const previewId = 'app-panel-preview-' + id
  return h('div', null, [
    field,
    h('div', { class: 'bio-properties-panel-entry app-panel-preview-entry' }, [
      h('p', { class: 'bio-properties-panel-label', id: previewId + '-title' }, 'Prévia das instruções'),
      h('div', {
        class: 'app-panel-preview',
        id: previewId,
        role: 'region',
        'aria-labelledby': previewId + '-title',
        'aria-live': 'polite',
        // Rendered by the server (web/markdown.py: markdown-it, raw HTML off, then nh3).
        dangerouslySetInnerHTML: { __html: preview.text === value && preview.html ? preview.html : '<p>(sem instruções)</p>' }
      })
    ])
  ])
}

// ------------------------------------------------------------------ call activities and decisions

export function definitionsOf(bo) {
  let node = bo
  while (node && !is(node, 'bpmn:Definitions')) node = node.$parent
  return node
}

/* The process a call activity starts: one of the same file (the engine refuses others). */
function CalledProcessEntry(props) {
  const { element, id } = props
  const { modeling } = useServices()
  const bo = getBusinessObject(element)
  let own = bo
  while (own && !is(own, 'bpmn:Process')) own = own.$parent
  const definitions = definitionsOf(bo)
  const processes = ((definitions && definitions.get('rootElements')) || [])
    .filter((r) => is(r, 'bpmn:Process') && r !== own)
  const current = bo.get('calledElement') || ''
  return SelectEntry({
    element,
    id,
    label: 'Processo chamado (do mesmo arquivo)',
    description: 'A atividade inicia este processo e espera o fim dele para seguir.',
    getValue: () => current,
    setValue: (value) => modeling.updateProperties(element, { calledElement: value || undefined }),
    getOptions: () => {
      const options = [{ value: '', label: '(escolha um processo)' }].concat(processes.map((p) => ({
        value: p.get('id'), label: (p.get('name') ? p.get('name') + ' (' + p.get('id') + ')' : p.get('id'))
      })))
      if (current && !processes.some((p) => p.get('id') === current)) {
        options.push({ value: current, label: current + ' (não está neste arquivo)' })
      }
      return options
    }
  })
}

function CalledDecisionEntry(props) {
  const { element, id } = props
  const services = useServices()
  const type = 'spiffworkflow:CalledDecisionId'
  return TextFieldEntry({
    element,
    id,
    label: 'Decisão (id da tabela DMN, calledDecisionId)',
    description: 'O id de uma decisão das tabelas deste modelo (seção “Tabelas de decisão”, abaixo do diagrama); a validação diz se nenhuma tabela a tem.',
    getValue: () => textExtension(element, type),
    setValue: (value) => setTextExtension(services, element, type, value),
    debounce: services.debounce
  })
}

// The platform's own reading of an end event (engine/policy.py): the result its requester
// is told when the instance ends there, a text template over the instance's data.
function OutcomeEntry(props) {
  const { element, id } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  return TextFieldEntry({
    element,
    id,
    label: 'Resultado para o solicitante (outcome)',
    description: 'O que o solicitante lê como resultado quando o chamado termina aqui, ex.: Pedido aprovado. Pode usar {{ nome_do_dado }}.',
    getValue: () => spiffProperty(bo, 'outcome'),
    setValue: (value) => setSpiffProperties(services, element, { outcome: (value || '').trim() }),
    debounce: services.debounce
  })
}

// ------------------------------------------------------------------ groups per element

export function group(id, label, entries) {
  return entries.length ? { id, label, entries, component: Group } : null
}

function chamadosGroups(element) {
  const bo = getBusinessObject(element)
  const groups = []
  if (is(bo, 'bpmn:SequenceFlow') && bo.get('sourceRef') && isDecision(bo.get('sourceRef'))) {
    groups.push(group('app-condition', 'Condição', [
      { id: 'conditionExpression', component: ConditionEntry, isEdited: isTextAreaEntryEdited }
    ]))
  }
  if (isDecision(bo)) {
    groups.push(group('app-default-flow', 'Decisão', [
      { id: 'defaultFlow', component: DefaultFlowEntry, isEdited: isSelectEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:UserTask')) {
    groups.push(group('app-user-task', 'Formulário e instruções', [
      { id: 'formJsonSchemaFilename', component: SchemaEntry, isEdited: isSelectEntryEdited },
      { id: 'formUiSchemaFilename', component: UiEntry, isEdited: isSelectEntryEdited },
      { id: 'formActions', component: FormActions },
      { id: 'instructionsForEndUser', component: InstructionsEntry, isEdited: isTextAreaEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:ManualTask')) {
    groups.push(group('app-manual-task', 'Instruções', [
      { id: 'instructionsForEndUser', component: InstructionsEntry, isEdited: isTextAreaEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:ScriptTask')) {
    groups.push(group('app-script', 'Script', [
      { id: 'script', component: ScriptEntry, isEdited: isTextAreaEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:Task')) {
    groups.push(group('app-pre-post', 'Scripts antes e depois', [
      { id: 'preScript', component: PreScriptEntry, isEdited: isTextAreaEntryEdited },
      { id: 'postScript', component: PostScriptEntry, isEdited: isTextAreaEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:Event') && timerDefinition(element)) {
    groups.push(group('app-timer', 'Temporizador', [
      { id: 'timerKind', component: TimerKindEntry, isEdited: isSelectEntryEdited },
      { id: 'timerValue', component: TimerValueEntry, isEdited: isTextFieldEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:CallActivity')) {
    groups.push(group('app-call', 'Processo chamado', [
      { id: 'calledElement', component: CalledProcessEntry, isEdited: isSelectEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:BusinessRuleTask')) {
    groups.push(group('app-decision', 'Tabela de decisão', [
      { id: 'calledDecisionId', component: CalledDecisionEntry, isEdited: isTextFieldEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:EndEvent')) {
    groups.push(group('app-outcome', 'Resultado', [
      { id: 'outcome', component: OutcomeEntry, isEdited: isTextFieldEntryEdited }
    ]))
  }
  if (is(bo, 'bpmn:Lane')) {
    groups.push(group('app-lane', 'Grupo', [
      { id: 'laneGroup', component: LaneGroupEntry, isEdited: isSelectEntryEdited }
    ]))
  }
  return groups.filter(Boolean)
}

class ChamadosPropertiesProvider {
  constructor(propertiesPanel, config) {
    // Below the BPMN provider's priority (1000): its groups are there to filter.
    propertiesPanel.registerProvider(500, this)
    this.chamados = (config && config.chamados) || {}
  }

  getGroups(element) {
    return (groups) => groups
      .filter((g) => KEPT_GROUPS.indexOf(g.id) !== -1)
      .map(withOwnIds)
      .concat(chamadosGroups(element))
      .concat(spiffGroups(element, { chamados: this.chamados }))
  }
}

ChamadosPropertiesProvider.$inject = ['propertiesPanel', 'config']

export default {
  __init__: ['chamadosPropertiesProvider', 'chamadosLoopReferences'],
  chamadosPropertiesProvider: ['type', ChamadosPropertiesProvider],
  chamadosLoopReferences: ['type', LoopReferences]
}
