import t from 'tap'
import { createAllowGate } from '../../../src/log/allow-sampling.js'

const take = (gate: () => unknown, n: number) => Array.from({ length: n }, () => gate())

t.test('all: every allow at info', async (t) => {
  t.same(take(createAllowGate({ mode: 'all' }), 3), Array(3).fill({ level: 'info' }))
})

t.test('debug: every allow at debug', async (t) => {
  t.same(take(createAllowGate({ mode: 'debug' }), 2), Array(2).fill({ level: 'debug' }))
})

t.test('1-in-N: the first allow, then every N-th, each saying how many it stands for', async (t) => {
  const written = take(createAllowGate({ mode: 'sample', every: 4 }), 9).map((line, i) => (line ? i + 1 : 0)).filter(Boolean)
  t.same(written, [1, 5, 9])
  t.same(createAllowGate({ mode: 'sample', every: 4 })(), { level: 'info', sampled: 4 })
})

t.test('each gate counts for itself (one per handler, no state shared through the module)', async (t) => {
  const a = createAllowGate({ mode: 'sample', every: 2 })
  const b = createAllowGate({ mode: 'sample', every: 2 })
  a()
  t.ok(b(), 'b still writes its own first allow')
  t.notOk(a(), 'a skips its second')
})
