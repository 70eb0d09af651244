// The README is part of the interface: its configuration table lists every variable the loader
// knows, with the schema's default, and CI runs exactly the test command it gives.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { describeVariables } from '../../src/config/schema.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const ciRun = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')

t.test('every configuration variable is documented with its default', async (t) => {
  for (const variable of describeVariables()) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${variable.name}\` |`))
    t.ok(row, `${variable.name} has a row in the README table`)
    if (row && variable.default) t.match(row, `\`${variable.default}\``, `${variable.name} shows its default`)
  }
})

t.test('.ci/run runs the README test command', async (t) => {
  t.match(readme, 'npm ci && npm test', 'the README gives the test command')
  t.match(ciRun, /^npm ci\b.*\nnpm test$/m, '.ci/run runs npm ci then npm test')
})
