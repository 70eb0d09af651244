/** The per-login state (state, nonce, PKCE verifier, target) sealed in a short-lived cookie named after the state. */
import t from 'tap'
import { FLOW_COOKIE_PREFIX, FLOW_TTL_SECONDS, MAX_FLOWS, flowCookieName, newFlow, openFlow, presentFlowCookies, sealFlow, type LoginFlow } from '../../../src/login/flow.js'
import { deriveKeys } from '../../../src/session/keys.js'
import { seal } from '../../../src/session/seal.js'

const NOW = 1_750_000_000_000
const RING = deriveKeys({ sessionSecrets: [], clientSecret: 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok' }, 'login-flow')

t.test('a new flow has fresh random state, nonce and PKCE verifier, and keeps the target and start time', async (t) => {
  const a = newFlow('/jupyter/?ns=kubeflow-user', NOW)
  const b = newFlow('/jupyter/?ns=kubeflow-user', NOW)
  t.equal(a.target, '/jupyter/?ns=kubeflow-user')
  t.equal(a.createdAt, NOW)
  for (const field of ['state', 'nonce', 'codeVerifier'] as const) {
    t.match(a[field], /^[A-Za-z0-9_-]{43,}$/, `${field}: at least 256 bits, base64url`)
    t.not(a[field], b[field], `${field}: never reused between logins`)
  }
  t.not(a.state, a.nonce, 'state and nonce are independent')
})

t.test('a sealed flow opens with its own state, as it was', async (t) => {
  const flow = newFlow('/pipeline/', NOW)
  const sealed = await sealFlow(flow, RING)
  t.notMatch(sealed, flow.codeVerifier, 'the PKCE verifier is not readable in the cookie')
  t.notMatch(sealed, flow.nonce, 'nor is the nonce')
  t.same(await openFlow(sealed, flow.state, RING, NOW + 1000), flow)
})

t.test('a flow for another state is refused (login CSRF)', async (t) => {
  const flow = newFlow('/', NOW)
  const sealed = await sealFlow(flow, RING)
  const sameLength = flow.state.slice(0, -1) + (flow.state.endsWith('A') ? 'B' : 'A')
  t.equal(await openFlow(sealed, sameLength, RING, NOW), undefined, 'a state of the same length, one character off (the constant-time comparison)')
  t.equal(await openFlow(sealed, flow.state + 'x', RING, NOW), undefined, 'a longer state')
  t.equal(await openFlow(sealed, '', RING, NOW), undefined, 'an empty state')
  t.equal(await openFlow(sealed, newFlow('/', NOW).state, RING, NOW), undefined, 'the state of another login')
})

t.test('a flow expires 600 seconds after it started', async (t) => {
  t.equal(FLOW_TTL_SECONDS, 600)
  const flow = newFlow('/', NOW)
  const sealed = await sealFlow(flow, RING)
  t.same(await openFlow(sealed, flow.state, RING, NOW + 600_000), flow, 'still valid at exactly 600 s')
  t.equal(await openFlow(sealed, flow.state, RING, NOW + 600_001), undefined, 'expired just after')
})

t.test('a missing, tampered or foreign flow cookie is refused', async (t) => {
  const flow = newFlow('/', NOW)
  const sealed = await sealFlow(flow, RING)
  t.equal(await openFlow(undefined, flow.state, RING, NOW), undefined, 'no cookie')
  const parts = sealed.split('.')
  const flipped = parts[3]!.startsWith('A') ? 'B' + parts[3]!.slice(1) : 'A' + parts[3]!.slice(1)
  t.equal(await openFlow([parts[0], parts[1], parts[2], flipped, parts[4]].join('.'), flow.state, RING, NOW), undefined, 'an altered ciphertext')
  t.equal(await openFlow('not-a-sealed-value', flow.state, RING, NOW), undefined, 'junk')
  const otherRing = deriveKeys({ sessionSecrets: [], clientSecret: 'another-client-secret' }, 'login-flow')
  t.equal(await openFlow(sealed, flow.state, otherRing, NOW), undefined, 'sealed under another secret')
  const sessionRing = deriveKeys({ sessionSecrets: [], clientSecret: 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok' }, 'session')
  t.equal(await openFlow(await seal(flow, sessionRing), flow.state, RING, NOW), undefined, 'sealed with the session key, not the flow key')
})

t.test('a sealed value without a flow\'s shape is refused', async (t) => {
  const flow = newFlow('/', NOW)
  const broken: [name: string, value: unknown][] = [
    ['null', null],
    ['a string', 'flow'],
    ['state not a string', { ...flow, state: 1 }],
    ['no nonce', { ...flow, nonce: undefined }],
    ['codeVerifier not a string', { ...flow, codeVerifier: ['x'] }],
    ['no target', { ...flow, target: undefined }],
    ['createdAt not a number', { ...flow, createdAt: String(NOW) }],
  ]
  for (const [name, value] of broken) t.equal(await openFlow(await seal(value, RING), flow.state, RING, NOW), undefined, name)
})

t.test('the flow cookie name is derived from the state: one cookie per login, two tabs never collide', async (t) => {
  const a = newFlow('/', NOW)
  const b = newFlow('/', NOW)
  t.match(flowCookieName(a.state), /^authservice_flow_[A-Za-z0-9_-]{16}$/)
  t.ok(flowCookieName(a.state).startsWith(FLOW_COOKIE_PREFIX))
  t.equal(flowCookieName(a.state), flowCookieName(a.state), 'the callback finds it again from the state alone')
  t.not(flowCookieName(a.state), flowCookieName(b.state))
  t.notMatch(flowCookieName(a.state), a.state, 'the name does not reveal the state')
})

t.test('flow cookies present in a request are listed oldest first; names we never make are ignored', async (t) => {
  t.equal(MAX_FLOWS, 5)
  const [first, second, third] = ['state-1', 'state-2', 'state-3'].map(flowCookieName) as [string, string, string]
  const cookies: Record<string, string | undefined> = {
    authservice_session: 'x',
    [first]: 'a',
    other: 'y',
    [second]: 'b',
    authservice_flow_tossed: 'planted by a sibling domain',
    'authservice_flow_é': 'not a cookie token',
    [third]: 'c',
  }
  t.same(presentFlowCookies(cookies), [first, second, third])
  t.same(presentFlowCookies({}), [])
})

t.test('a login started on one replica finishes on another that has the same secret', async (t) => {
  const flow: LoginFlow = { state: 's', nonce: 'n', codeVerifier: 'v', target: '/t', createdAt: NOW }
  const otherReplica = deriveKeys({ sessionSecrets: [], clientSecret: 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok' }, 'login-flow')
  t.same(await openFlow(await sealFlow(flow, RING), 's', otherReplica, NOW), flow)
})
