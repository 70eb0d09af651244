// `authservice explain` never disagrees with the running service: each case sends the same request
// to a service started as server.ts starts it (test/helpers/authservice.ts) and replays it with the
// explain command against the same environment, then compares the answer Envoy gets (status,
// headers set and removed, where a redirect goes), the outcome of the service's own decision log
// line, and the reasons explain gives. Against our test issuer (the tokens real Dex never signs)
// and against real Dex; one case starts from a decision log line the running service wrote; one
// reads sessions from real Redis (never writing) and is undecidable, as the service is, once it stops.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { systemClock } from '../../src/clock.js'
import { explainCommand } from '../../src/cli/explain.js'
import type { Explanation } from '../../src/cli/explain-reasons.js'
import type { Session } from '../../src/session/session.js'
import { writeSessionCookies } from '../../src/session/session-cookie.js'
import { startAuthservice, type RunningAuthservice } from '../helpers/authservice.js'
import { startDex } from '../helpers/dex.js'
import { startRedis } from '../helpers/redis.js'
import { kubeflowParams } from '../fixtures/config.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer, type TestIssuer } from '../helpers/test-issuer.js'

const SESSION_SECRET = Buffer.alloc(32, 7).toString('base64')

function envFor(issuer: string, clientSecret: string): Record<string, string> {
  return {
    ...kubeflowParams({ issuer, clientId: KUBEFLOW_CLIENT_ID, clientSecret }),
    // Kubeflow's skip path, and one an operator adds for a public page.
    SKIP_AUTH_URLS: '/dex,/public',
    GROUPS_ALLOWLIST: 'team-a,kubeflow-admins',
    SESSION_SECRETS: SESSION_SECRET,
  }
}

interface Served {
  readonly status: number
  readonly headers: Headers
  readonly decision: Record<string, unknown>
  readonly logLine: string
}

/** The request as Envoy's HTTP ext_authz sends it to the running service (exactly these headers, the path as given), and its decision log line. */
async function served(running: RunningAuthservice, method: string, target: string, headers: Record<string, string>): Promise<Served> {
  const before = running.rawLogs().length
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: running.checkPort, method, path: target, headers }, resolve)
    request.on('error', reject)
    request.end()
  })
  response.resume()
  await once(response, 'end')
  const answered = new Headers()
  for (const [name, value] of Object.entries(response.headers)) {
    for (const item of [value ?? []].flat()) answered.append(name, item)
  }
  const lines = running.rawLogs().slice(before).split('\n').filter((line) => line.includes('"msg":"decision"'))
  const logLine = lines.at(-1) ?? ''
  return { status: response.statusCode ?? 0, headers: answered, decision: JSON.parse(logLine) as Record<string, unknown>, logLine }
}

interface Explained {
  readonly code: number
  readonly explanation: Explanation
  readonly out: string
  readonly err: string
}

/** The explain command in-process, with `stdin` as standard input; `--json` is added. */
async function explained(env: Record<string, string>, argv: string[], stdin = ''): Promise<Explained> {
  let out = ''
  let err = ''
  const code = await explainCommand(['--json', ...argv], {
    env,
    readFile: () => {
      throw new Error('no files')
    },
    fetch: (url, init) => fetch(url, init),
    clock: systemClock,
    out: (text) => (out += text),
    err: (text) => (err += text),
    readStdin: async () => stdin,
  })
  return { code, explanation: JSON.parse(out) as Explanation, out, err }
}

const headerLines = (headers: Record<string, string>) => Object.entries(headers).map(([name, value]) => `${name}: ${value}\n`).join('')

/** The two must agree on everything Envoy acts on. */
function agree(t: Test, name: string, service: Served, explain: Explained): void {
  const { answer, verdict } = explain.explanation
  t.ok(answer, `${name}: explain gives the answer`)
  t.equal(answer!.status, service.status, `${name}: the same status`)
  t.equal(verdict.outcome, service.decision.outcome, `${name}: the outcome the service logged`)
  t.equal(verdict.reason, service.decision.reason, `${name}: the reason the service logged`)
  if (service.status === 200) {
    for (const [header, value] of answer!.headers) {
      if (header !== 'authorization') t.equal(service.headers.get(header), value, `${name}: upstream ${header}`)
    }
    t.equal(answer!.removed.join(', '), service.headers.get('x-envoy-auth-headers-to-remove') ?? '', `${name}: the same headers removed`)
  } else {
    for (const [header, value] of answer!.headers) {
      if (header === 'location') t.equal(value.split('?')[0], service.headers.get('location')?.split('?')[0], `${name}: redirected to the same place`)
      else if (header !== 'set-cookie') t.equal(service.headers.get(header), value, `${name}: the same ${header}`)
    }
  }
}

interface Case {
  readonly name: string
  readonly method?: string
  readonly target: string
  readonly headers?: (issuer: TestIssuer, cookie: string) => Promise<Record<string, string>>
  readonly exit: number
  /** What the text must say (the reason an operator needs). */
  readonly says: RegExp[]
}

const now = () => Math.floor(Date.now() / 1000)
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

const CASES: Case[] = [
  {
    name: 'a valid bearer token',
    target: '/pipeline/apis/v2beta1/runs',
    headers: async (issuer) => bearer(await issuer.sign({ email: 'alice@example.com', groups: ['team-a'] })),
    exit: 0,
    says: [/"status": "valid"/, /establishes alice@example.com/],
  },
  {
    name: 'an expired token',
    target: '/pipeline/apis/v2beta1/runs',
    headers: async (issuer) => bearer(await issuer.sign({ email: 'alice@example.com', groups: ['team-a'], iat: now() - 7200, exp: now() - 3600 })),
    exit: 1,
    says: [/ERR_TOKEN_EXPIRED/, /expired at \d{4}-\d\d-\d\dT/],
  },
  {
    name: 'a group not allowed',
    target: '/jupyter/api/sessions',
    headers: async (issuer) => bearer(await issuer.sign({ email: 'bob@example.org', groups: ['team-b'] })),
    exit: 1,
    says: [/GROUP_NOT_ALLOWED/, /none of the user's groups is in GROUPS_ALLOWLIST \(team-a, kubeflow-admins\)/, /"groups": \[\s*"team-b"/],
  },
  {
    name: 'a path an operator believed was skipped (/public/../pipeline normalises out of /public)',
    target: '/public/../pipeline/',
    exit: 1,
    says: [/"path": "\/pipeline\/"/, /"rules": \[\s*"\/dex",\s*"\/public"/, /LOGIN_REQUIRED/, /the path as sent starts with \/public, but normalised .* it is \/pipeline\//],
  },
  {
    name: 'a path believed skipped by prefix (/publications is not /public)',
    target: '/publications/x',
    headers: async () => ({ accept: 'application/json' }),
    exit: 1,
    says: [/NO_CREDENTIAL/, /Accept names neither/, /\/public matches whole segments only: \/publications\/x does not continue it/],
  },
  {
    name: 'a skip path',
    target: '/public/index.html',
    exit: 0,
    says: [/"rule": "\/public"/, /SKIP_PATH/],
  },
  {
    name: 'junk in Authorization',
    target: '/pipeline/apis/v2beta1/runs',
    headers: async () => bearer('junk'),
    exit: 1,
    says: [/ERR_SESSION_INVALID/],
  },
  {
    name: 'a JWT-shaped junk token',
    target: '/pipeline/apis/v2beta1/runs',
    headers: async () => bearer('eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln'),
    exit: 1,
    says: [/ERR_TOKEN_/],
  },
  {
    name: 'a wrong audience',
    target: '/pipeline/apis/v2beta1/runs',
    headers: async (issuer) => bearer(await issuer.sign({ aud: 'another-client', email: 'alice@example.com', groups: ['team-a'] })),
    exit: 1,
    says: [/ERR_TOKEN_CLAIM_INVALID/, /audience \\"another-client\\"|audience another-client/, /must be for one of kubeflow-oidc-authservice/],
  },
  {
    name: 'an unknown key id',
    target: '/pipeline/apis/v2beta1/runs',
    headers: async (issuer) => bearer(await issuer.sign({ email: 'alice@example.com' }, { key: 'foreign-rsa' })),
    exit: 1,
    says: [/ERR_TOKEN_UNKNOWN_KEY/, /unknown key id [0-9a-f]{40}/],
  },
  {
    name: 'an issuer not configured',
    target: '/pipeline/apis/v2beta1/runs',
    headers: async (issuer) => bearer(await issuer.sign({ iss: 'https://accounts.example.net' })),
    exit: 1,
    says: [/ERR_TOKEN_UNKNOWN_ISSUER/, /issuer https:\/\/accounts.example.net is not configured/],
  },
  {
    name: 'a navigation without credentials',
    target: '/jupyter/',
    headers: async () => ({ accept: 'text/html,application/xhtml+xml' }),
    exit: 1,
    says: [/LOGIN_REQUIRED/, /"kind": "navigation"/],
  },
  {
    name: 'an API call without credentials (API_ROUTES)',
    target: '/pipeline/apis/v2beta1/runs',
    exit: 1,
    says: [/NO_CREDENTIAL/, /"signal": "api-route"/],
  },
  {
    name: 'an XHR without credentials',
    target: '/jupyter/api/kernels',
    headers: async () => ({ 'sec-fetch-mode': 'cors', accept: '*/*' }),
    exit: 1,
    says: [/NO_CREDENTIAL/, /"signal": "sec-fetch-mode"/, /XHR\/fetch/],
  },
  {
    name: 'a POST is never a navigation',
    method: 'POST',
    target: '/jupyter/api/sessions',
    exit: 1,
    says: [/"signal": "method"/],
  },
  {
    name: 'a session cookie',
    target: '/jupyter/',
    headers: async (_issuer, cookie) => ({ cookie }),
    exit: 0,
    says: [/"source": "session-cookie"/, /"status": "valid"/],
  },
]

/** A session for alice as a login would have stored it, as the Cookie header a browser sends. */
async function sessionCookie(running: RunningAuthservice, issuer: TestIssuer): Promise<string> {
  const nowMs = Date.now()
  const claims = { iss: issuer.issuer, sub: 'Cg5hbGljZQ', email: 'alice@example.com', email_verified: true, groups: ['team-a'] }
  const session: Session = {
    id: randomBytes(32).toString('base64url'),
    claims,
    idToken: await issuer.sign(claims),
    refreshToken: undefined,
    idTokenExpiresAt: nowMs + 600_000,
    createdAt: nowMs,
    expiresAt: nowMs + 3_600_000,
  }
  const ticket = await running.service.sessionStore.save(session, nowMs)
  return writeSessionCookies(running.config, ticket, 3_600, { scheme: 'http' }, {})
    .map((line) => line.split(';')[0])
    .join('; ')
}

t.test('explain and the running service, against the test issuer', async (t) => {
  const issuer = await startTestIssuer({ path: '/dex' })
  t.teardown(() => issuer.close())
  const env = envFor(issuer.issuer, 'explain-test-client-secret-0123456789')
  const running = await startAuthservice(env)
  t.teardown(() => running.close())
  const cookie = await sessionCookie(running, issuer)

  for (const testCase of CASES) {
    const headers = (await testCase.headers?.(issuer, cookie)) ?? {}
    const method = testCase.method ?? 'GET'
    const service = await served(running, method, testCase.target, headers)
    const explain = await explained(env, ['-X', method, '-H', '@-', testCase.target], headerLines(headers))
    agree(t, testCase.name, service, explain)
    t.equal(explain.code, testCase.exit, `${testCase.name}: exit ${testCase.exit}`)
    for (const pattern of testCase.says) t.match(explain.out, pattern, `${testCase.name}: says ${pattern}`)
    for (const value of [headers.authorization?.replace(/^Bearer /, ''), ...(headers.cookie ?? '').split(/; ?/).map((pair) => pair.split('=')[1])]) {
      if (value) t.notMatch(explain.out, value, `${testCase.name}: the credential is not printed`)
    }
    if (service.decision.credential !== undefined) {
      t.equal(explain.explanation.credentials[0]?.fingerprint, service.decision.credential, `${testCase.name}: the fingerprint the log line carries`)
    }
  }
})

t.test('from a decision log line the running service wrote', async (t) => {
  const issuer = await startTestIssuer({ path: '/dex' })
  t.teardown(() => issuer.close())
  const env = envFor(issuer.issuer, 'explain-test-client-secret-0123456789')
  const running = await startAuthservice(env)
  t.teardown(() => running.close())
  const token = await issuer.sign({ email: 'alice@example.com', groups: ['team-a'], iat: now() - 7200, exp: now() - 3600 })
  const service = await served(running, 'GET', '/pipeline/apis/v2beta1/runs?pageSize=10', { authorization: `Bearer ${token}` })
  t.match(service.decision, { outcome: 'unauthenticated', kind: 'api', source: 'authorization', credential: /^[0-9a-f]{8}$/ }, 'the log line identifies the request')
  t.notMatch(service.logLine, token.split('.')[2]!, 'and holds no credential')

  const asked = await explained(env, ['--log-line', service.logLine])
  t.equal(asked.code, 3, 'without the credential: undecidable')
  t.match(asked.out, `sha256 ${String(service.decision.credential)}`, 'names the credential it needs by its fingerprint')
  t.match(asked.out, /give it on standard input \(-H @-\)/)

  const replayed = await explained(env, ['--log-line', service.logLine, '-H', '@-'], `authorization: Bearer ${token}\n`)
  t.equal(replayed.code, 1, 'with it: denied, as logged')
  agree(t, 'log line replayed', service, replayed)
  t.match(replayed.out, /expired at/)
  t.notMatch(replayed.out, /is not the one logged/, 'the credential is the logged one')

  const other = await explained(env, ['--log-line', service.logLine, '-H', '@-'], `authorization: Bearer ${await issuer.sign({ email: 'alice@example.com', groups: ['team-a'] })}\n`)
  t.match(other.out, /is not the one logged/, 'another credential is told apart')
  t.match(other.out, /logged unauthenticated, replayed now allow/)
})

t.test('explain and the running service, against real Dex', { skip: skipUnlessPeers('dex') }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const env = envFor(dex.issuer, dex.clientSecret)
  const running = await startAuthservice(env)
  t.teardown(() => running.close())

  for (const [name, email, exit, says] of [
    ['a Dex ID token of a user in an allowed group', 'alice@example.com', 0, /establishes alice@example.com/],
    ['a Dex ID token of a user whose group is not allowed', 'bob@example.org', 1, /GROUP_NOT_ALLOWED/],
  ] as const) {
    const { id_token: token } = await dex.passwordGrant(email, 'openid email groups')
    const headers = { authorization: `Bearer ${token}` }
    const service = await served(running, 'GET', '/pipeline/apis/v2beta1/runs', headers)
    const explain = await explained(env, ['-H', '@-', 'https://kubeflow.example.com/pipeline/apis/v2beta1/runs'], headerLines(headers))
    agree(t, name, service, explain)
    t.equal(explain.code, exit, `${name}: exit ${exit}`)
    t.match(explain.out, says)
    t.notMatch(explain.out, token, `${name}: the token is not printed`)
  }
})

t.test('a Redis session store: read, never written; unreachable, undecidable (exit 3) as the service says "unavailable"', { skip: skipUnlessPeers('redis') }, async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const issuer = await startTestIssuer({ path: '/dex' })
  t.teardown(() => issuer.close())
  const env = { ...envFor(issuer.issuer, 'explain-test-client-secret-0123456789'), SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_ADDR: redis.address }
  const running = await startAuthservice(env)
  t.teardown(() => running.close())
  const cookie = await sessionCookie(running, issuer)
  const keys = await redis.command('DBSIZE')

  const service = await served(running, 'GET', '/jupyter/', { cookie })
  const explain = await explained(env, ['-H', '@-', '/jupyter/'], `cookie: ${cookie}\n`)
  agree(t, 'a Redis session', service, explain)
  t.equal(explain.code, 0)
  t.match(explain.out, /"source": "session-cookie"/)
  t.equal(await redis.command('DBSIZE'), keys, 'no session written or removed')

  await redis.stop()
  const down = await served(running, 'GET', '/jupyter/', { cookie })
  const undecidable = await explained(env, ['-H', '@-', '/jupyter/'], `cookie: ${cookie}\n`)
  agree(t, 'Redis down', down, undecidable)
  t.equal(undecidable.code, 3)
  t.match(undecidable.out, /the session store cannot be reached/)
})
