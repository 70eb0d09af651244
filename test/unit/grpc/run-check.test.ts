/** One check whatever the transport: the shared checker's decision, its metrics, one log line, the reply. */
import t from 'tap'
import { Writable } from 'node:stream'
import type { CheckRequest, CheckResult } from '../../../src/authz/check.js'
import type { Decision } from '../../../src/authz/decision.js'
import type { CheckReply } from '../../../src/authz/reply.js'
import { createCheckRunner, decisionLogFields } from '../../../src/grpc/run-check.js'
import { createLogger } from '../../../src/log/logger.js'
import { createMetrics } from '../../../src/ops/metrics.js'

const identity = { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token' }
const ALLOW: Decision = { outcome: 'allow', kind: 'api', reason: 'CREDENTIAL_VALID', identity, via: 'authorization' }
const REJECTED: Decision = { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'] }
const NONE: Decision = { outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }
const DENY: CheckReply = { kind: 'deny', status: 401, headers: [], body: 'no' }

function capture() {
  let raw = ''
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => ((raw += chunk.toString()), done()) }))
  return { logger, lines: () => raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) }
}

t.test('the decision is counted, logged once without secrets, and turned into the reply', async (t) => {
  const seen: CheckRequest[] = []
  const decided: Decision[] = []
  const metrics = createMetrics({ defaultMetrics: false })
  const run = createCheckRunner({
    check: async (request): Promise<CheckResult> => (seen.push(request), { decision: ALLOW, path: '/api/x' }),
    reply: (decision) => (decided.push(decision), DENY),
    metrics,
  })
  const { logger, lines } = capture()
  const request: CheckRequest = { method: 'GET', target: '/api/x?code=secret', headers: { authorization: 'Bearer x.y.z' } }
  t.equal(await run(request, logger), DENY, 'the reply builder\'s answer')
  t.same(seen, [request], 'the checker sees the request unchanged')
  t.same(decided, [ALLOW], 'the reply is built from the checker\'s decision')
  t.match(await metrics.registry.metrics(), 'authservice_decisions_total{outcome="allow",reason="CREDENTIAL_VALID"} 1')
  const [line, ...more] = lines()
  t.same(more, [], 'one line per check')
  t.match(line, { msg: 'decision', outcome: 'allow', reason: 'CREDENTIAL_VALID', user: 'alice@example.com', method: 'GET', path: '/api/x' })
  t.type(line!.ms, 'number')
  t.notMatch(JSON.stringify(line), /secret|x\.y\.z/, 'no query string or token')
})

t.test('error codes are logged when there are some; no user without an identity', async (t) => {
  const request: CheckRequest = { method: 'POST', target: '/', headers: {} }
  t.match(decisionLogFields(request, { decision: REJECTED, path: '/' }, 0.0012345), { codes: ['ERR_TOKEN_EXPIRED'], ms: 1.23 })
  const fields = decisionLogFields(request, { decision: NONE, path: '/' }, 0)
  t.notOk('codes' in fields, 'an empty code list is left out')
  t.notOk('user' in fields)
})

t.test('a failing checker is not swallowed: the transport decides how to fail closed', async (t) => {
  const run = createCheckRunner({
    check: async () => {
      throw new Error('bug')
    },
    reply: () => DENY,
    metrics: createMetrics({ defaultMetrics: false }),
  })
  await t.rejects(run({ method: 'GET', target: '/', headers: {} }, capture().logger), { message: 'bug' })
})
