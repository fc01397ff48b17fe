/* pt-BR for what bpmn-js and its properties panel show (bpmn-js's `translate` service).
 * A string without an entry stays as the library wrote it; the groups the panel offers
 * are all covered (tests/test_properties_panel_browser.py reads them by these labels). */

const PT_BR = {
  // properties panel: frame and general group
  'Select an element to edit its properties.': 'Selecione um elemento do diagrama para editar suas propriedades.',
  'Multiple elements are selected. Select a single element to edit its properties.':
    'Vários elementos estão selecionados. Selecione um só para editar suas propriedades.',
  'Toggle section': 'Abrir ou fechar a seção',
  General: 'Geral',
  Name: 'Nome',
  ID: 'Identificador (id)',
  Executable: 'Executável (isExecutable)',
  Documentation: 'Documentação',
  'Element documentation': 'Documentação do elemento',
  'Process documentation': 'Documentação do processo',
  'Process name': 'Nome do processo',
  'Process ID': 'Identificador do processo (id)',
  'Participant Name': 'Nome do participante',
  'ID must not be empty.': 'Informe o identificador.',
  'ID must be unique.': 'Outro elemento já usa este identificador: escolha outro.',
  'ID must not contain spaces.':
    'O identificador não pode ter espaços (use _ no lugar, ex.: analisar_pedido).',
  'ID must not contain prefix.':
    'O identificador não pode ter prefixo com dois-pontos (ex.: use analisar_pedido, não x:analisar_pedido).',
  'ID must be a valid QName.':
    'Identificador inválido: comece com uma letra ou _ e use só letras sem acento, dígitos, _, - ou . (um NCName do XML, ex.: Process_1).',
  // element types in the panel's header
  Process: 'Processo',
  Participant: 'Participante',
  Lane: 'Raia',
  Task: 'Tarefa',
  'User Task': 'Tarefa de usuário',
  'Manual Task': 'Tarefa manual',
  'Script Task': 'Tarefa de script',
  'Service Task': 'Tarefa de serviço',
  'Send Task': 'Tarefa de envio',
  'Receive Task': 'Tarefa de recebimento',
  'Business Rule Task': 'Tarefa de regra de negócio',
  'Call Activity': 'Atividade de chamada',
  'Collapsed Sub Process': 'Subprocesso (recolhido)',
  'Expanded Sub Process': 'Subprocesso',
  'Event Sub Process': 'Subprocesso de evento',
  'Start Event': 'Evento de início',
  'End Event': 'Evento de fim',
  'Intermediate Throw Event': 'Evento intermediário',
  'Timer Start Event': 'Evento de início com temporizador',
  'Timer Intermediate Catch Event': 'Temporizador intermediário',
  'Timer Boundary Event': 'Temporizador de borda (interrompe a tarefa)',
  'Timer Boundary Event (Non Interrupting)': 'Temporizador de borda (não interrompe a tarefa)',
  'Exclusive Gateway': 'Decisão exclusiva (gateway)',
  'Inclusive Gateway': 'Decisão inclusiva (gateway)',
  'Parallel Gateway': 'Paralelo (gateway)',
  'Event Based Gateway': 'Gateway baseado em eventos',
  'Sequence Flow': 'Fluxo de sequência',
  'Default Flow': 'Fluxo padrão',
  'Conditional Flow': 'Fluxo com condição',
  'Text Annotation': 'Anotação',
  'Data Object Reference': 'Objeto de dados',
  'Data Store Reference': 'Depósito de dados',
  Group: 'Agrupamento',
  // palette and context pad
  'Activate hand tool': 'Mover o diagrama (mão)',
  'Activate lasso tool': 'Selecionar uma área (laço)',
  'Activate create/remove space tool': 'Criar ou remover espaço',
  'Activate global connect tool': 'Ligar elementos',
  'Create start event': 'Criar evento de início',
  'Create end event': 'Criar evento de fim',
  'Create intermediate/boundary event': 'Criar evento intermediário ou de borda',
  'Create gateway': 'Criar gateway (decisão)',
  'Create task': 'Criar tarefa',
  'Create expanded sub-process': 'Criar subprocesso',
  'Create data object reference': 'Criar objeto de dados',
  'Create data store reference': 'Criar depósito de dados',
  'Create pool/participant': 'Criar piscina (participante)',
  'Create group': 'Criar agrupamento',
  'Append end event': 'Acrescentar evento de fim',
  'Append gateway': 'Acrescentar gateway',
  'Append task': 'Acrescentar tarefa',
  'Append intermediate/boundary event': 'Acrescentar evento intermediário ou de borda',
  'Append timer intermediate catch event': 'Acrescentar temporizador',
  'Append message intermediate catch event': 'Acrescentar evento de mensagem',
  'Append signal intermediate catch event': 'Acrescentar evento de sinal',
  'Append conditional intermediate catch event': 'Acrescentar evento condicional',
  'Append receive task': 'Acrescentar tarefa de recebimento',
  'Append compensation activity': 'Acrescentar atividade de compensação',
  'Add lane above': 'Acrescentar raia acima',
  'Add lane below': 'Acrescentar raia abaixo',
  'Divide into two lanes': 'Dividir em duas raias',
  'Divide into three lanes': 'Dividir em três raias',
  'Add text annotation': 'Acrescentar anotação',
  'Change element': 'Trocar o tipo do elemento',
  'Connect to other element': 'Ligar a outro elemento',
  'Connect using association': 'Ligar por associação',
  'Connect using data input association': 'Ligar por associação de dados',
  Delete: 'Excluir'
}

export function translate(template, replacements) {
  replacements = replacements || {}
  const text = Object.prototype.hasOwnProperty.call(PT_BR, template) ? PT_BR[template] : template
  return text.replace(/{([^}]+)}/g, (_, key) => (key in replacements ? replacements[key] : '{' + key + '}'))
}

export default { translate: ['value', translate] }
