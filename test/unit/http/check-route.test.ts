/**
 * The HTTP ext_authz check (Envoy `http_service`) in process: the shared transport table through
 * buildCheckApp and app.inject(), read as the gateway's HTTP filter reads our answer (exactly 200
 * allows; its allow-lists in envoy-bootstrap.ts pick the headers), then what only the HTTP mode has.
 */
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildCheckApp } from '../../../src/app.js'
import type { CheckReply, HeaderList } from '../../../src/check/respond.js'
import { utf8Octets } from '../../../src/http/check-route.js'
import { createLogger } from '../../../src/log/logger.js'
import { CLIENT_HEADERS_ON_ALLOW, CLIENT_HEADERS_ON_DENY, UPSTREAM_HEADERS_ON_ALLOW } from '../../helpers/envoy-bootstrap.js'
import {
  runTransportScenarios,
  type EnvoyOutcome,
  type ForwardedRequest,
  type InProcessTransport,
  type ScenarioHandler,
} from '../../helpers/transport-scenarios.js'

/** Envoy passes these on a deny whatever the allow-list says. */
const DENY_HEADERS = [...CLIENT_HEADERS_ON_DENY, 'location', 'www-authenticate']

/** The response's header lines whose names are in `names` (each Set-Cookie its own line). */
function linesOf(response: LightMyRequestResponse, names: readonly string[]): HeaderList {
  return Object.entries(response.headers)
    .filter(([name]) => names.includes(name))
    .flatMap(([name, value]) => [value ?? []].flat().map((item) => [name, String(item)] as const))
}

/**
 * What Envoy's HTTP ext_authz filter does with our answer. One liberty: fastify labels an empty body
 * (a redirect's) `text/plain`, which gRPC has no counterpart for; a type on no content is dropped here.
 */
function envoyOutcome(response: LightMyRequestResponse): EnvoyOutcome {
  if (response.statusCode !== 200) {
    const headers = linesOf(response, DENY_HEADERS).filter(([name]) => response.body !== '' || name !== 'content-type')
    return { allowed: false, status: response.statusCode, headers, body: response.body }
  }
  const removed = response.headers['x-envoy-auth-headers-to-remove']
  return {
    allowed: true,
    upstream: linesOf(response, UPSTREAM_HEADERS_ON_ALLOW),
    removed: typeof removed === 'string' ? removed.split(/,\s*/) : [],
    toClient: linesOf(response, CLIENT_HEADERS_ON_ALLOW),
  }
}

/** The check app on a handler; closed with `t`. */
function checkApp(t: Test, handle: ScenarioHandler) {
  const app = buildCheckApp({ logger: createLogger('silent'), handle })
  t.teardown(() => app.close())
  return app
}

/** Envoy's check request: the client's method and target, Host, and x-forwarded-proto (use_remote_address). */
const injected = (request: ForwardedRequest) => ({
  method: request.method as 'GET',
  url: request.target,
  headers: { ...request.headers, host: request.host, 'x-forwarded-proto': request.scheme } as Record<string, string | string[]>,
})

const httpTransport: InProcessTransport = {
  mode: 'http',
  async serve(t, handle) {
    const app = checkApp(t, handle)
    return async (request) => envoyOutcome(await app.inject(injected(request)))
  },
}

t.test('the shared transport table', (t) => runTransportScenarios(t, httpTransport))

/** A handler answering every check with `reply`. */
const answering = (reply: CheckReply): ScenarioHandler => async () => ({ reply, outcome: 'test', reason: 'TEST' })
const allowAll = answering({ kind: 'allow', upstreamHeaders: [], removeHeaders: [], responseHeaders: [] })

t.test('an allow\'s other response headers are sent as headers: the gateway\'s allow-list decides (the shipped one passes Set-Cookie only)', async (t) => {
  const app = checkApp(t, answering({ kind: 'allow', upstreamHeaders: [], removeHeaders: [], responseHeaders: [['x-session-renewed', '1']] }))
  const response = await app.inject({ method: 'GET', url: '/' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['x-session-renewed'], '1')
})

t.test('the body Envoy may forward is never parsed: any content type, any size, even malformed', async (t) => {
  const app = checkApp(t, allowAll)
  for (const [contentType, payload] of [
    ['application/json', '{"not json'],
    ['application/x-www-form-urlencoded', 'a=%zz'],
    ['multipart/form-data; boundary=x', 'x'.repeat(64 * 1024)],
  ]) {
    const response = await app.inject({ method: 'POST', url: '/api/x', headers: { 'content-type': contentType }, payload })
    t.equal(response.statusCode, 200, `${contentType}: answered by the check`)
  }
})

t.test('a QUERY request (RFC 10008) gets a decision too, with or without a content type', async (t) => {
  const app = checkApp(t, allowAll)
  t.equal((await app.inject({ method: 'QUERY' as 'GET', url: '/api/x' })).statusCode, 200, 'as Envoy forwards it: no body, no content type')
  const typed = await app.inject({ method: 'QUERY' as 'GET', url: '/api/x', headers: { 'content-type': 'application/json' }, payload: '{}' })
  t.equal(typed.statusCode, 200, 'with a content type')
})

t.test('identity headers carry the UTF-8 octets of their value, whatever the script (README, "Identity headers")', async (t) => {
  const values = [['kubeflow-userid', 'josé@example.com'], ['kubeflow-groups', '开发组,équipe-a'], ['x-auth-request-email', 'ascii@example.com']] as const
  const app = checkApp(t, answering({ kind: 'allow', upstreamHeaders: values, removeHeaders: [], responseHeaders: [] }))
  const response = await app.inject({ method: 'GET', url: '/api/x' })
  t.equal(response.statusCode, 200, 'a name outside Latin-1 is an allow, not a framework error')
  for (const [name, value] of values) {
    // Node writes (and light-my-request reads) header strings one character per octet.
    t.same(Buffer.from(String(response.headers[name]), 'latin1'), Buffer.from(value, 'utf8'), `${name}: the UTF-8 octets of ${value}`)
  }
  t.equal(utf8Octets('josé'), 'jos\u00c3\u00a9', 'é is two octets, as in gRPC mode, not Latin-1\'s one')
  t.equal(utf8Octets('kubeflow-admins'), 'kubeflow-admins', 'ASCII is unchanged')
})
