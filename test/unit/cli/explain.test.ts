// `authservice explain` end to end in-process: the environment loaded as serve loads it, the
// provider (our test issuer) contacted live, the request replayed, the verdict printed; exit codes.
import t from 'tap'
import { explainCommand, type ExplainIo } from '../../../src/cli/explain.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer } from '../../helpers/test-issuer.js'
import { freePort } from '../../helpers/ports.js'

function io(env: Record<string, string>, stdin = '', overrides: Partial<ExplainIo> = {}) {
  let out = ''
  let err = ''
  const value: ExplainIo = {
    env,
    readFile: () => {
      throw new Error('no files')
    },
    fetch: (url, init) => fetch(url, init),
    clock: { now: () => Date.now() },
    out: (text) => (out += text),
    err: (text) => (err += text),
    readStdin: async () => stdin,
    ...overrides,
  }
  return { io: value, out: () => out, err: () => err }
}

t.test('a bearer token from standard input: allowed, then denied when expired; text and JSON', async (t) => {
  const issuer = await startTestIssuer({ path: '/dex' })
  t.teardown(() => issuer.close())
  const env = { OIDC_PROVIDER: issuer.issuer, CLIENT_ID: KUBEFLOW_CLIENT_ID, CLIENT_SECRET: 'never-printed-0123456789' }
  const valid = await issuer.sign({ email: 'alice@example.com', groups: ['team-a'] })
  const allowed = io(env, `authorization: Bearer ${valid}\n`)
  t.equal(await explainCommand(['-H', '@-', 'https://kubeflow.example.com/pipeline/apis/v2beta1/runs'], allowed.io), 0)
  t.match(allowed.out(), 'Verdict      ALLOWED — CREDENTIAL_VALID (user alice@example.com)')
  t.notMatch(allowed.out(), valid.split('.')[2]!)

  const expired = await issuer.sign({ email: 'alice@example.com', iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })
  const denied = io(env, `authorization: Bearer ${expired}\n`)
  t.equal(await explainCommand(['--json', '-H', '@-', '/pipeline/apis/v2beta1/runs'], denied.io), 1)
  t.match(JSON.parse(denied.out()), { verdict: { outcome: 'unauthenticated', codes: ['ERR_TOKEN_EXPIRED'] }, answer: { status: 401 }, exitCode: 1 })

  const logLine = JSON.stringify({ outcome: 'unauthenticated', reason: 'CREDENTIAL_REJECTED', kind: 'api', source: 'authorization', credential: '0a1b2c3d', method: 'GET', path: '/pipeline/apis/v2beta1/runs', msg: 'decision' })
  const fromLog = io(env)
  t.equal(await explainCommand(['--log-line', logLine], fromLog.io), 3, 'a log line without its credential: undecidable')
  t.match(fromLog.out(), 'give it on standard input (-H @-)')
})

t.test('usage and configuration errors: exit 2, the problem on stderr, no secret', async (t) => {
  const usage = io({})
  t.equal(await explainCommand(['--bogus'], usage.io), 2)
  t.match(usage.err(), 'authservice explain: unknown option "--bogus"')
  t.match(usage.err(), 'Usage: authservice explain')
  const invalid = io({ CLIENT_SECRET: 'never-printed' })
  t.equal(await explainCommand(['/x'], invalid.io), 2)
  t.match(invalid.err(), 'OIDC_PROVIDER: required')
  t.notMatch(invalid.err(), 'never-printed')
  const broken = io({}, '', { readStdin: async () => Promise.reject(new Error('stdin closed')) })
  await t.rejects(explainCommand(['-H', '@-', '/x'], broken.io), /stdin closed/, 'anything else is not a usage error')
})

t.test('a provider that does not answer in time: undecidable, exit 3', async (t) => {
  const port = await freePort()
  const env = { OIDC_PROVIDER: `http://127.0.0.1:${port}/dex`, CLIENT_ID: KUBEFLOW_CLIENT_ID, CLIENT_SECRET: 'never-printed-0123456789' }
  const hanging = io(env, '', { fetch: () => new Promise(() => undefined), startTimeoutMs: 50 })
  t.equal(await explainCommand(['-H', 'accept: application/json', 'http://kubeflow.example.com/x'], hanging.io), 3)
  t.match(hanging.out(), 'could not be reached')
  const refused = io(env)
  t.equal(await explainCommand(['/x'], refused.io), 3, 'refused: the first attempt fails, undecidable')
})
