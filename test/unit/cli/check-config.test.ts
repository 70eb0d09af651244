// `authservice check-config`: the environment as serve loads it, then the provider as the service
// contacts it (discovery, keys); exit 0 when usable, 1 with the problems; never a secret.
import t from 'tap'
import type { Fetch } from '../../../src/oidc/fetch.js'
import { checkConfig, describeError, keyFitsAlgorithms, type CheckConfigIo } from '../../../src/cli/check-config.js'
import { startTestIssuer } from '../../helpers/test-issuer.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const SECRET = 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok-never-printed'
const ENV = { OIDC_PROVIDER: ISSUER, CLIENT_ID: 'kubeflow-oidc-authservice', CLIENT_SECRET: SECRET }
const RSA_KEY = { kty: 'RSA', kid: 'a1b2c3', use: 'sig', alg: 'RS256', n: 'x', e: 'AQAB' }

type Route = unknown | { status: number; body: unknown } | Error
function provider(routes: Record<string, Route>): { fetch: Fetch; calls: Array<{ url: string; signal?: AbortSignal }> } {
  const calls: Array<{ url: string; signal?: AbortSignal }> = []
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, signal: init?.signal })
    const route = routes[url]
    if (route === undefined) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
    if (route instanceof Error) throw route
    const { status, body } = typeof route === 'object' && route !== null && 'status' in route ? (route as { status: number; body: unknown }) : { status: 200, body: route }
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status })
  }
  return { fetch, calls }
}

const discovery = (issuer = ISSUER, extra: Record<string, unknown> = {}) => ({
  issuer,
  authorization_endpoint: `${issuer}/auth`,
  token_endpoint: `${issuer}/token`,
  jwks_uri: `${issuer}/keys`,
  ...extra,
})
const dex = (keys: unknown = { keys: [RSA_KEY] }, extra: Record<string, unknown> = {}) => ({
  [`${ISSUER}/.well-known/openid-configuration`]: discovery(ISSUER, extra),
  [`${ISSUER}/keys`]: keys,
})

async function run(env: Record<string, string>, fetch: Fetch, files: Record<string, string> = {}) {
  let out = ''
  const io: CheckConfigIo = {
    env,
    readFile: (path) => {
      if (files[path] === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
      return files[path]
    },
    fetch,
    out: (text) => (out += text),
  }
  const code = await checkConfig(io)
  return { code, out }
}

t.test('a usable configuration: what was found, exit 0, no secret', async (t) => {
  const { fetch, calls } = provider(dex({ keys: [RSA_KEY, { ...RSA_KEY, kid: 'next', alg: undefined }] }))
  const { code, out } = await run({ ...ENV, OIDC_AUTH_URL: '/dex/auth', SESSION_SECRETS: Buffer.alloc(32, 1).toString('base64') }, fetch)
  t.equal(code, 0)
  t.match(out, 'Configuration: valid')
  t.match(out, 'client         kubeflow-oidc-authservice (secret set, not shown)')
  t.match(out, 'sessions       cookie store, 1 key(s) from SESSION_SECRETS')
  t.match(out, `Identity provider ${ISSUER}`)
  t.match(out, `discovery      ok (${ISSUER}/.well-known/openid-configuration)`)
  t.match(out, `issuer         ${ISSUER}`)
  t.match(out, `authorization  ${ISSUER}/auth — browsers are sent to /dex/auth (OIDC_AUTH_URL)`)
  t.match(out, `token          ${ISSUER}/token`)
  t.match(out, `keys           2 signing keys (${ISSUER}/keys)`)
  t.match(out, 'kid a1b2c3  alg RS256  kty RSA\n')
  t.match(out, 'kid next  alg (any)  kty RSA\n')
  t.match(out, 'warning: OIDC_PROVIDER: uses plain http', 'the loader’s warnings are shown')
  t.match(out, /Usable: the service can start/)
  t.notMatch(out, SECRET)
  t.notMatch(out, Buffer.alloc(32, 1).toString('base64'), 'session secrets are not shown')
  t.ok(calls.every((call) => call.signal instanceof AbortSignal), 'every request has a timeout')
})

t.test('an invalid environment: every problem, exit 1, nothing contacted, no secret', async (t) => {
  const { fetch, calls } = provider({})
  const { code, out } = await run({ CLIENT_SECRET: SECRET, SERVER_PORT: 'eighty' }, fetch)
  t.equal(code, 1)
  t.match(out, 'Configuration: INVALID')
  t.match(out, 'problem: OIDC_PROVIDER: required')
  t.match(out, 'problem: CLIENT_ID: required')
  t.match(out, 'problem: SERVER_PORT')
  t.match(out, 'Not usable')
  t.notMatch(out, SECRET)
  t.same(calls, [])
})

t.test('an unexpected loader failure is not swallowed', async (t) => {
  const env = new Proxy({}, { get: () => { throw new Error('boom') } }) as Record<string, string>
  await t.rejects(run(env, provider({}).fetch), /boom/)
})

t.test('a provider that cannot be reached: exit 1 naming the cause', async (t) => {
  const { code, out } = await run(ENV, provider({}).fetch)
  t.equal(code, 1)
  t.match(out, `discovery      FAILED (${ISSUER}/.well-known/openid-configuration)`)
  t.match(out, /problem: .*identity provider discovery failed.*fetch failed: connect ECONNREFUSED/)
  t.match(out, 'Not usable: see the problem above.')
})

t.test('keys that cannot be loaded or used: exit 1', async (t) => {
  const cases: Array<[string, Route, RegExp]> = [
    ['the keys endpoint fails', new Error('socket hang up'), /cannot load the signing keys from .*: socket hang up/],
    ['the keys endpoint answers 500', { status: 500, body: 'oops' }, /the keys endpoint answered 500/],
    ['the document has no keys array', { keys: 'none' }, /has no "keys" array/],
    ['the document is null', null, /has no "keys" array/],
    ['no key has a kid', { keys: [{ ...RSA_KEY, kid: undefined }, null] }, /publishes no signing keys/],
    ['only encryption keys', { keys: [{ ...RSA_KEY, use: 'enc' }] }, /publishes no signing keys/],
    ['no key fits JWT_ALGORITHMS', { keys: [{ ...RSA_KEY, alg: 'ES256', kty: 'EC', crv: 'P-256' }] }, /no signing key fits JWT_ALGORITHMS \(RS256\)/],
  ]
  for (const [name, keys, problem] of cases) {
    const { code, out } = await run(ENV, provider(dex(keys)).fetch)
    t.equal(code, 1, name)
    t.match(out, problem, name)
  }
  const { out } = await run(ENV, provider(dex({ keys: [{ ...RSA_KEY, alg: 'ES256', kty: 'EC', crv: 'P-256' }] })).fetch)
  t.match(out, 'kid a1b2c3  alg ES256  kty EC P-256  — not usable with JWT_ALGORITHMS')
  const skipped = await run(ENV, provider(dex({ keys: [RSA_KEY, { kid: 7 }, { kid: 'bare' }] })).fetch)
  t.equal(skipped.code, 0)
  t.match(skipped.out, 'keys           2 signing keys (')
  t.match(skipped.out, 'kid bare  alg (any)  kty ?  — not usable with JWT_ALGORITHMS', 'a key without kty')
  t.match(skipped.out, 'warning: http://dex.auth.svc.cluster.local:5556/dex: 1 key(s) without a kid or not for signatures are ignored')
})

t.test('endpoints: optional ones shown, missing ones warned about', async (t) => {
  const full = await run(ENV, provider(dex(undefined, { end_session_endpoint: `${ISSUER}/logout`, revocation_endpoint: `${ISSUER}/revoke` })).fetch)
  t.match(full.out, `end session    ${ISSUER}/logout`)
  t.match(full.out, `revocation     ${ISSUER}/revoke`)
  t.notMatch(full.out, 'OIDC_AUTH_URL', 'no override mentioned')

  const bare = await run(ENV, provider(dex(undefined, { authorization_endpoint: undefined, token_endpoint: undefined })).fetch)
  t.equal(bare.code, 0, 'bearer tokens still work')
  t.match(bare.out, 'authorization  (none)')
  t.match(bare.out, 'token          (none)')
  t.match(bare.out, 'warning: the provider advertises no authorization_endpoint and OIDC_AUTH_URL is not set')
  t.match(bare.out, 'warning: the provider advertises no token_endpoint')

  const relative = await run({ ...ENV, OIDC_AUTH_URL: '/dex/auth' }, provider(dex(undefined, { authorization_endpoint: undefined })).fetch)
  t.notMatch(relative.out, 'no authorization_endpoint', 'OIDC_AUTH_URL stands in')
})

t.test('extra issuers are checked too; their failures are warnings', async (t) => {
  const extra = 'https://ci.example.com'
  const other = 'https://login.example.com'
  const routes = {
    ...dex(),
    [`${other}/.well-known/openid-configuration`]: discovery(other),
    [`${other}/keys`]: { keys: [RSA_KEY] },
  }
  const rules = JSON.stringify({ [other]: { useridClaim: 'email', emailDomains: 'skip' } })
  const { code, out } = await run({ ...ENV, EXTRA_JWT_ISSUERS: `${extra},${other}=other-audience`, EXTRA_JWT_ISSUER_RULES: rules }, provider(routes).fetch)
  t.equal(code, 0, 'usable: the primary issuer works')
  t.match(out, `Extra issuer ${extra} (audience istio-ingressgateway.istio-system.svc.cluster.local; user id from sub, email domains apply)`, 'with the default EXTRA_JWT_ISSUER_RULES')
  t.match(out, `Extra issuer ${other} (audience other-audience; user id from email, email domains skip)`, 'with its own')
  t.match(out, /warning: extra issuer not usable yet: https:\/\/ci.example.com: identity provider discovery failed/)
  t.notMatch(out.split(`Extra issuer ${other}`)[1]!, 'authorization', 'only the primary issuer’s login endpoints are listed')
})

t.test('the redis store is described, its password never shown', async (t) => {
  const { out } = await run({ ...ENV, SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_ADDR: 'redis:6379', SESSION_STORE_REDIS_PWD: 'redis-secret-pw' }, provider(dex()).fetch)
  t.match(out, 'sessions       redis at redis:6379 db 0, password set (not contacted)')
  t.notMatch(out, 'redis-secret-pw')
  const { out: open } = await run({ ...ENV, SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_ADDR: 'redis:6379', SERVER_HOSTNAME: '127.0.0.1' }, provider(dex()).fetch)
  t.match(open, 'sessions       redis at redis:6379 db 0 (not contacted)')
  t.match(open, 'listens        check on 127.0.0.1:8080, readiness on :8081')
  const { out: sentinel } = await run({ ...ENV, SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_SENTINEL_ADDRS: 's1:26379,s2:26379', SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: 'mymaster', SESSION_STORE_REDIS_USERNAME: 'authservice', SESSION_STORE_REDIS_PWD: 'redis-secret-pw', SESSION_STORE_REDIS_TLS: 'true' }, provider(dex()).fetch)
  t.match(sentinel, 'sessions       redis at master mymaster via Sentinels s1:26379, s2:26379 db 0, user authservice, password set, TLS (not contacted)')
  const { out: cluster } = await run({ ...ENV, SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_CLUSTER_ADDRS: 'n1:6379', SESSION_STORE_REDIS_TLS: 'true', SESSION_STORE_REDIS_CA_BUNDLE: '/ca.pem' }, provider(dex()).fetch, { '/ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' })
  t.match(cluster, 'sessions       redis at Cluster nodes n1:6379 db 0, TLS (own CA bundle) (not contacted)')
  const { out: derived } = await run(ENV, provider(dex()).fetch)
  t.match(derived, 'cookie store, key derived from CLIENT_SECRET')
  t.match(derived, 'listens        check on 0.0.0.0:8080')
})

t.test('with CA_BUNDLE the provider is called through the CA-aware fetch (a real OP over loopback)', async (t) => {
  const op = await startTestIssuer({ path: '/dex' })
  t.teardown(() => op.close())
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
  const injected = provider({})
  const { code, out } = await run({ ...ENV, OIDC_PROVIDER: op.issuer, CA_BUNDLE: '/ca.pem' }, injected.fetch, { '/ca.pem': pem })
  t.equal(code, 0, out)
  t.match(out, `issuer         ${op.issuer}`)
  t.same(injected.calls, [], 'the injected fetch is bypassed')
})

t.test('describeError walks the causes and adds codes once', async (t) => {
  const error = new Error('outer', { cause: new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }) })
  t.equal(describeError(error), 'outer: fetch failed: connect ECONNREFUSED 127.0.0.1:1')
  t.equal(describeError(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), 'timed out (ETIMEDOUT)')
  t.equal(describeError('plain'), 'plain')
  t.equal(describeError(new Error('')), 'Error')
  t.equal(describeError(new Error('same', { cause: new Error('same') })), 'same', 'repeats are dropped')
  let deep: Error = new Error('level 9')
  for (let i = 8; i >= 0; i--) deep = new Error(`level ${i}`, { cause: deep })
  t.equal(describeError(deep).split(': ').length, 5, 'at most five levels')
})

t.test('keyFitsAlgorithms: by alg, else by key type', async (t) => {
  const key = (alg: string | undefined, kty: string | undefined) => ({ kid: 'k', alg, kty, crv: undefined })
  t.ok(keyFitsAlgorithms(key('RS256', 'RSA'), ['RS256']))
  t.notOk(keyFitsAlgorithms(key('RS512', 'RSA'), ['RS256']))
  t.ok(keyFitsAlgorithms(key(undefined, 'RSA'), ['PS256']))
  t.ok(keyFitsAlgorithms(key(undefined, 'EC'), ['RS256', 'ES384']))
  t.notOk(keyFitsAlgorithms(key(undefined, 'EC'), ['RS256']))
  t.ok(keyFitsAlgorithms(key(undefined, 'OKP'), ['EdDSA']))
  t.notOk(keyFitsAlgorithms(key(undefined, 'oct'), ['RS256']))
  t.notOk(keyFitsAlgorithms(key(undefined, undefined), ['RS256']))
})
