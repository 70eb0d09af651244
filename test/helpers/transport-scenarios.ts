/**
 * The check's two transports held to one table, in process and without peers. Each scenario is a
 * request as Envoy forwards it, what the transport-free handler answers (a CheckReply, or an error
 * it throws), what the handler must have received, and what Envoy then does: on an allow, the
 * headers it sets on (or removes from) the upstream request and adds to the client's response; on
 * a deny, the status, headers and body the client gets. The HTTP mode runs the table through
 * buildCheckApp and app.inject() (test/unit/http/check-route.test.ts), the gRPC mode through
 * createGrpcServer on a loopback port and a grpc-js client (test/unit/grpc/server.test.ts); each
 * says how its answer reads to Envoy. check-scenarios.ts proves through real Envoy and Dex that
 * Envoy does what this table says. The rows keep to the gateway's allow-lists (envoy-bootstrap.ts),
 * within which both modes must look the same to Envoy.
 */
import type { Test } from 'tap'
import type { HandledCheck } from '../../src/check/handle.js'
import type { CheckRequest } from '../../src/check/request.js'
import type { CheckReply, HeaderList } from '../../src/check/respond.js'
import { contentSecurityPolicy } from '../../src/pages/html.js'

/** Two cookies of one name would collapse in a Headers object; distinct names show both survived. */
export const TWO_COOKIES: Array<[string, string]> = [
  ['set-cookie', 'first=1; Path=/; HttpOnly'],
  ['set-cookie', 'second=2; Path=/; HttpOnly'],
]

/** A request as the client sent it through the gateway; a header sent twice is an array. */
export interface ForwardedRequest {
  readonly method: string
  /** Path and query, as the client sent them. */
  readonly target: string
  readonly host: string
  /** The scheme the client used (Envoy's x-forwarded-proto, and gRPC's own field). */
  readonly scheme: 'http' | 'https'
  readonly headers: Readonly<Record<string, string | readonly string[]>>
}

/** What Envoy does with the check's answer. */
export type EnvoyOutcome =
  | {
      readonly allowed: true
      /** Set on the upstream request, replacing whatever the client sent under that name. */
      readonly upstream: HeaderList
      /** Removed from the upstream request. */
      readonly removed: readonly string[]
      /** Added to the upstream's response on its way to the client. */
      readonly toClient: HeaderList
    }
  | { readonly allowed: false; readonly status: number; readonly headers: HeaderList; readonly body: string }

export interface TransportScenario {
  readonly name: string
  readonly request: ForwardedRequest
  /** What the handler answers, or the error it throws. */
  readonly answer: CheckReply | Error
  /** Headers the handler must have received (names lower-case), beyond the host; a pattern for t.match. */
  readonly received?: Readonly<Record<string, string | RegExp>>
  readonly envoy: EnvoyOutcome
}

export type ScenarioHandler = (request: CheckRequest) => Promise<HandledCheck>

/** One transport, in process: serves `handle` (closing with `t`) and returns how Envoy would ask it about a request. */
export interface InProcessTransport {
  readonly mode: 'http' | 'grpc'
  serve(t: Test, handle: ScenarioHandler): Promise<(request: ForwardedRequest) => Promise<EnvoyOutcome>>
}

const alice: HeaderList = [['kubeflow-userid', 'alice@example.com']]
const NO_STORE: HeaderList = [
  ['cache-control', 'no-store'],
  ['referrer-policy', 'no-referrer'],
]
const POLICY = ['content-security-policy', contentSecurityPolicy()] as const
const JSON_TYPE = ['content-type', 'application/json; charset=utf-8'] as const
const HTML_TYPE = ['content-type', 'text/html; charset=utf-8'] as const
const api = (method: string, target: string, headers: ForwardedRequest['headers'] = {}): ForwardedRequest => ({
  method,
  target,
  host: 'kubeflow.example.com',
  scheme: 'https',
  headers: { accept: 'application/json', ...headers },
})
const deny = (status: number, headers: HeaderList, body: string) => ({ kind: 'deny', status, headers, body }) as const

export const TRANSPORT_SCENARIOS: readonly TransportScenario[] = [
  {
    name: 'an allow sets the identity headers over the client\'s and removes the one it has no value for',
    request: api('GET', '/notebook/alice/lab?tab=1', { Authorization: 'Bearer x.y.z', 'kubeflow-userid': 'attacker@example.com' }),
    answer: { kind: 'allow', upstreamHeaders: [...alice, ['authorization', 'Bearer dex.id.token']], removeHeaders: ['kubeflow-groups'], responseHeaders: [] },
    received: { authorization: 'Bearer x.y.z', 'kubeflow-userid': 'attacker@example.com', accept: 'application/json' },
    envoy: { allowed: true, upstream: [...alice, ['authorization', 'Bearer dex.id.token']], removed: ['kubeflow-groups'], toClient: [] },
  },
  {
    name: 'a skip path: both identity headers removed, none set, over plain http',
    request: { method: 'GET', target: '/dex/.well-known/openid-configuration', host: '127.0.0.1:8000', scheme: 'http', headers: { 'kubeflow-userid': 'attacker@example.com' } },
    answer: { kind: 'allow', upstreamHeaders: [], removeHeaders: ['kubeflow-userid', 'kubeflow-groups'], responseHeaders: [] },
    envoy: { allowed: true, upstream: [], removed: ['kubeflow-userid', 'kubeflow-groups'], toClient: [] },
  },
  {
    name: 'an allow carrying two Set-Cookie adds both to the upstream\'s response; repeated request headers all arrive',
    request: {
      ...api('GET', '/pipeline/?ns=user&page=2'),
      headers: { cookie: ['authservice_session.1=part1', 'authservice_session.2=part2'], accept: ['text/html', 'application/json'] },
    },
    answer: { kind: 'allow', upstreamHeaders: alice, removeHeaders: [], responseHeaders: TWO_COOKIES },
    // Cookies join with "; " so each stays readable; other repeats with "," (HTTP: ", ").
    received: { cookie: 'authservice_session.1=part1; authservice_session.2=part2', accept: /^text\/html, ?application\/json$/ },
    envoy: { allowed: true, upstream: alice, removed: [], toClient: TWO_COOKIES },
  },
  {
    name: 'a login redirect reaches the client with its Location and both Set-Cookie',
    request: { ...api('GET', '/pipeline/?ns=user'), headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } },
    answer: deny(302, [['location', '/dex/auth?client_id=kubeflow-oidc-authservice'], ...NO_STORE, ...TWO_COOKIES], ''),
    received: { 'sec-fetch-mode': 'navigate' },
    envoy: { allowed: false, status: 302, headers: [['location', '/dex/auth?client_id=kubeflow-oidc-authservice'], ...NO_STORE, ...TWO_COOKIES], body: '' },
  },
  {
    name: 'an API call without a credential gets 401 JSON with a Bearer challenge; OPTIONS gets no free pass',
    request: api('OPTIONS', '/api/v1/pipelines'),
    answer: deny(401, [JSON_TYPE, ...NO_STORE, ['www-authenticate', 'Bearer realm="authservice"']], '{"error":"unauthenticated"}'),
    envoy: { allowed: false, status: 401, headers: [JSON_TYPE, ...NO_STORE, ['www-authenticate', 'Bearer realm="authservice"']], body: '{"error":"unauthenticated"}' },
  },
  {
    name: 'identity provider down: 401 with Retry-After',
    request: api('DELETE', '/api/x'),
    answer: deny(401, [JSON_TYPE, ...NO_STORE, ['retry-after', '5']], '{"error":"unavailable"}'),
    envoy: { allowed: false, status: 401, headers: [JSON_TYPE, ...NO_STORE, ['retry-after', '5']], body: '{"error":"unavailable"}' },
  },
  {
    name: 'a forbidden navigation gets the 403 page',
    request: { ...api('GET', '/x'), headers: { accept: 'text/html' } },
    answer: deny(403, [HTML_TYPE, ...NO_STORE], '<h1>Access denied</h1>'),
    envoy: { allowed: false, status: 403, headers: [HTML_TYPE, ...NO_STORE], body: '<h1>Access denied</h1>' },
  },
  {
    name: 'a logout answers 201, a deny whose JSON and cleared cookie reach the client (200 would be forwarded upstream)',
    request: api('POST', '/authservice/logout', { origin: 'https://kubeflow.example.com' }),
    answer: deny(201, [JSON_TYPE, ...NO_STORE, ['set-cookie', 'authservice_session=; Max-Age=0; Path=/']], '{"afterLogoutURL":"/"}'),
    received: { origin: 'https://kubeflow.example.com' },
    envoy: { allowed: false, status: 201, headers: [JSON_TYPE, ...NO_STORE, ['set-cookie', 'authservice_session=; Max-Age=0; Path=/']], body: '{"afterLogoutURL":"/"}' },
  },
  {
    name: 'the user page answers 203, a deny whose page and policy reach the client (200 would be forwarded upstream)',
    request: { ...api('GET', '/oauth2/me'), headers: { accept: 'text/html', cookie: 'authservice_session=s' } },
    answer: deny(203, [HTML_TYPE, ...NO_STORE, POLICY], '<h1>Your account</h1>'),
    received: { cookie: 'authservice_session=s' },
    envoy: { allowed: false, status: 203, headers: [HTML_TYPE, ...NO_STORE, POLICY], body: '<h1>Your account</h1>' },
  },
  {
    name: 'a method the HTTP framework does not route (PURGE) gets a decision too',
    request: api('PURGE', '/cache/x?all=1'),
    answer: deny(401, [JSON_TYPE, ...NO_STORE], '{"error":"unauthenticated"}'),
    envoy: { allowed: false, status: 401, headers: [JSON_TYPE, ...NO_STORE], body: '{"error":"unauthenticated"}' },
  },
  {
    name: 'a handler that throws is answered with the 401 fallback: never a 5xx, never an RPC error',
    request: api('GET', '/api/x'),
    answer: new Error('bug in the checker'),
    envoy: {
      allowed: false,
      status: 401,
      headers: [JSON_TYPE, ...NO_STORE, POLICY, ['www-authenticate', 'Bearer realm="authservice"']],
      body: '{"error":"unauthenticated","message":"The request could not be checked."}',
    },
  },
]

/** Header lines by name (the order of one name's values kept): Envoy does not depend on the order of names. */
const byName = (headers: HeaderList) => [...headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
const comparable = (outcome: EnvoyOutcome) =>
  outcome.allowed
    ? { ...outcome, upstream: byName(outcome.upstream), toClient: byName(outcome.toClient) }
    : { ...outcome, headers: byName(outcome.headers) }

/** Runs every scenario through `transport` (one server for all): Envoy's view of the answer, and what the handler received. */
export async function runTransportScenarios(t: Test, transport: InProcessTransport): Promise<void> {
  let current: TransportScenario | undefined
  const received: CheckRequest[] = []
  const ask = await transport.serve(t, async (request) => {
    received.push(request)
    if (current!.answer instanceof Error) throw current!.answer
    return { reply: current!.answer, outcome: 'scenario', reason: 'SCENARIO' }
  })
  for (const scenario of TRANSPORT_SCENARIOS) {
    await t.test(`${transport.mode}: ${scenario.name}`, async (t) => {
      current = scenario
      received.length = 0
      t.same(comparable(await ask(scenario.request)), comparable(scenario.envoy), 'what Envoy does with the answer')
      t.equal(received.length, 1, 'the handler was asked once')
      const [request] = received as [CheckRequest]
      const { method, target, host, scheme } = scenario.request
      // The scheme the check uses (check/handle.ts): the transport's own field, else x-forwarded-proto.
      t.match(
        { method: request.method, target: request.target, scheme: request.scheme || request.headers['x-forwarded-proto'], headers: { ...request.headers } },
        { method, target, scheme, headers: { host, ...scenario.received } },
        'the handler received the request as the client sent it',
      )
    })
  }
}
