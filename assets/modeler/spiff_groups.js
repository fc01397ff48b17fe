/* The properties panel's groups for what SpiffArena models hold beyond forms and scripts,
 * read and written as SpiffArena (bpmn-js-spiffworkflow) writes them and as the engine
 * runs them (SpiffWorkflow 3.2's spiff parser, engine/messages.py, engine/connectors.py):
 *
 *   - messages: send / receive tasks and message events choose or create a bpmn:Message
 *     (its name is what the platform delivers by); a throw's payload
 *     (spiffworkflow:messagePayload, a Python expression), a catch's variable
 *     (spiffworkflow:messageVariable), both in the event definition's extension elements
 *     (a task's own for send / receive tasks);
 *   - correlation: bpmn:correlationProperty with one retrieval expression per message
 *     (bpmn:correlationPropertyRetrievalExpression messageRef= → formalExpression, Python
 *     over the message's payload) and the bpmn:correlationKey of the collaboration that
 *     groups it (without a pool, SpiffWorkflow's default key);
 *   - multi-instance: bpmn:multiInstanceLoopCharacteristics (isSequential, loopCardinality
 *     or loopDataInputRef — exactly one, as SpiffWorkflow requires —, inputDataItem,
 *     loopDataOutputRef, outputDataItem, completionCondition);
 *   - service tasks: spiffworkflow:serviceTaskOperator id= resultVariable= with its
 *     spiffworkflow:parameters, the operator chosen among the platform's connectors;
 *   - data object references: the data object they show (its id is the data's name).
 * Every value is checked as one types, in pt-BR; nothing typed is dropped.
 */
import { h } from '@bpmn-io/properties-panel/preact'
import { useEffect, useState } from '@bpmn-io/properties-panel/preact/hooks'
import {
  SelectEntry,
  TextAreaEntry,
  TextFieldEntry,
  isSelectEntryEdited,
  isTextAreaEntryEdited,
  isTextFieldEntryEdited
} from '@bpmn-io/properties-panel'
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil'
import {
  addExtensionCommands,
  checkId,
  checkPython,
  definitionsOf,
  extensionOf,
  group,
  removeExtensionCommands,
  run,
  setTextExtension,
  textExtension,
  useServices
} from './provider.js'
import { keepLoopReferences } from './loop_references.mjs'

// ------------------------------------------------------------------ checks as one types

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const PYTHON_WORDS = ['and', 'or', 'not', 'in', 'is', 'if', 'else', 'for', 'lambda', 'None', 'True', 'False']
const STRING = /(?:\b[rRbBfFuU]{1,2})?(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')/g

/* A Python variable name (what task data is keyed by). */
export function checkVariable(value) {
  const text = (value || '').trim()
  if (!text) return null
  if (!IDENTIFIER.test(text)) {
    return 'Use um nome de variável Python: letras sem acento, dígitos e _, começando por letra ou _ (ex.: itens_pedido).'
  }
  if (PYTHON_WORDS.indexOf(text) !== -1) return text + ' é uma palavra reservada do Python: escolha outro nome.'
  return null
}

/* What is obviously not a Python expression: Camunda / Zeebe syntax, an assignment,
 * unbalanced brackets or quotes, words side by side ("3 vezes"). The server's validation
 * compiles it for real; this only catches the obvious while one types. */
export function checkExpression(value, example) {
  const text = (value || '').trim()
  if (!text) return null
  const foreign = checkPython(text)
  if (foreign) return foreign
  const hint = example ? ' Por exemplo: ' + example + '.' : ''
  const bare = text.replace(STRING, '0')
  if (/["']/.test(bare)) return 'Há aspas sem fechar na expressão.' + hint
  if (/(^|[^=!<>])=($|[^=])/.test(bare)) {
    return 'Isto é uma atribuição, não uma expressão: para comparar use == (ex.: total == 3).'
  }
  const closing = { ')': '(', ']': '[', '}': '{' }
  const open = []
  for (const char of bare) {
    if ('([{'.indexOf(char) !== -1) open.push(char)
    else if (closing[char] && open.pop() !== closing[char]) return 'Parênteses, colchetes ou chaves não fecham.' + hint
  }
  if (open.length) return 'Parênteses, colchetes ou chaves não fecham.' + hint
  const tokens = bare.match(/[A-Za-z_\u00C0-\u017F][\w\u00C0-\u017F]*|\d+(?:\.\d+)?|\S/g) || []
  const operand = (t) => /^[\w\u00C0-\u017F]/.test(t) && PYTHON_WORDS.indexOf(t) === -1
  for (let i = 0; i + 1 < tokens.length; i++) {
    if (operand(tokens[i]) && operand(tokens[i + 1])) {
      return 'Não é uma expressão Python: “' + tokens[i] + ' ' + tokens[i + 1] + '” são dois valores lado a lado.' + hint
    }
  }
  return null
}

function update(services, element, moddleElement, properties) {
  run(services.commandStack, [{
    cmd: 'element.updateModdleProperties',
    context: { element, moddleElement, properties }
  }])
}

function rootsOf(bo) {
  const definitions = definitionsOf(bo)
  return { definitions, roots: (definitions && definitions.get('rootElements')) || [] }
}

// ------------------------------------------------------------------ messages

function messageDefinition(bo) {
  if (!is(bo, 'bpmn:Event')) return null
  return (bo.get('eventDefinitions') || []).filter((d) => is(d, 'bpmn:MessageEventDefinition'))[0] || null
}

/* Where the message reference and SpiffArena's payload / variable live. */
function messageHolder(bo) {
  if (is(bo, 'bpmn:SendTask') || is(bo, 'bpmn:ReceiveTask')) return bo
  return messageDefinition(bo)
}

function throwsMessage(bo) {
  return is(bo, 'bpmn:SendTask') || is(bo, 'bpmn:IntermediateThrowEvent') || is(bo, 'bpmn:EndEvent')
}

function messagesOf(bo) {
  return rootsOf(bo).roots.filter((r) => is(r, 'bpmn:Message'))
}

function MessageSelectEntry(props) {
  const { element, id } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const holder = messageHolder(bo)
  const current = holder.get('messageRef')
  return SelectEntry({
    element,
    id,
    label: 'Mensagem',
    description: throwsMessage(bo)
      ? 'A mensagem enviada: é entregue a quem espera uma mensagem com o mesmo nome.'
      : 'A mensagem esperada: o processo segue quando chega uma mensagem com este nome.',
    getValue: () => (current ? current.get('id') : ''),
    setValue: (value) => {
      const message = messagesOf(bo).filter((m) => m.get('id') === value)[0]
      update(services, element, holder, { messageRef: message || undefined })
    },
    getOptions: () => [{ value: '', label: '(nenhuma)' }].concat(messagesOf(bo).map((m) => ({
      value: m.get('id'),
      label: (m.get('name') || '(sem nome)') + ' (' + m.get('id') + ')'
    })))
  })
}

function NewMessageEntry(props) {
  const { element } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const create = () => {
    const holder = messageHolder(bo)
    const { definitions, roots } = rootsOf(bo)
    const names = messagesOf(bo).map((m) => m.get('name'))
    let n = 1
    while (names.indexOf('mensagem_' + n) !== -1) n++
    const message = services.bpmnFactory.create('bpmn:Message', { name: 'mensagem_' + n })
    message.$parent = definitions
    run(services.commandStack, [
      {
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: definitions, properties: { rootElements: roots.concat([message]) } }
      },
      { cmd: 'element.updateModdleProperties', context: { element, moddleElement: holder, properties: { messageRef: message } } }
    ])
  }
  return h('div', { class: 'bio-properties-panel-entry app-panel-actions' }, [
    h('button', { type: 'button', class: 'br-button secondary small', onClick: create }, 'Criar mensagem')
  ])
}

function MessageNameEntry(props) {
  const { element, id } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const message = messageHolder(bo).get('messageRef')
  return TextFieldEntry({
    element,
    id,
    label: 'Nome da mensagem',
    description: 'O nome pelo qual a plataforma entrega a mensagem (o mesmo no envio e no recebimento).',
    getValue: () => message.get('name') || '',
    setValue: (value) => update(services, element, message, { name: value || undefined }),
    validate: (value) => {
      const name = (value || '').trim()
      if (!name) return 'Informe o nome da mensagem.'
      if (messagesOf(bo).some((m) => m !== message && m.get('name') === name)) {
        return 'Outra mensagem já tem este nome: escolha-a na lista “Mensagem”.'
      }
      return null
    },
    debounce: services.debounce
  })
}

function MessagePayloadEntry(props) {
  const { element, id } = props
  const services = useServices()
  const holder = messageHolder(getBusinessObject(element))
  const type = 'spiffworkflow:MessagePayload'
  return TextAreaEntry({
    element,
    id,
    label: 'Conteúdo enviado (messagePayload, expressão Python)',
    description: 'Avaliado com os dados do chamado, ex.: {"pedido_id": pedido_id, "valor": total}.',
    getValue: () => textExtension(element, type, holder),
    setValue: (value) => setTextExtension(services, element, type, value, holder),
    validate: (value) => checkExpression(value, '{"pedido_id": pedido_id}'),
    debounce: services.debounce,
    monospace: true,
    rows: 3
  })
}

function MessageVariableEntry(props) {
  const { element, id } = props
  const services = useServices()
  const holder = messageHolder(getBusinessObject(element))
  const type = 'spiffworkflow:MessageVariable'
  return TextFieldEntry({
    element,
    id,
    label: 'Variável que recebe o conteúdo (messageVariable)',
    description: 'O conteúdo da mensagem fica nos dados do chamado com este nome.',
    getValue: () => textExtension(element, type, holder),
    setValue: (value) => setTextExtension(services, element, type, (value || '').trim(), holder),
    validate: checkVariable,
    debounce: services.debounce
  })
}

// ------------------------------------------------------------------ correlation

function collaborationOf(bo) {
  return rootsOf(bo).roots.filter((r) => is(r, 'bpmn:Collaboration'))[0] || null
}

function retrievalFor(property, message) {
  return (property.get('correlationPropertyRetrievalExpression') || [])
    .filter((r) => r.get('messageRef') === message)[0] || null
}

/* The correlation properties with a retrieval expression for this message. */
function correlationsOf(bo, message) {
  return rootsOf(bo).roots.filter((r) => is(r, 'bpmn:CorrelationProperty') && retrievalFor(r, message))
}

function keysOf(bo) {
  const collaboration = collaborationOf(bo)
  return collaboration ? collaboration.get('correlationKeys') || [] : []
}

/* Commands that take `property` out of every correlation key (and drop emptied keys). */
function unkeyCommands(element, bo, property) {
  const collaboration = collaborationOf(bo)
  if (!collaboration) return []
  const commands = []
  const kept = []
  keysOf(bo).forEach((key) => {
    const refs = key.get('correlationPropertyRef') || []
    if (refs.indexOf(property) === -1) return kept.push(key)
    const left = refs.filter((r) => r !== property)
    if (left.length) {
      kept.push(key)
      commands.push({
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: key, properties: { correlationPropertyRef: left } }
      })
    }
  })
  if (kept.length !== keysOf(bo).length) {
    commands.push({
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: collaboration, properties: { correlationKeys: kept } }
    })
  }
  return commands
}

function removeRootCommands(element, bo, root) {
  const { definitions, roots } = rootsOf(bo)
  return [{
    cmd: 'element.updateModdleProperties',
    context: { element, moddleElement: definitions, properties: { rootElements: roots.filter((r) => r !== root) } }
  }]
}

/* This message's retrieval expression out of `property`; the property goes when no
 * message uses it any more. */
function dropCorrelationCommands(element, bo, property, message) {
  const left = (property.get('correlationPropertyRetrievalExpression') || []).filter((r) => r.get('messageRef') !== message)
  if (left.length) {
    return [{
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: property, properties: { correlationPropertyRetrievalExpression: left } }
    }]
  }
  return unkeyCommands(element, bo, property).concat(removeRootCommands(element, bo, property))
}

function correlationEntries(element, message) {
  const bo = getBusinessObject(element)
  const withKeys = !!collaborationOf(bo)
  // A catch inside a running instance matches the message against its own data
  // (SpiffArena's "matching conditions"); a start event has no instance yet.
  const matches = !throwsMessage(bo) && !is(bo, 'bpmn:StartEvent')
  const entries = []
  correlationsOf(bo, message).forEach((property, index) => {
    const n = index + 1
    // (components are module-level: one made per render would be remounted each time)
    const about = { property, message, n, isEdited: isTextFieldEntryEdited }
    entries.push(Object.assign({ id: 'correlation-' + n + '-id', component: CorrelationIdEntry }, about))
    entries.push(Object.assign({ id: 'correlation-' + n + '-expression', component: CorrelationExpressionEntry }, about))
    if (matches) entries.push(Object.assign({ id: 'correlation-' + n + '-match', component: CorrelationMatchEntry }, about))
    if (withKeys) entries.push(Object.assign({ id: 'correlation-' + n + '-key', component: CorrelationKeyEntry }, about))
    entries.push({ id: 'correlation-' + n + '-remove', component: CorrelationRemoveEntry, property, message, n })
  })
  entries.push({ id: 'correlation-add', component: CorrelationAddEntry, message })
  return entries
}

/* The property's id (and name, as SpiffArena writes both). An id another correlation
 * property already has joins that property: the messages then correlate on it. */
function CorrelationIdEntry(props) {
  const { element, id, property, message, n } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const [typed, setTyped] = useTyped(element)
  return TextFieldEntry({
    element,
    id,
    label: 'Propriedade de correlação ' + n + ' (id)',
    description: 'Use o mesmo identificador nas mensagens que se correspondem (ex.: pedido_id no envio e na resposta).',
    getValue: () => (typed !== null ? typed : property.get('id')),
    setValue: (value, error) => {
      if (error) return setTyped(value)
      setTyped(null)
      if (value === property.get('id')) return
      const other = rootsOf(bo).roots.filter((r) => is(r, 'bpmn:CorrelationProperty') && r.get('id') === value)[0]
      if (!other) {
        // The matching conditions that named the property follow it.
        const commands = [{
          cmd: 'element.updateModdleProperties',
          context: { element, moddleElement: property, properties: { id: value, name: value } }
        }]
        services.elementRegistry.getAll().forEach((shape) => {
          const holder = shape.businessObject && messageHolder(shape.businessObject)
          const match = holder && matchOf(holder, property)
          if (match) {
            commands.push({
              cmd: 'element.updateModdleProperties',
              context: { element: shape, moddleElement: match, properties: { propertyId: value } }
            })
          }
        })
        run(services.commandStack, commands)
        return
      }
      // Joins the existing property: this message's expression moves there.
      const mine = retrievalFor(property, message)
      const commands = dropCorrelationCommands(element, bo, property, message)
      if (!retrievalFor(other, message)) {
        mine.$parent = other
        commands.push({
          cmd: 'element.updateModdleProperties',
          context: {
            element,
            moddleElement: other,
            properties: { correlationPropertyRetrievalExpression: (other.get('correlationPropertyRetrievalExpression') || []).concat([mine]) }
          }
        })
      }
      run(services.commandStack, commands)
    },
    validate: (value) => {
      const other = property.$model.ids.assigned(value)
      if (other && other !== property && is(other, 'bpmn:CorrelationProperty')) return null
      return checkId(property, value)
    },
    debounce: services.debounce
  })
}

function CorrelationExpressionEntry(props) {
  const { element, id, property, message, n } = props
  const services = useServices()
  const retrieval = retrievalFor(property, message)
  const path = retrieval ? retrieval.get('messagePath') : null
  return TextFieldEntry({
    element,
    id,
    label: 'Expressão da propriedade ' + n + ' sobre o conteúdo da mensagem (Python)',
    description: 'Avaliada sobre o conteúdo da mensagem, ex.: pedido_id (o campo pedido_id do conteúdo).',
    getValue: () => (path && path.get('body')) || '',
    setValue: (value) => {
      if (path) return update(services, element, path, { body: value })
      const created = services.bpmnFactory.create('bpmn:FormalExpression', { body: value })
      created.$parent = retrieval
      update(services, element, retrieval, { messagePath: created })
    },
    validate: (value) => ((value || '').trim() ? checkExpression(value, 'pedido_id') : 'Informe a expressão: sem ela a propriedade não é lida da mensagem.'),
    debounce: services.debounce
  })
}

/* spiffworkflow:processVariableCorrelation {propertyId, expression} in the catch's
 * extension elements: the value this instance expects, from its own data. */
function matchOf(holder, property) {
  const ext = holder.get('extensionElements')
  return ((ext && ext.get('values')) || [])
    .filter((v) => is(v, 'spiffworkflow:ProcessVariableCorrelation') && v.get('propertyId') === property.get('id'))[0] || null
}

function CorrelationMatchEntry(props) {
  const { element, id, property, n } = props
  const services = useServices()
  const holder = messageHolder(getBusinessObject(element))
  const found = matchOf(holder, property)
  return TextFieldEntry({
    element,
    id,
    label: 'Valor esperado da propriedade ' + n + ' nesta instância (expressão Python)',
    description: 'Avaliado com os dados do chamado: só a mensagem com este valor é recebida aqui, ex.: pedido_id. Vazio: a primeira que chegar.',
    getValue: () => (found ? found.get('expression') || '' : ''),
    setValue: (value) => {
      const text = (value || '').trim()
      if (!text) {
        if (found) run(services.commandStack, removeExtensionCommands(element, holder, found))
        return
      }
      if (found) return update(services, element, found, { expression: text })
      const created = services.bpmnFactory.create('spiffworkflow:ProcessVariableCorrelation', {
        propertyId: property.get('id'), expression: text
      })
      run(services.commandStack, addExtensionCommands(element, holder, created, services.bpmnFactory))
    },
    validate: (value) => checkExpression(value, 'pedido_id'),
    debounce: services.debounce
  })
}

/* The collaboration's correlation key that groups the property (by its name). */
function CorrelationKeyEntry(props) {
  const { element, id, property, n } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const current = keysOf(bo).filter((k) => (k.get('correlationPropertyRef') || []).indexOf(property) !== -1)[0]
  return TextFieldEntry({
    element,
    id,
    label: 'Chave de correlação da propriedade ' + n,
    description: 'Propriedades com a mesma chave identificam juntas a instância (ex.: pedido). Vazio: a chave padrão.',
    getValue: () => (current ? current.get('name') || '' : ''),
    setValue: (value) => {
      const name = (value || '').trim()
      const collaboration = collaborationOf(bo)
      const commands = unkeyCommands(element, bo, property)
      if (name) {
        // The keys as they will be after unkeying (a key emptied by it is dropped).
        const keys = keysOf(bo).filter((k) => (k.get('correlationPropertyRef') || []).some((r) => r !== property))
        const key = keys.filter((k) => k.get('name') === name)[0]
        if (key) {
          commands.push({
            cmd: 'element.updateModdleProperties',
            context: {
              element,
              moddleElement: key,
              properties: { correlationPropertyRef: (key.get('correlationPropertyRef') || []).filter((r) => r !== property).concat([property]) }
            }
          })
        } else {
          const created = services.bpmnFactory.create('bpmn:CorrelationKey', { name, correlationPropertyRef: [property] })
          created.$parent = collaboration
          commands.push({
            cmd: 'element.updateModdleProperties',
            context: { element, moddleElement: collaboration, properties: { correlationKeys: keys.concat([created]) } }
          })
        }
      }
      run(services.commandStack, commands)
    },
    validate: (value) => ((value || '').trim() && /\s/.test(value.trim()) ? 'A chave não pode ter espaços (ex.: pedido_compra).' : null),
    debounce: services.debounce
  })
}

function CorrelationRemoveEntry(props) {
  const { element, property, message, n } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const remove = () => run(services.commandStack, dropCorrelationCommands(element, bo, property, message))
  return h('div', { class: 'bio-properties-panel-entry app-panel-actions' }, [
    h('button', { type: 'button', class: 'br-button tertiary small', onClick: remove },
      'Remover a propriedade ' + n + ' desta mensagem')
  ])
}

function CorrelationAddEntry(props) {
  const { element, message } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const add = () => {
    const { definitions, roots } = rootsOf(bo)
    let n = 1
    while (message.$model.ids.assigned('correlacao_' + n)) n++
    const property = services.bpmnFactory.create('bpmn:CorrelationProperty', { id: 'correlacao_' + n, name: 'correlacao_' + n })
    const retrieval = services.bpmnFactory.create('bpmn:CorrelationPropertyRetrievalExpression', { messageRef: message })
    const path = services.bpmnFactory.create('bpmn:FormalExpression', { body: '' })
    path.$parent = retrieval
    retrieval.set('messagePath', path)
    retrieval.$parent = property
    property.set('correlationPropertyRetrievalExpression', [retrieval])
    property.$parent = definitions
    run(services.commandStack, [{
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: definitions, properties: { rootElements: roots.concat([property]) } }
    }])
  }
  return h('div', { class: 'bio-properties-panel-entry app-panel-actions' }, [
    h('button', { type: 'button', class: 'br-button secondary small', onClick: add }, 'Acrescentar propriedade de correlação')
  ])
}

// ------------------------------------------------------------------ multi-instance

function loopOf(bo) {
  return bo.get('loopCharacteristics') || null
}

function multiInstance(bo) {
  const loop = loopOf(bo)
  return loop && is(loop, 'bpmn:MultiInstanceLoopCharacteristics') ? loop : null
}

function LoopKindEntry(props) {
  const { element, id } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const loop = loopOf(bo)
  const kind = !loop ? '' : is(loop, 'bpmn:MultiInstanceLoopCharacteristics')
    ? (loop.get('isSequential') ? 'sequential' : 'parallel')
    : 'standard'
  return SelectEntry({
    element,
    id,
    label: 'Múltiplas instâncias',
    description: 'A atividade roda uma vez por item de uma coleção (ou um número de vezes).',
    getValue: () => kind,
    setValue: (value) => {
      if (!value) return services.modeling.updateProperties(element, { loopCharacteristics: undefined })
      if (value === 'standard') return
      const sequential = value === 'sequential'
      if (multiInstance(bo)) return update(services, element, loop, { isSequential: sequential })
      const created = services.bpmnFactory.create('bpmn:MultiInstanceLoopCharacteristics', { isSequential: sequential })
      created.$parent = bo
      services.modeling.updateProperties(element, { loopCharacteristics: created })
    },
    getOptions: () => {
      const options = [
        { value: '', label: 'Não (uma vez só)' },
        { value: 'parallel', label: 'Paralelas (todas ao mesmo tempo)' },
        { value: 'sequential', label: 'Sequenciais (uma depois da outra)' }
      ]
      if (kind === 'standard') options.push({ value: 'standard', label: 'Laço padrão (standardLoopCharacteristics, mantido como veio)' })
      return options
    }
  })
}

const BOTH = 'Informe o número de instâncias ou a coleção de entrada, não os dois: o SpiffWorkflow recusa a tarefa com ambos.'
const NEITHER = 'Informe o número de instâncias ou a coleção de entrada.'

function loopExpressionEntry(property, label, description, example, exclusive) {
  return function Entry(props) {
    const { element, id } = props
    const services = useServices()
    const loop = multiInstance(getBusinessObject(element))
    const expression = loop.get(property)
    return TextFieldEntry({
      element,
      id,
      label,
      description,
      getValue: () => (expression && expression.get('body')) || '',
      setValue: (value) => {
        if (!(value || '').trim()) return update(services, element, loop, { [property]: undefined })
        if (expression) return update(services, element, expression, { body: value })
        const created = services.bpmnFactory.create('bpmn:FormalExpression', { body: value })
        created.$parent = loop
        update(services, element, loop, { [property]: created })
      },
      validate: (value) => {
        const text = (value || '').trim()
        if (exclusive && text && loop.get('loopDataInputRef')) return BOTH
        if (exclusive && !text && !loop.get('loopDataInputRef')) return NEITHER
        return checkExpression(text, example)
      },
      debounce: services.debounce
    })
  }
}

const CardinalityEntry = loopExpressionEntry(
  'loopCardinality',
  'Número de instâncias (loopCardinality, expressão Python)',
  'Quantas vezes a atividade roda, ex.: 3 ou len(aprovadores). Use isto ou a coleção de entrada.',
  '3 ou len(itens)',
  true
)
const CompletionEntry = loopExpressionEntry(
  'completionCondition',
  'Condição de conclusão (expressão Python, opcional)',
  'Quando vale, as instâncias que faltam são canceladas e o processo segue, ex.: aprovado == False.',
  'aprovado == False',
  false
)

/* loopDataInputRef / loopDataOutputRef: the name of a collection in the ticket's data,
 * written as SpiffArena writes it (a reference by id: a data object of the process when
 * one has that id, otherwise just the name). */
function collectionEntry(property, label, description) {
  return function Entry(props) {
    const { element, id } = props
    const services = useServices()
    const bo = getBusinessObject(element)
    const loop = multiInstance(bo)
    const ref = loop.get(property)
    return TextFieldEntry({
      element,
      id,
      label,
      description,
      getValue: () => (ref ? ref.get('id') || '' : ''),
      setValue: (value) => {
        const name = (value || '').trim()
        if (!name) return update(services, element, loop, { [property]: undefined })
        const known = loop.$model.ids.assigned(name)
        const target = known && is(known, 'bpmn:ItemAwareElement')
          ? known
          : services.moddle.create('bpmn:ItemAwareElement', { id: name })
        update(services, element, loop, { [property]: target })
      },
      validate: (value) => {
        const text = (value || '').trim()
        if (property === 'loopDataInputRef' && text && loop.get('loopCardinality')) return BOTH
        return checkVariable(text)
      },
      debounce: services.debounce
    })
  }
}

/* inputDataItem / outputDataItem: the name each instance sees its item by
 * (<bpmn:inputDataItem id= name= />, both the name, as SpiffArena writes it). */
function itemEntry(property, type, label, description) {
  return function Entry(props) {
    const { element, id } = props
    const services = useServices()
    const loop = multiInstance(getBusinessObject(element))
    const item = loop.get(property)
    return TextFieldEntry({
      element,
      id,
      label,
      description,
      getValue: () => (item ? item.get('name') || item.get('id') || '' : ''),
      setValue: (value) => {
        const name = (value || '').trim()
        if (!name) return update(services, element, loop, { [property]: undefined })
        const created = services.moddle.create(type, { id: name, name })
        created.$parent = loop
        update(services, element, loop, { [property]: created })
      },
      validate: checkVariable,
      debounce: services.debounce
    })
  }
}

const InputCollectionEntry = collectionEntry(
  'loopDataInputRef',
  'Coleção de entrada (loopDataInputRef)',
  'Uma instância por item desta lista dos dados do chamado, ex.: itens. Use isto ou o número de instâncias.'
)
const InputItemEntry = itemEntry(
  'inputDataItem',
  'bpmn:DataInput',
  'Item de entrada (inputDataItem)',
  'O nome com que cada instância vê o seu item (ou o seu número, sem coleção), ex.: item.'
)
const OutputCollectionEntry = collectionEntry(
  'loopDataOutputRef',
  'Coleção de saída (loopDataOutputRef)',
  'Onde os resultados das instâncias são reunidos, ex.: resultados.'
)
const OutputItemEntry = itemEntry(
  'outputDataItem',
  'bpmn:DataOutput',
  'Item de saída (outputDataItem)',
  'O dado de cada instância que vai para a coleção de saída, ex.: resultado.'
)

// ------------------------------------------------------------------ service task connectors

function operatorOf(bo) {
  return extensionOf(bo, 'spiffworkflow:ServiceTaskOperator')
}

function parametersOf(operator) {
  const list = operator && operator.get('parameterList')
  return list ? list.get('parameters') || [] : []
}

function connectorsOf(services) {
  return (services.chamados.connectors && services.chamados.connectors()) || []
}

function ConnectorEntry(props) {
  const { element, id } = props
  const services = useServices()
  const bo = getBusinessObject(element)
  const operator = operatorOf(bo)
  const current = operator ? operator.get('id') || '' : ''
  const known = connectorsOf(services)
  return SelectEntry({
    element,
    id,
    label: 'Conector',
    description: 'O que a tarefa chama (os conectores da plataforma e os seus parâmetros).',
    getValue: () => current,
    setValue: (value) => {
      const { bpmnFactory, commandStack } = services
      if (!value) {
        if (operator) run(commandStack, removeExtensionCommands(element, bo, operator))
        return
      }
      const connector = known.filter((c) => c.operator === value)[0]
      const accepted = connector ? connector.required.concat(connector.optional) : []
      if (!operator) {
        const created = bpmnFactory.create('spiffworkflow:ServiceTaskOperator', { id: value })
        return run(commandStack, addExtensionCommands(element, bo, created, bpmnFactory))
      }
      // Parameters the new connector does not take would be refused at publishing.
      const commands = [{
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: operator, properties: { id: value } }
      }]
      const list = operator.get('parameterList')
      if (list) {
        commands.push({
          cmd: 'element.updateModdleProperties',
          context: { element, moddleElement: list, properties: { parameters: parametersOf(operator).filter((p) => accepted.indexOf(p.get('id')) !== -1) } }
        })
      }
      run(commandStack, commands)
    },
    getOptions: () => {
      const options = [{ value: '', label: '(escolha um conector)' }].concat(known.map((c) => ({ value: c.operator, label: c.operator })))
      if (current && !known.some((c) => c.operator === current)) {
        options.push({ value: current, label: current + ' (não existe na plataforma)' })
      }
      return options
    }
  })
}

function setParameter(services, element, operator, name, value) {
  const { bpmnFactory, commandStack } = services
  const commands = []
  let list = operator.get('parameterList')
  if (!list) {
    list = bpmnFactory.create('spiffworkflow:Parameters', { parameters: [] })
    list.$parent = operator
    commands.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: operator, properties: { parameterList: list } } })
  }
  const parameters = list.get('parameters') || []
  const existing = parameters.filter((p) => p.get('id') === name)[0]
  if (!value) {
    if (!existing) return
    const left = parameters.filter((p) => p !== existing)
    commands.push(left.length
      ? { cmd: 'element.updateModdleProperties', context: { element, moddleElement: list, properties: { parameters: left } } }
      : { cmd: 'element.updateModdleProperties', context: { element, moddleElement: operator, properties: { parameterList: undefined } } })
  } else if (existing) {
    commands.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: existing, properties: { value } } })
  } else {
    // type="any": the platform's connectors take any value; SpiffArena writes the type
    // its connector proxy declares, which the engine does not read.
    const created = bpmnFactory.create('spiffworkflow:Parameter', { id: name, type: 'any', value })
    created.$parent = list
    commands.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: list, properties: { parameters: parameters.concat([created]) } } })
  }
  run(commandStack, commands)
}

function ParameterEntry(props) {
  const { element, id, name, required, unknown, operatorName } = props
  const services = useServices()
  const operator = operatorOf(getBusinessObject(element))
  const parameter = parametersOf(operator).filter((p) => p.get('id') === name)[0]
  return TextFieldEntry({
    element,
    id,
    label: 'Parâmetro ' + name + (required ? ' (obrigatório)' : '') + ', expressão Python',
    description: unknown ? undefined : 'Texto entre aspas, ex.: "https://api.exemplo.gov.br/itens", ou um dado do chamado.',
    getValue: () => (parameter ? parameter.get('value') || '' : ''),
    setValue: (value) => setParameter(services, element, operator, name, value),
    validate: (value) => {
      const text = (value || '').trim()
      if (unknown) return 'O conector ' + operatorName + ' não tem este parâmetro: apague o valor para removê-lo.'
      if (required && !text) return 'Informe o valor: o conector ' + operatorName + ' precisa deste parâmetro.'
      return checkExpression(text, '"https://api.exemplo.gov.br/itens"')
    },
    debounce: services.debounce
  })
}

function ResultVariableEntry(props) {
  const { element, id } = props
  const services = useServices()
  const operator = operatorOf(getBusinessObject(element))
  return TextFieldEntry({
    element,
    id,
    label: 'Variável do resultado (resultVariable)',
    description: 'A resposta do conector fica nos dados do chamado com este nome, ex.: resposta.',
    getValue: () => operator.get('resultVariable') || '',
    setValue: (value) => update(services, element, operator, { resultVariable: (value || '').trim() || undefined }),
    validate: checkVariable,
    debounce: services.debounce
  })
}

function connectorEntries(element, services) {
  const entries = [{ id: 'connectorOperator', component: ConnectorEntry, isEdited: isSelectEntryEdited }]
  const operator = operatorOf(getBusinessObject(element))
  if (!operator) return entries
  const name = operator.get('id') || ''
  const connector = connectorsOf(services).filter((c) => c.operator === name)[0]
  const required = connector ? connector.required : []
  const optional = connector ? connector.optional : []
  const given = parametersOf(operator).map((p) => p.get('id'))
  const unknown = connector ? given.filter((g) => required.concat(optional).indexOf(g) === -1) : given
  const entry = (p, isRequired, isUnknown) => ({
    id: 'connector-param-' + p,
    component: ParameterEntry,
    isEdited: isTextFieldEntryEdited,
    name: p,
    required: isRequired,
    unknown: isUnknown,
    operatorName: name
  })
  required.forEach((p) => entries.push(entry(p, true, false)))
  optional.forEach((p) => entries.push(entry(p, false, false)))
  unknown.forEach((p) => entries.push(entry(p, false, !!connector)))
  entries.push({ id: 'connectorResult', component: ResultVariableEntry, isEdited: isTextFieldEntryEdited })
  return entries
}

// ------------------------------------------------------------------ data objects

/* The data objects a reference may show: its process's (and, in a sub-process, the
 * enclosing ones'), as SpiffArena lists them. */
function dataObjectsFor(bo) {
  const found = []
  let container = bo.$parent
  while (container) {
    const process = is(container, 'bpmn:Participant') ? container.get('processRef') : container
    ;((process && process.get('flowElements')) || []).forEach((e) => { if (is(e, 'bpmn:DataObject')) found.push(e) })
    if (!is(container, 'bpmn:SubProcess')) break
    container = container.$parent
  }
  return found
}

function DataObjectSelectEntry(props) {
  const { element, id } = props
  const { modeling } = useServices()
  const bo = getBusinessObject(element)
  const current = bo.get('dataObjectRef')
  return SelectEntry({
    element,
    id,
    label: 'Objeto de dados mostrado',
    getValue: () => (current ? current.get('id') : ''),
    setValue: (value) => {
      const chosen = dataObjectsFor(bo).filter((d) => d.get('id') === value)[0]
      if (chosen) modeling.updateProperties(element, { dataObjectRef: chosen, name: chosen.get('name') || chosen.get('id') })
    },
    getOptions: () => {
      const options = dataObjectsFor(bo).map((d) => ({ value: d.get('id'), label: d.get('id') }))
      return current ? options : [{ value: '', label: '(nenhum)' }].concat(options)
    }
  })
}

/* An id refused as typed stays in its field with the reason (as the panel's id fields). */
function useTyped(element) {
  const [typed, setTyped] = useState(null)
  useEffect(() => setTyped(null), [element])
  return [typed, setTyped]
}

function DataObjectIdEntry(props) {
  const { element, id } = props
  const services = useServices()
  const target = getBusinessObject(element).get('dataObjectRef')
  const [typed, setTyped] = useTyped(element)
  return TextFieldEntry({
    element,
    id,
    label: 'Identificador do objeto de dados (o nome do dado no chamado)',
    description: 'Scripts e expressões leem o objeto por este nome, ex.: itens_pedido.',
    getValue: () => (typed !== null ? typed : target.get('id')),
    setValue: (value, error) => {
      if (error) return setTyped(value)
      setTyped(null)
      if (value !== target.get('id')) update(services, element, target, { id: value })
    },
    validate: (value) => checkId(target, value) || checkVariable(value),
    debounce: services.debounce
  })
}

// ------------------------------------------------------------------ groups

export function spiffGroups(element, services) {
  const bo = getBusinessObject(element)
  const groups = []
  const holder = messageHolder(bo)
  if (holder) {
    const message = holder.get('messageRef')
    const entries = [
      { id: 'messageRef', component: MessageSelectEntry, isEdited: isSelectEntryEdited },
      { id: 'messageNew', component: NewMessageEntry }
    ]
    if (message) {
      entries.push({ id: 'messageName', component: MessageNameEntry, isEdited: isTextFieldEntryEdited })
      entries.push(throwsMessage(bo)
        ? { id: 'messagePayload', component: MessagePayloadEntry, isEdited: isTextAreaEntryEdited }
        : { id: 'messageVariable', component: MessageVariableEntry, isEdited: isTextFieldEntryEdited })
    }
    groups.push(group('app-message', 'Mensagem', entries))
    if (message) groups.push(group('app-correlation', 'Correlação da mensagem', correlationEntries(element, message)))
  }
  if (is(bo, 'bpmn:Task') || is(bo, 'bpmn:SubProcess') || is(bo, 'bpmn:CallActivity')) {
    const entries = [{ id: 'loopKind', component: LoopKindEntry, isEdited: isSelectEntryEdited }]
    if (multiInstance(bo)) {
      entries.push(
        { id: 'loopCardinality', component: CardinalityEntry, isEdited: isTextFieldEntryEdited },
        { id: 'loopDataInputRef', component: InputCollectionEntry, isEdited: isTextFieldEntryEdited },
        { id: 'inputDataItem', component: InputItemEntry, isEdited: isTextFieldEntryEdited },
        { id: 'loopDataOutputRef', component: OutputCollectionEntry, isEdited: isTextFieldEntryEdited },
        { id: 'outputDataItem', component: OutputItemEntry, isEdited: isTextFieldEntryEdited },
        { id: 'completionCondition', component: CompletionEntry, isEdited: isTextFieldEntryEdited }
      )
    }
    groups.push(group('app-multi-instance', 'Múltiplas instâncias', entries))
  }
  if (is(bo, 'bpmn:ServiceTask')) {
    groups.push(group('app-connector', 'Conector', connectorEntries(element, services)))
  }
  if (is(bo, 'bpmn:DataObjectReference')) {
    const entries = [{ id: 'dataObjectRef', component: DataObjectSelectEntry, isEdited: isSelectEntryEdited }]
    if (bo.get('dataObjectRef')) entries.push({ id: 'dataObjectId', component: DataObjectIdEntry, isEdited: isTextFieldEntryEdited })
    groups.push(group('app-data-object', 'Objeto de dados', entries))
  }
  return groups.filter(Boolean)
}

// ------------------------------------------------------------------ import

/* Keeps SpiffArena's loopDataInputRef / loopDataOutputRef through the import
 * (loop_references.mjs; scripts/moddle_roundtrip.mjs reads models the same way). */
function LoopReferences(eventBus, moddle) {
  // (returns nothing: a listener's answer would replace the definitions read)
  eventBus.on('import.parse.complete', (event) => {
    keepLoopReferences(event.warnings || [], moddle)
  })
}

LoopReferences.$inject = ['eventBus', 'moddle']

export { LoopReferences }
