/**
 * Hostile input against the real service (check port, gRPC server) and through real Envoy in both
 * transports, with real Dex behind it: property-based tests (fast-check, bounded in runs and time)
 * over methods, paths, headers, cookies and tokens, then corpora of known tricks — path tricks,
 * header injection, oversized and malformed headers and cookies, tampered session cookies, flow
 * cookie floods (count and memory), duplicate and mixed-case Authorization, spoofed forwarding and
 * identity headers, open-redirect targets. Invariants: without a valid credential never a 200
 * outside the skip paths, and never an identity; no 5xx, no dropped connection, no bare 403 from
 * Envoy; no check takes the fail-closed "could not be checked" path (a bug in the handler); no
 * unhandled rejection; the process stays up. dex-rp-conformance-security.md §4.
 */
import { createConnection } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import t from 'tap'
import type { DecodedCheckResponse } from '../helpers/grpc.js'
import { startAuthservice, type RunningAuthservice } from '../helpers/authservice.js'
import { startDex, type Dex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from '../helpers/echo-upstream.js'
import { startEnvoy, type Envoy } from '../helpers/envoy.js'
import { API, NAVIGATE, faultEnv, loginUntilCallback, startFaultGateway, type FaultGateway } from '../helpers/fault-gateway.js'
import { envoyCheckRequest, grpcClient, type GrpcTestClient } from '../helpers/grpc.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { CookieJar, scriptedLogin } from '../helpers/scripted-login.js'
import { isBare403, runWorkers, send, statusKey, watchUnhandledRejections, type Answer } from '../helpers/traffic.js'

const skip = skipUnlessPeers('dex', 'envoy')
const unhandled = watchUnhandledRejections()
t.teardown(() => unhandled.stop())

let dex: Dex
let upstream: EchoUpstream
let svc: RunningAuthservice
/** Envoy (HTTP mode) with /dex routed to Dex, and the same in gRPC mode. */
let http: FaultGateway
let grpc: FaultGateway
/** Envoy (HTTP mode) sending everything, /dex included, to the echo upstream: a 200 there is always our allow. */
let fuzzEnvoy: Envoy
let grpcDirect: GrpcTestClient
/** Real material to build hostile variants from. */
let aliceToken: string
let sessionTicket: string

t.before(async () => {
  if (skip) return
  dex = await startDex()
  upstream = await startEchoUpstream()
  svc = await startAuthservice(faultEnv(dex, { SET_AUTHORIZATION_HEADER: 'true' }))
  http = await startFaultGateway(t, 'http', svc, { upstreamPort: upstream.port, dexPort: dex.port })
  grpc = await startFaultGateway(t, 'grpc', svc, { upstreamPort: upstream.port, dexPort: dex.port })
  fuzzEnvoy = await startEnvoy({ authz: { mode: 'http', port: svc.checkPort }, upstreamPort: upstream.port })
  grpcDirect = grpcClient(grpc.checkPort)
  aliceToken = (await dex.passwordGrant('alice@example.com')).id_token
  const login = await scriptedLogin(http.envoy.url, '/', 'user@example.com', '12341234')
  sessionTicket = login.jar.cookies.get('authservice_session')!
})

t.teardown(async () => {
  grpcDirect?.close()
  await fuzzEnvoy?.stop()
  await svc?.close()
  await upstream?.close()
  await dex?.stop()
})

/** Checks that took the fail-closed path for bugs ("could not be checked"), in either transport. */
const failClosedLines = () =>
  svc.logs().filter((line) => line.msg === 'check failed; denying').length + (grpc.transportLogs().match(/check failed; denying/g)?.length ?? 0)

/** Printable for a test name: JSON-quoted, everything outside printable ASCII escaped (TAP is line-based). */
const show = (text: string | undefined) => JSON.stringify(text ?? null).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

/**
 * A Location stays on the gateway: printable ASCII only (RFC 3986; anything else is mangled or
 * refused on the way), and resolved as a browser would (WHATWG URL: `\`, tabs, newlines) on the same host.
 */
function staysOnSite(location: string | undefined): boolean {
  if (location === undefined) return true
  if (!/^[\x21-\x7e]*$/.test(location)) return false
  const base = 'http://gateway.invalid/some/page'
  try {
    return new URL(location, base).host === 'gateway.invalid'
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Segments that are or may normalise to a skip path (/dex, /authservice/): a 200 is then allowed. */
const SKIP_SEGMENTS = new Set(['dex', '%64ex', 'authservice'])
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('dex', 'DEX', 'Dex', 'dex.', 'api', 'apis', 'authservice', 'oidc', 'callback', 'logout', 'sign_out', 'site', 'after_logout', 'notebooks', 'pipeline', 'ml_metadata') },
  { weight: 2, arbitrary: fc.constantFrom('..', '.', '%2e%2e', '%2E%2e', '%2e', '..;', '.;', '%2F', '%2f', '%5C', '\\', '%00', '%0d%0a', '%', '%zz', ';', '~', 'a%2Fb', '%64ex', '', '...', '%2e%2e%2f', '%252e') },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,12}$/) },
)
const query = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^\?[A-Za-z0-9=&%+._~/?:@!$'()*,;-]{0,40}$/),
  fc.constantFrom('?rd=//evil.example', '?rd=/%0d%0aSet-Cookie:%20x=1', '?code=abc&state=xyz', '?error=access_denied&state=x', '?next=https://evil.example', '?state=' + 'A'.repeat(300)),
)
const target = fc
  .tuple(fc.constantFrom('/', '//', '/./', '/../'), fc.array(segment, { maxLength: 7 }), query)
  .map(([lead, segments, q]) => ({ target: lead + segments.join('/') + q, mayBeSkip: segments.some((s) => SKIP_SEGMENTS.has(s)) }))

const method = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND', 'TRACE', 'get')
const b64url = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{${min},${max}}$`))
const jsonB64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
/** Credentials that are never valid: random, JWT- and JWE-shaped, a real token's header and payload under a foreign signature, alg none. */
const credential = fc.oneof(
  b64url(1, 80),
  fc.tuple(b64url(2, 60), b64url(2, 200), b64url(0, 90)).map((parts) => parts.join('.')),
  fc.tuple(b64url(2, 60), b64url(0, 60), b64url(0, 20), b64url(0, 200), b64url(0, 30)).map((parts) => parts.join('.')),
  b64url(43, 43),
  b64url(86, 342).map((signature) => () => `${aliceToken.split('.').slice(0, 2).join('.')}.${signature}`),
  fc.constant(() => `${jsonB64({ alg: 'none', kid: JSON.parse(Buffer.from(aliceToken.split('.')[0]!, 'base64url').toString()).kid })}.${aliceToken.split('.')[1]}.`),
  fc.constant(() => `${jsonB64({ alg: 'HS256', kid: 'x' })}.${aliceToken.split('.')[1]}.${b64urlOf('forged')}`),
  fc.string({ unit: 'grapheme-ascii', maxLength: 120 }),
  fc.integer({ min: 16_000, max: 20_000 }).map((n) => 'A'.repeat(n)),
)
const b64urlOf = (text: string) => Buffer.from(text).toString('base64url')
const resolve = (value: string | (() => string)) => (typeof value === 'function' ? value() : value)
const authorization = fc.oneof(
  fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR', 'Basic', 'Token', 'Bearer '), credential).map(([scheme, value]) => () => `${scheme} ${resolve(value)}`),
  credential,
  fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', ''),
)
const cookieName = fc.oneof(
  fc.constantFrom('authservice_session', 'authservice_session', 'authservice_session.1', 'authservice_session.2', 'authservice_session.9', 'authservice_session.0'),
  b64url(1, 20).map((suffix) => `authservice_flow_${suffix}`),
  fc.stringMatching(/^[A-Za-z0-9_.-]{1,16}$/),
)
const cookieValue = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9!#$%&'()*+\-./:<>?@[\]^_`{|}~]{0,120}$/),
  fc.tuple(b64url(2, 60), b64url(0, 5), b64url(0, 20), b64url(0, 300), b64url(0, 30)).map((parts) => parts.join('.')),
  fc.constantFrom('""', '"quoted', '%', '%%%', ''),
)
const cookie = fc.array(fc.tuple(cookieName, cookieValue), { minLength: 1, maxLength: 12 }).chain((pairs) =>
  fc.constantFrom('; ', ';', ', ').map((separator) => pairs.map(([name, value]) => `${name}=${value}`).join(separator)),
)
const headers = fc.record(
  {
    authorization,
    cookie,
    accept: fc.constantFrom('text/html', '*/*', 'application/json', '', 'text/html;q=0', 'TEXT/HTML,*/*'),
    'sec-fetch-mode': fc.constantFrom('navigate', 'cors', 'no-cors', 'NAVIGATE', ''),
    'sec-fetch-site': fc.constantFrom('same-origin', 'cross-site', 'none'),
    'x-requested-with': fc.constant('XMLHttpRequest'),
    'x-forwarded-proto': fc.constantFrom('http', 'https', 'HTTPS', 'javascript'),
    'x-forwarded-host': fc.constant('evil.example'),
    host: fc.constantFrom('evil.example', 'kubeflow.example.com', 'evil.example:443'),
    'kubeflow-userid': fc.constant('admin@example.com'),
    'kubeflow-groups': fc.constant('kubeflow-admins'),
    'x-auth-token': credential,
    origin: fc.constantFrom('http://evil.example', 'null'),
  },
  { requiredKeys: [] },
).map((record) => Object.fromEntries(Object.entries(record).map(([name, value]) => [name, resolve(value as string | (() => string))])) as Record<string, string>)

const request = fc.record({ method, target, headers })
type HostileRequest = { method: string; target: { target: string; mayBeSkip: boolean }; headers: Record<string, string> }

const describe = (input: HostileRequest, answer: Answer) =>
  `${input.method} ${input.target.target.slice(0, 200)} ${JSON.stringify(input.headers).slice(0, 400)} → ${statusKey(answer)} ${answer.body.slice(0, 120)}`

/** fast-check settings: bounded in runs and in time; the seed is printed on failure. */
const budget = (numRuns: number, seconds: number) => ({ numRuns, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false })

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

t.test('property: no credential is never an allow with identity, never a 5xx — check port', { skip }, async (t) => {
  let runs = 0
  const failedBefore = failClosedLines()
  await fc.assert(
    fc.asyncProperty(request, async (input) => {
      runs++
      const answer = await send(`${svc.checkUrl}${input.target.target}`, { method: input.method, headers: input.headers, timeoutMs: 5_000 })
      const ok =
        answer.status !== 0 &&
        answer.status < 500 &&
        staysOnSite(answer.header('location')) &&
        (answer.status !== 200 ||
          (input.target.mayBeSkip && answer.header('kubeflow-userid') === undefined && /kubeflow-userid/.test(answer.header('x-envoy-auth-headers-to-remove') ?? '')))
      if (!ok) throw new Error(describe(input, answer))
    }),
    budget(800, 30),
  )
  t.comment(`${runs} hostile checks against the check port`)
  t.ok(runs >= 100, 'enough runs within the time budget')
  t.equal(failClosedLines(), failedBefore, 'no input made the handler throw (the "could not be checked" path)')
  t.equal((await send(`${svc.opsUrl}/healthz`)).status, 200, 'alive')
})

t.test('property: through Envoy (HTTP), no credential never reaches the upstream with an identity, never a bare 403 or a 5xx', { skip }, async (t) => {
  let runs = 0
  const errorsBefore = (await fuzzEnvoy.extAuthzStats()).error ?? 0
  await fc.assert(
    fc.asyncProperty(request, async (input) => {
      runs++
      const received = upstream.received.length
      const answer = await send(`${fuzzEnvoy.url}${input.target.target}`, { method: input.method, headers: input.headers, timeoutMs: 8_000 })
      const reached = upstream.received.slice(received)
      const ok =
        answer.status !== 0 &&
        answer.status < 500 &&
        !isBare403(answer) &&
        staysOnSite(answer.header('location')) &&
        // Whatever reached the upstream was a skip path, without any identity header.
        (reached.length === 0 || (input.target.mayBeSkip && reached.every((echoed) => echoed.headerLines.every(([name]) => !name.startsWith('kubeflow-')))))
      if (!ok) throw new Error(describe(input, answer))
    }),
    budget(300, 25),
  )
  t.comment(`${runs} hostile requests through Envoy`)
  t.ok(runs >= 50, 'enough runs within the time budget')
  t.equal(((await fuzzEnvoy.extAuthzStats()).error ?? 0) - errorsBefore, 0, 'Envoy counted no failed check')
})

t.test('property: gRPC CheckRequests with any characters (CR, LF, NUL, non-ASCII) get a decision, never an RPC error or a header with CR/LF', { skip }, async (t) => {
  const text = fc.string({ unit: fc.oneof(fc.constantFrom('\r', '\n', '\r\n', '\u0000', '\u00e9', '\u2028', ';', '=', ',', ' ', '"', '\\', '%0d%0a'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 60 })
  const grpcRequest = fc.record({
    method: fc.oneof(method, text),
    target: fc.oneof(target, text.map((value) => ({ target: value, mayBeSkip: /dex|%64ex|authservice/i.test(value) }))),
    headers: fc.tuple(headers, fc.dictionary(fc.constantFrom('cookie', 'authorization', 'accept', 'kubeflow-userid', 'x-forwarded-proto', 'sec-fetch-mode', 'origin'), text, { maxKeys: 4 })).map(([a, b]) => ({ ...a, ...b })),
  })
  let runs = 0
  const failedBefore = failClosedLines()
  await fc.assert(
    fc.asyncProperty(grpcRequest, async (input) => {
      runs++
      const { host: _host, ...rest } = input.headers
      let response: DecodedCheckResponse
      try {
        response = await grpcDirect.check(envoyCheckRequest(input.method, input.target.target, rest))
      } catch (error) {
        throw new Error(`RPC error for ${JSON.stringify(input).slice(0, 400)}: ${(error as Error).message}`)
      }
      const values = [
        ...(response.denied_response?.headers ?? []),
        ...(response.ok_response?.headers ?? []),
        ...(response.ok_response?.response_headers_to_add ?? []),
      ].map((option) => `${option.header?.key}: ${option.header?.value}`)
      const allowed = response.status?.code === 0
      const ok =
        response.status?.code !== undefined &&
        values.every((value) => !/[\r\n\u0000]/.test(value)) &&
        (!allowed || (input.target.mayBeSkip && !(response.ok_response?.headers ?? []).some((option) => option.header?.key === 'kubeflow-userid'))) &&
        (allowed || (response.denied_response?.status?.code ?? 0) < 500)
      if (!ok) throw new Error(`${JSON.stringify(input).slice(0, 400)} → ${JSON.stringify(response).slice(0, 400)}`)
    }),
    budget(500, 20),
  )
  t.comment(`${runs} hostile gRPC checks`)
  t.ok(runs >= 100, 'enough runs within the time budget')
  t.equal(failClosedLines(), failedBefore, 'no input made the handler throw')
})

// ---------------------------------------------------------------------------------------------
// Corpora
// ---------------------------------------------------------------------------------------------

/** The three ways in: the check port as Envoy calls it, and real Envoy in each transport. */
const ways = () =>
  [
    ['check port', svc.checkUrl],
    ['Envoy HTTP', http.envoy.url],
    ['Envoy gRPC', grpc.envoy.url],
  ] as const

t.test('path tricks are never skip paths; a 60 KB path is a 4xx', { skip }, async (t) => {
  const notSkips = [
    '/dex/../api/x', '/dex/%2e%2e/api/x', '/dex/%2E%2E/api/x', '/dex/.%2e/api/x', '/dex%2F..%2Fapi/x', '/dex%2fapi', '/dex%2F', '//dex/x', '///dex',
    '/DEX/x', '/Dex', '/dex./x', '/dex../x', '/dex.%2e/x', '/dex;/../api', '/dex/..;/api/x', '/./dex/../api', '/authservice/../notebooks',
    '/authservice%2F../x', '/authservice./x', '/dexfoo', '/dex%00/x', '/%2e%2e/dex/..%2fapi', '/dex%5C..%5Capi', '/dex\\..\\api', '/authservice;/x',
  ]
  for (const [way, base] of ways()) {
    for (const path of notSkips) {
      const answer = await send(`${base}${path}`, { headers: API })
      t.ok(answer.status === 401 || answer.status === 400 || answer.status === 404, `${way} ${path}: refused (${statusKey(answer)})`)
    }
    const long = await send(`${base}/api/${'a'.repeat(60 * 1024)}`, { headers: API })
    t.ok(long.status >= 400 && long.status < 500 && !isBare403(long), `${way}: a 60 KB path is a 4xx (${statusKey(long)})`)
    const longNavigation = await send(`${base}/notebooks/${'a'.repeat(50 * 1024)}`, { headers: NAVIGATE })
    t.equal(longNavigation.status, 302, `${way}: a 50 KB navigation still gets the login redirect`)
    t.ok((longNavigation.header('location') ?? '').length < 1_000, 'whose Location does not carry the path')
  }
  // What RFC 3986 normalisation makes equal to a skip path is one (and Envoy routes it there).
  for (const path of ['/%64ex/.well-known/openid-configuration', '/api/../dex/.well-known/openid-configuration', '/dex/./.well-known/openid-configuration']) {
    t.equal((await send(`${http.envoy.url}${path}`)).status, 200, `${path} is /dex after normalisation`)
  }
})

t.test('header injection: CR/LF in the original target, rd, state or cookies never reaches a header we write', { skip }, async (t) => {
  const noControl = (answer: Answer) => Object.entries(answer.headers).every(([, value]) => ![value].flat().some((v) => /[\r\n\u0000]/.test(String(v))))
  const targets = ['/x%0d%0aSet-Cookie:%20evil=1', '/x%0aLocation:%20http://evil.example', '/%0d%0a%0d%0a<script>', '/x?y=%0d%0aSet-Cookie:%20evil=1', '/x%E5%98%8A%E5%98%8DSet-Cookie:evil=1']
  for (const [way, base] of ways()) {
    for (const path of targets) {
      const answer = await send(`${base}${path}`, { headers: NAVIGATE })
      t.equal(answer.status, 302, `${way} ${path}: the login redirect`)
      t.ok(noControl(answer) && !answer.setCookies().some((line) => line.startsWith('evil')), `${way} ${path}: no injected header`)
    }
    for (const rd of ['/%0d%0aSet-Cookie:%20evil=1', '/\r\nSet-Cookie: evil=1', '/%E5%98%8A%E5%98%8D']) {
      const answer = await send(`${base}/authservice/sign_out?rd=${encodeURIComponent(rd)}`, { headers: { ...NAVIGATE, 'sec-fetch-site': 'same-origin' } })
      t.equal(answer.status, 302, `${way} rd=${show(rd)}: redirected`)
      t.ok(noControl(answer) && staysOnSite(answer.header('location')), `${way} rd=${show(rd)}: ${show(answer.header('location'))}`)
    }
    const state = await send(`${base}/authservice/oidc/callback?code=x&state=${encodeURIComponent('x\r\nSet-Cookie: evil=1')}`, { headers: NAVIGATE })
    t.equal(state.status, 400, `${way}: a state with CR/LF is a 400 page`)
    t.ok(noControl(state) && !state.setCookies().some((line) => line.startsWith('evil')))
  }
  // Raw control characters can only come through gRPC (HTTP/1.1 itself cannot carry them).
  for (const [path, extra] of [
    ['/x\r\nSet-Cookie: evil=1', {}],
    ['/authservice/sign_out?rd=/\r\nLocation: http://evil.example', { 'sec-fetch-site': 'same-origin' }],
    ['/p', { cookie: 'authservice_flow_a\r\nSet-Cookie: evil=1=x; authservice_flow_b=1; authservice_flow_c=1; authservice_flow_d=1; authservice_flow_e=1' }],
  ] as const) {
    const response = await grpcDirect.check(envoyCheckRequest('GET', path, { ...NAVIGATE, ...extra }))
    const values = (response.denied_response?.headers ?? []).map((option) => option.header?.value ?? '')
    t.ok(values.length > 0 && values.every((value) => !/[\r\n\u0000]/.test(value)), `gRPC ${show(path)}: no CR/LF in any header value`)
  }
  const raw = await rawSocket(svc.checkPort, 'GET /x HTTP/1.1\r\nHost: a\r\nCookie: a=b\rSet-Cookie: evil=1\r\n\r\n')
  t.match(raw, /^HTTP\/1\.1 400/, 'a bare CR inside a header is refused by the check port\'s HTTP parser (400)')
})

t.test('oversized headers and cookies: a 4xx from us or Envoy\'s 431, never a 5xx, a drop or a bare 403', { skip }, async (t) => {
  const cases: Record<string, Record<string, string>> = {
    'forty 1.5 KB session chunks': { cookie: Array.from({ length: 40 }, (_, i) => `authservice_session.${i + 1}=${'A'.repeat(1_500)}`).join('; ') },
    'eight full session chunks': { cookie: Array.from({ length: 8 }, (_, i) => `authservice_session.${i + 1}=${'B'.repeat(3_800)}`).join('; ') },
    'a 64 KB session cookie': { cookie: `authservice_session=${'C'.repeat(64 * 1024)}` },
    'a 58 KB session cookie': { cookie: `authservice_session=${'C'.repeat(58 * 1024)}` },
    'a 64 KB bearer': { authorization: `Bearer ${'D'.repeat(64 * 1024)}` },
    'a 40 KB JWT-shaped bearer': { authorization: `Bearer ${'e'.repeat(10_000)}.${'f'.repeat(20_000)}.${'g'.repeat(10_000)}` },
    '5000 tiny cookies': { cookie: Array.from({ length: 5_000 }, (_, i) => `c${i}=v`).join('; ') },
    '90 other headers': Object.fromEntries(Array.from({ length: 90 }, (_, i) => [`x-filler-${i}`, 'v'])),
  }
  for (const [way, base] of ways()) {
    for (const [name, extra] of Object.entries(cases)) {
      for (const kind of [API, NAVIGATE]) {
        const answer = await send(`${base}/notebooks/`, { headers: { ...kind, ...extra } })
        const expected = kind === API ? [401, 431] : [302, 401, 431]
        t.ok(expected.includes(answer.status) && !isBare403(answer), `${way}, ${name}, ${kind === API ? 'API' : 'navigation'}: ${statusKey(answer)}`)
      }
    }
  }
})

t.test('malformed cookies and JWE are refused (401, or the login redirect for a navigation)', { skip }, async (t) => {
  const jwe = (header: unknown) => `${jsonB64(header)}..${b64urlOf('iv-iv-iv-iv')}.${b64urlOf('ciphertext')}.${b64urlOf('tag-tag-tag-tag!')}`
  const values = [
    '%%%', '%E0%A4%A', '"unterminated', '"', '', ' ', 'a=b=c', '\u00e9\u00e9', 'a.b.c.d.e', '....', 'e30.e30.e30.e30.e30',
    jwe({ alg: 'dir', enc: 'A256GCM' }), jwe({ alg: 'dir', enc: 'A256GCM', kid: 'x' }), jwe({ alg: 'dir', enc: 'A128CBC-HS256' }), jwe({ alg: 'RSA-OAEP', enc: 'A256GCM' }),
    jwe({ alg: 'none', enc: 'none' }), jwe({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' }), jwe({ alg: 'PBES2-HS256+A128KW', enc: 'A256GCM', p2c: 100_000_000, p2s: 'AAAA' }),
    `${jsonB64({ alg: 'dir', enc: 'A256GCM' })}.${'x'.repeat(3000)}.a.b.c`, sessionTicket.split('.').reverse().join('.'), sessionTicket.replace(/\./g, ''),
  ]
  for (const [way, base] of ways()) {
    for (const value of values) {
      for (const header of [`authservice_session=${value}`, `authservice_session.1=${value}; authservice_session.2=${value}`, `authservice_session=${value}; authservice_session=${value}`]) {
        const api = await send(`${base}/api/x`, { headers: { ...API, cookie: header } })
        const page = await send(`${base}/notebooks/`, { headers: { ...NAVIGATE, cookie: header } })
        t.ok(api.status === 401 && page.status === 302, `${way} ${header.slice(0, 70)}: ${statusKey(api)} / ${statusKey(page)}`)
      }
      const asBearer = await send(`${base}/api/x`, { headers: { ...API, authorization: `Bearer ${value}` } })
      t.equal(asBearer.status, 401, `${way} Bearer ${value.slice(0, 40)}: 401`)
    }
  }
})

t.test('tampered session cookies: flipping any byte of a real cookie-store ticket is never accepted', { skip }, async (t) => {
  const segments = sessionTicket.split('.')
  t.equal(segments.length, 5, 'a compact JWE')
  const variants: string[] = []
  for (const [index, part] of segments.entries()) {
    const bytes = Buffer.from(part, 'base64url')
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const flipped = Buffer.from(bytes)
        flipped[i]! ^= mask
        variants.push(segments.map((segmentText, j) => (j === index ? flipped.toString('base64url') : segmentText)).join('.'))
      }
    }
  }
  // Segments swapped, dropped or duplicated, and the ticket cut short.
  variants.push(segments.slice(0, 4).join('.'), [segments[0], segments[1], segments[3], segments[2], segments[4]].join('.'), `${sessionTicket}.${segments[4]}`, sessionTicket.slice(0, -1), sessionTicket.slice(1))
  const original = await send(`${svc.checkUrl}/api/x`, { headers: { ...API, cookie: `authservice_session=${sessionTicket}` } })
  t.equal(original.status, 200, 'the untouched ticket is a valid session')
  let next = 0
  const accepted: string[] = []
  const answers = await runWorkers(8, { maxMs: 60_000, maxPerWorker: variants.length }, async () => {
    const index = next++
    if (index >= variants.length) return undefined
    const answer = await send(`${svc.checkUrl}/api/x`, { headers: { ...API, cookie: `authservice_session=${variants[index]}` } })
    if (answer.status !== 401) accepted.push(`#${index}: ${statusKey(answer)}`)
    return answer
  })
  t.comment(`${variants.length} tampered tickets (${Buffer.from(segments.join(''), 'base64url').length} bytes × 2 flips)`)
  t.equal(answers.filter(Boolean).length, variants.length, 'every variant was tried')
  t.same(accepted, [], 'each was refused with 401')
})

/** Forces a full garbage collection (V8's own flag, set at run time). */
function gc(): void {
  setFlagsFromString('--expose_gc')
  ;(runInNewContext('gc') as () => void)()
}

t.test('flow cookie floods: at most 5 flow cookies kept, and hundreds of logins do not grow the service\'s memory', { skip }, async (t) => {
  await t.test('a browser starting 300 logins keeps at most 5 flow cookies', async (t) => {
    const jar = new CookieJar()
    let most = 0
    for (let i = 0; i < 300; i++) {
      const answer = await send(`${svc.checkUrl}/login-${i}`, { headers: { ...NAVIGATE, ...(jar.cookies.size ? { cookie: jar.header() } : {}) } })
      if (answer.status !== 302) t.fail(`login ${i}: ${statusKey(answer)}`)
      jar.store(answer)
      most = Math.max(most, [...jar.cookies.keys()].filter((name) => name.startsWith('authservice_flow_')).length)
    }
    t.equal(most, 5, 'never more than five')
  })

  await t.test('memory: 2,000 logins (each carrying five flow cookies) leave the heap where it was', async (t) => {
    // A quiet instance: its log capture would otherwise grow with every line.
    const quiet = await startAuthservice(faultEnv(dex, { LOG_LEVEL: 'warn' }))
    t.teardown(() => quiet.close())
    const flood = async (count: number) => {
      let next = 0
      const jars = Array.from({ length: 8 }, () => new CookieJar())
      await runWorkers(8, { maxMs: 60_000, maxPerWorker: count }, async (worker) => {
        if (next++ >= count) return
        const jar = jars[worker]!
        const answer = await send(`${quiet.checkUrl}/flood/${next}`, { headers: { ...NAVIGATE, ...(jar.cookies.size ? { cookie: jar.header() } : {}) } })
        jar.store(answer)
      })
    }
    await flood(400) // warm-up: JIT, pools, caches
    gc()
    const before = process.memoryUsage()
    const started = Date.now()
    await flood(2_000)
    gc()
    const after = process.memoryUsage()
    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)
    t.comment(`2,000 logins in ${Date.now() - started} ms: heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB, rss ${mb(before.rss)} → ${mb(after.rss)} MB`)
    t.ok(after.heapUsed - before.heapUsed < 4 * 1024 * 1024, 'the heap grew by less than 4 MB (2 KB per login would show)')
  })

  await t.test('a forged request carrying 200 flow cookies gets our answer, in both transports', async (t) => {
    const cookie = Array.from({ length: 200 }, (_, i) => `authservice_flow_${String(i).padStart(16, '0')}=x`).join('; ')
    const direct = await send(`${svc.checkUrl}/p`, { headers: { ...NAVIGATE, cookie } })
    t.equal(direct.status, 302, 'check port: the login redirect')
    for (const gateway of [http, grpc]) {
      const errorsBefore = (await gateway.envoy.extAuthzStats()).error ?? 0
      const answer = await send(`${gateway.envoy.url}/p`, { headers: { ...NAVIGATE, cookie } })
      t.equal(answer.status, 302, `${gateway === http ? 'HTTP' : 'gRPC'} mode: the login redirect reaches the browser (${statusKey(answer)})`)
      t.ok(answer.setCookies().length <= 20, `${gateway === http ? 'HTTP' : 'gRPC'} mode: a bounded number of Set-Cookie (${answer.setCookies().length})`)
      t.equal(((await gateway.envoy.extAuthzStats()).error ?? 0) - errorsBefore, 0, 'no failed ext_authz call')
    }
  })

  await t.test('a flow cookie whose name is not a cookie token does not break the login', async (t) => {
    const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1')
    const cookie = [utf8('authservice_flow_\u00e9=1'), ...Array.from({ length: 5 }, (_, i) => `authservice_flow_${String(i).padStart(16, '0')}=x`)].join('; ')
    const failedBefore = failClosedLines()
    for (const [way, base] of ways()) {
      const answer = await send(`${base}/p`, { headers: { ...NAVIGATE, cookie } })
      t.equal(answer.status, 302, `${way}: the login redirect (${statusKey(answer)} ${show(answer.body.slice(0, 80))})`)
    }
    t.equal(failClosedLines(), failedBefore, 'the handler did not throw')
  })
})

t.test('duplicate Authorization headers and a mixed-case scheme never yield another identity', { skip }, async (t) => {
  const bob = (await dex.passwordGrant('bob@example.org')).id_token
  const user = (answer: Answer, way: string) =>
    answer.status !== 200 ? undefined : way === 'check port' ? answer.header('kubeflow-userid') : (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid']
  for (const [way, base] of ways()) {
    for (const [name, values, allowed] of [
      ['alice then bob', [`Bearer ${aliceToken}`, `Bearer ${bob}`], ['alice@example.com']],
      ['alice then garbage', [`Bearer ${aliceToken}`, 'Bearer garbage'], ['alice@example.com']],
      ['garbage then alice', ['Bearer garbage', `Bearer ${aliceToken}`], []],
      ['one header, two tokens', [`Bearer ${aliceToken}, Bearer ${bob}`], []],
      ['one header, token twice', [`Bearer ${aliceToken} ${aliceToken}`], []],
    ] as const) {
      const answer = await send(`${base}/api/x`, { headers: { ...API, authorization: [...values] } })
      const who = String(user(answer, way) ?? '')
      t.ok(answer.status === 401 || (answer.status === 200 && (allowed as readonly string[]).includes(who)), `${way}, ${name}: ${statusKey(answer)} ${who}`)
    }
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      const answer = await send(`${base}/api/x`, { headers: { ...API, authorization: `${scheme} ${aliceToken}` } })
      t.equal(user(answer, way), 'alice@example.com', `${way}: "${scheme}" is the Bearer scheme (RFC 7235: case-insensitive)`)
    }
    for (const scheme of ['Bearer\t', 'Bearer:', 'Bearer=', 'Bearer-', 'Basic ']) {
      const answer = await send(`${base}/api/x`, { headers: { ...API, authorization: `${scheme}${aliceToken}` } })
      t.equal(answer.status, 401, `${way}: ${JSON.stringify(scheme)} is not the Bearer scheme`)
    }
  }
})

t.test('spoofed forwarding and identity headers: no Location from Host or X-Forwarded-Host, no client identity upstream', { skip }, async (t) => {
  const spoofed = { host: 'evil.example', 'x-forwarded-host': 'evil.example', forwarded: 'host=evil.example;proto=https', 'x-original-url': '//evil.example/', 'x-rewrite-url': '//evil.example/', 'x-forwarded-prefix': '//evil.example' }
  for (const [way, base] of ways()) {
    const login = await send(`${base}/notebooks/`, { headers: { ...NAVIGATE, ...spoofed } })
    t.equal(login.status, 302, `${way}: login redirect`)
    t.notMatch(login.header('location'), /evil/, `${way}: no spoofed host in the login Location (${login.header('location')?.slice(0, 60)}…)`)
    t.equal(new URL(login.header('location')!, 'http://gateway.invalid').searchParams.get('redirect_uri'), '/authservice/oidc/callback', `${way}: redirect_uri exactly as configured`)
    const out = await send(`${base}/authservice/sign_out`, { headers: { ...NAVIGATE, ...spoofed, 'sec-fetch-site': 'same-origin' } })
    t.equal(out.header('location'), '/', `${way}: sign_out goes to AFTER_LOGOUT_URL, not a spoofed host`)
  }
  // The callback, with spoofed headers on the hop that finishes the login.
  for (const gateway of [http, grpc]) {
    const pending = await loginUntilCallback(gateway.envoy.url, '/lab?x=1', 'user@example.com', '12341234')
    const done = await send(`${gateway.envoy.url}${pending.callbackPath}`, { headers: { ...NAVIGATE, ...spoofed, cookie: pending.jar.header() } })
    t.equal(done.status, 302, 'the login completes')
    t.equal(done.header('location'), '/lab?x=1', 'back to the original path, not to a spoofed host')
  }
  // Identity headers sent by the client, repeated.
  const identity = { 'kubeflow-userid': ['admin@example.com', 'root@example.com'], 'kubeflow-groups': ['kubeflow-admins', 'admins'] }
  for (const gateway of [http, grpc]) {
    const mode = gateway === http ? 'HTTP' : 'gRPC'
    const allowed = await send(`${gateway.envoy.url}/api/x`, { headers: { ...API, ...identity, authorization: `Bearer ${aliceToken}` } })
    const echoed = JSON.parse(allowed.body) as EchoedRequest
    const lines = (name: string) => echoed.headerLines.filter(([header]) => header === name).map(([, value]) => value)
    t.same(lines('kubeflow-userid'), ['alice@example.com'], `${mode}: exactly one kubeflow-userid upstream, ours`)
    t.same(lines('kubeflow-groups'), ['kubeflow-admins,team-a'], `${mode}: exactly one kubeflow-groups upstream, ours`)
    const skipped = await send(`${gateway.envoy.url}/public/x`, { headers: { ...API, ...identity } })
    const skippedEcho = JSON.parse(skipped.body) as EchoedRequest
    t.same(skippedEcho.headerLines.filter(([header]) => header.startsWith('kubeflow-')), [], `${mode}: none on a skip path`)
    const before = upstream.received.length
    const denied = await send(`${gateway.envoy.url}/api/x`, { headers: { ...API, ...identity } })
    t.equal(denied.status, 401, `${mode}: identity headers alone are no credential`)
    t.equal(upstream.received.length, before, `${mode}: and the request never reached the upstream`)
  }
})

t.test('open-redirect targets in rd, next and the login target fall back to a path on this site', { skip }, async (t) => {
  const hostile = [
    '//evil.example', '//evil.example/x', '/\\evil.example', '\\\\evil.example', 'https://evil.example', 'HTTPS://evil.example', 'http:evil.example', 'javascript:alert(1)',
    'data:text/html,x', '/%2F%2Fevil.example', '%2F%2Fevil.example', '/%5Cevil.example', '/%5C%5Cevil.example', '\t//evil.example', ' //evil.example', '/\t/evil.example',
    '/%09/evil.example', '///evil.example', '/\n/evil.example', '//evil.example%2F@gateway.invalid', '/' + 'a'.repeat(5_000), '\u2028//evil.example', '//evil\u3002example',
  ]
  for (const [way, base] of ways()) {
    for (const rd of hostile) {
      const answer = await send(`${base}/authservice/sign_out?rd=${encodeURIComponent(rd)}`, { headers: { ...NAVIGATE, 'sec-fetch-site': 'same-origin' } })
      t.ok(answer.status === 302 && staysOnSite(answer.header('location')), `${way} rd=${show(rd.slice(0, 40))} → ${show(answer.header('location')?.slice(0, 60))}`)
    }
    for (const state of ['//evil.example', 'https://evil.example']) {
      const answer = await send(`${base}/authservice/oidc/callback?code=x&state=${encodeURIComponent(state)}`, { headers: NAVIGATE })
      t.ok(answer.status === 400 && answer.header('location') === undefined, `${way}: callback with state=${state}: a 400 page, no redirect`)
    }
  }

  // AFTER_LOGIN_URL: the login ends at AFTER_LOGIN_URL?next=<original target>; next must be safe too.
  const afterLogin = await startAuthservice(faultEnv(dex, { AFTER_LOGIN_URL: '/after-login' }))
  t.teardown(() => afterLogin.close())
  const gateway = await startFaultGateway(t, 'http', afterLogin, { upstreamPort: upstream.port, dexPort: dex.port })
  for (const path of ['//evil.example/x', '/\\evil.example', '/%2F%2Fevil.example', '/%5Cevil.example', '/ok?x=1']) {
    const jar = new CookieJar()
    const first = await send(`${gateway.envoy.url}${path}`, { headers: NAVIGATE })
    jar.store(first)
    if (first.status !== 302) {
      t.ok(first.status >= 400 && first.status < 500, `${path}: refused before any login (${statusKey(first)})`)
      continue
    }
    const login = await scriptedLogin(gateway.envoy.url, first.header('location')!, 'user@example.com', '12341234', jar)
    const callback = login.hops.find((hop) => (hop.header('location') ?? '').startsWith('/after-login'))
    const location = new URL(callback!.header('location')!, 'http://gateway.invalid')
    const next = location.searchParams.get('next')!
    t.equal(location.pathname, '/after-login', `${path}: the login ends at AFTER_LOGIN_URL`)
    t.ok(staysOnSite(next) && next.startsWith('/') && !next.startsWith('//'), `${path}: next=${show(next)}`)
  }
})

t.test('an rd with characters outside ASCII is answered with a valid redirect', { skip }, async (t) => {
  const failedBefore = failClosedLines()
  for (const [way, base] of ways()) {
    for (const rd of ['/\u2028x', '/caf\u00e9', '/\u65e5\u672c']) {
      const answer = await send(`${base}/authservice/sign_out?rd=${encodeURIComponent(rd)}`, { headers: { ...NAVIGATE, 'sec-fetch-site': 'same-origin' } })
      t.ok(answer.status === 302 && staysOnSite(answer.header('location')), `${way} rd=${show(rd)}: ${statusKey(answer)} → ${show(answer.header('location'))}`)
    }
  }
  t.equal(failClosedLines(), failedBefore, 'the handler did not throw')
})

t.test('after all of it: alive, no unhandled rejection, no bug path taken by the well-formed corpora', { skip }, async (t) => {
  t.equal((await send(`${svc.opsUrl}/healthz`)).status, 200, 'health answers')
  t.equal((await send(`${svc.opsUrl}/readyz`)).status, 200, 'still ready')
  t.same(unhandled.reasons, [], 'no unhandled rejection')
  const allowed = await send(`${http.envoy.url}/api/x`, { headers: { ...API, authorization: `Bearer ${aliceToken}` } })
  t.equal(allowed.status, 200, 'and still allowing valid requests')
})

/** Writes `bytes` to a fresh connection and returns everything read until the peer closes (≤ 5 s). */
function rawSocket(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let text = ''
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(text)
    }
    const timer = setTimeout(done, 5_000)
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
      if (/\r\n\r\n/.test(text)) done()
    })
    socket.on('error', done)
    socket.on('close', done)
    socket.write(bytes, 'latin1')
  })
}

