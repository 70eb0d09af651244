// `authservice --help`: generated from describeVariables(), so every variable is listed with its
// default and meaning and cannot drift; secrets never show a default.
import t from 'tap'
import { describeVariables, type VariableDescription } from '../../../src/config/schema.js'
import { COMMANDS, explainUsage, helpText, usage, wrap } from '../../../src/cli/help.js'

t.test('wrap breaks on words at 100 columns, each line indented', async (t) => {
  const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ')
  const lines = wrap(words, '      ')
  t.ok(lines.length > 1)
  for (const line of lines) {
    t.ok(line.length <= 100, 'within 100 columns')
    t.ok(line.startsWith('      word'), 'indented')
  }
  t.same(lines.join(' ').split(/\s+/).filter(Boolean), words.split(' '), 'no word lost or split')
  t.same(wrap('', '  '), [], 'nothing to wrap, no line')
  t.same(wrap('  one   two ', '> '), ['> one two'], 'runs of spaces collapse')
  const long = 'x'.repeat(120)
  t.same(wrap(`${long} y`, ''), [long, 'y'], 'a word longer than the width stands alone')
})

t.test('usage names every command', async (t) => {
  const text = usage()
  t.match(text, /^Usage: authservice \[command\]/)
  for (const command of COMMANDS) t.match(text, command.usage)
  for (const name of ['serve', 'check-config', 'hash-password [password]', '--help']) t.match(text, name)
})

t.test('the help lists every variable of describeVariables() with its default and meaning', async (t) => {
  const text = helpText()
  t.match(text, usage().trimEnd(), 'starts with the usage')
  const variables = describeVariables()
  t.ok(variables.length > 50)
  for (const variable of variables) {
    const heading = text.split('\n').find((line) => line.startsWith(`  ${variable.name}  (`) || line === `  ${variable.name}`)
    t.ok(heading, `${variable.name} has a heading`)
    if (variable.default && !variable.secret) t.match(heading!, `default: ${variable.default}`, `${variable.name} shows its default`)
    if (variable.required) t.match(heading!, 'required')
    const firstWords = variable.description.split(' ').slice(0, 4).join(' ')
    t.match(text, firstWords, `${variable.name}'s meaning is there`)
  }
})

t.test('secrets are marked and never show a default; empty defaults show as ""', async (t) => {
  const variables: VariableDescription[] = [
    { name: 'A_SECRET', default: 'do-not-show', description: 'A secret.', secret: true, required: true },
    { name: 'EMPTY', default: '', description: 'Empty default.', secret: false, required: false },
    { name: 'PLAIN', default: undefined, description: 'No default.', secret: false, required: false },
  ]
  const text = helpText(variables)
  t.match(text, '  A_SECRET  (required, secret)\n')
  t.notMatch(text, 'do-not-show')
  t.match(text, '  EMPTY  (default: "")\n')
  t.match(text, '  PLAIN\n      No default.\n')
})

t.test("explain's own help: its options, exit codes and the exact kubectl exec for the distroless image", async (t) => {
  const text = explainUsage()
  t.match(text, /^Usage: authservice explain /)
  for (const option of ['-X, --request', '-H, --header', '-H @-', '-b, --cookie', '--log-line', '--json']) t.match(text, option)
  t.match(text, 'Exit: 0 allowed or skip path; 1 denied')
  t.match(text, "kubectl -n istio-system exec -i deploy/authservice -- \\\n    /nodejs/bin/node dist/server.js explain -H @- https://kubeflow.example.com/pipeline/apis/v2beta1/runs")
  t.match(usage(), 'explain [options] URL')
})
