// The identity provider failing under the service, through real Envoy in both transports: Dex down
// at start (gRPC; HTTP is provider-lifecycle.test.ts), Dex slow (a TCP proxy holding its answers
// past our 3 s timeouts), Dex down while running, and Dex coming back on the same port. Every
// answer must come from us — never Envoy's bare 403 (a 5xx, reset or timeout on our side) — and
// within Envoy's 5 s check timeout.
import t, { type Test } from 'tap'
import { startAuthservice } from '../helpers/authservice.js'
import { startDexBehindProxy, type ProxiedDex } from '../helpers/dex-behind-proxy.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { API, MODES, NAVIGATE, completeCallback, faultEnv, loginUntilCallback, startFaultGateway, tokenWithUnknownKid, type Mode } from '../helpers/fault-gateway.js'
import { grpcClient } from '../helpers/grpc.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { scriptedLogin } from '../helpers/scripted-login.js'
import { isBare403, send, watchUnhandledRejections, type Answer } from '../helpers/traffic.js'
import { waitUntil } from '../helpers/wait.js'

const skip = skipUnlessPeers('dex', 'envoy')
/** Envoy's check timeout in test/helpers/envoy.ts; an answer later than this is Envoy's bare 403. */
const ENVOY_CHECK_TIMEOUT_MS = 5_000

const unhandled = watchUnhandledRejections()
t.teardown(() => unhandled.stop())

/** The user the upstream saw (the gateway forwarded our kubeflow-userid). */
const upstreamUser = (answer: Answer) => (answer.status === 200 ? (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid'] : undefined)

function assertUnavailable(t: Test, answer: Answer, what: string) {
  t.equal(answer.status, 401, `${what}: 401, not a 5xx (${answer.status} ${answer.error ?? ''})`)
  t.equal(answer.header('retry-after'), '5', `${what}: Retry-After`)
  t.match(answer.body, /unavailable/i, `${what}: says the provider is unavailable`)
}

function assertLoginFailedPage(t: Test, answer: Answer, what: string) {
  t.notOk(isBare403(answer), `${what}: answered by us, not Envoy's bare 403`)
  t.equal(answer.status, 400, `${what}: the readable 4xx page`)
  t.match(answer.header('content-type'), /^text\/html/, `${what}: a page`)
  t.match(answer.body, /could not be completed|unavailable/, `${what}: says what happened`)
  t.match(answer.body, /id="login-again"/, `${what}: offers to log in again`)
  t.match(answer.setCookies().join('\n'), /authservice_flow_[^=]+=;/, `${what}: the used flow cookie is cleared`)
  t.notOk(answer.setCookies().some((cookie) => cookie.startsWith('authservice_session=') && !/Max-Age=0/.test(cookie)), `${what}: no session`)
}

t.test('gRPC mode: Dex down at start — 401 with Retry-After meanwhile, NOT_SERVING, then working without a restart', { skip }, async (t) => {
  const dex = await startDexBehindProxy()
  t.teardown(() => dex.close())
  await dex.stop()
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const authservice = await startAuthservice(faultEnv(dex), { waitReady: false })
  t.teardown(() => authservice.close())
  const gateway = await startFaultGateway(t, 'grpc', authservice, { upstreamPort: upstream.port, dexPort: dex.directPort })
  const health = grpcClient(gateway.checkPort)
  t.teardown(() => health.close())

  t.same(await health.health(), { status: 'NOT_SERVING' }, 'gRPC health: not serving while Dex is down')
  assertUnavailable(t, await send(`${gateway.envoy.url}/api/x`, { headers: API }), 'API call')
  const page = await send(`${gateway.envoy.url}/notebooks/`, { headers: NAVIGATE })
  assertUnavailable(t, page, 'navigation')
  t.match(page.header('content-type'), /^text\/html/)
  t.match(page.body, /http-equiv="refresh"/, 'the page reloads itself')
  const skipPath = await send(`${gateway.envoy.url}/public/help`, { headers: API })
  t.equal(skipPath.status, 200, 'skip paths need no provider')

  await dex.start()
  await waitUntil('the service to discover Dex', async () => authservice.service.isReady(), { timeoutMs: 40_000, intervalMs: 200 })
  t.same(await health.health(), { status: 'SERVING' }, 'gRPC health: serving once the keys are loaded')
  const { id_token: token } = await dex.passwordGrant('user@example.com')
  const allowed = await send(`${gateway.envoy.url}/notebooks/`, { headers: { ...API, authorization: `Bearer ${token}` } })
  t.equal(allowed.status, 200, 'a Dex token works without a restart')
  t.equal(upstreamUser(allowed), 'user@example.com')
  const login = await send(`${gateway.envoy.url}/notebooks/`, { headers: NAVIGATE })
  t.equal(login.status, 302, 'a navigation goes to login')
  t.equal(new URL(login.header('location')!, gateway.envoy.url).pathname, '/dex/auth')
  t.equal((await gateway.envoy.extAuthzStats()).error ?? 0, 0, 'Envoy counted no failed check')
})

async function bench(t: Test, mode: Mode) {
  const dex: ProxiedDex = await startDexBehindProxy()
  t.teardown(() => dex.close())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  // A clock the test can move past the 5 s between two key refetches (an unknown kid goes back to Dex).
  const offset = { ms: 0 }
  const authservice = await startAuthservice(faultEnv(dex), { clock: { now: () => Date.now() + offset.ms } })
  t.teardown(() => authservice.close())
  const gateway = await startFaultGateway(t, mode, authservice, { upstreamPort: upstream.port, dexPort: dex.directPort })
  return { dex, authservice, gateway, url: gateway.envoy.url, offset }
}

for (const mode of MODES) {
  t.test(`${mode} mode: Dex slow, then down, then back — bearer tokens and sessions keep working, logins fail readably, all answered in time`, { skip }, async (t) => {
    const { dex, authservice, gateway, url, offset } = await bench(t, mode)
    const session = await scriptedLogin(url, '/before', 'alice@example.com', 'alice-password')
    t.equal(session.final.status, 200, 'a session made while Dex is fine')
    const cookie = session.jar.header()
    const { id_token: bearer } = await dex.passwordGrant('bob@example.org')
    const pending = [
      await loginUntilCallback(url, '/slow-login', 'user@example.com', '12341234'),
      await loginUntilCallback(url, '/down-login', 'user@example.com', '12341234'),
    ]
    const unknownKid = await tokenWithUnknownKid(dex.issuer, dex.clientId)

    /** What keeps working whatever Dex does: cached keys for bearer tokens, the session cookie, the login redirect. */
    const unaffected = async (phase: string) => {
      const [asBearer, asSession, navigation] = await Promise.all([
        send(`${url}/api/x`, { headers: { ...API, authorization: `Bearer ${bearer}` } }),
        send(`${url}/api/y`, { headers: { ...API, cookie } }),
        send(`${url}/notebooks/`, { headers: NAVIGATE }),
      ])
      t.equal(asBearer.status, 200, `${phase}: a bearer token verifies from cached keys`)
      t.equal(upstreamUser(asBearer), 'bob@example.org', `${phase}: as its user`)
      t.ok(asBearer.ms < 1_000, `${phase}: at once (${asBearer.ms} ms)`)
      t.equal(asSession.status, 200, `${phase}: an existing session works`)
      t.equal(upstreamUser(asSession), 'alice@example.com', `${phase}: as its user`)
      t.equal(navigation.status, 302, `${phase}: a navigation without session still gets the login redirect (OIDC_AUTH_URL needs no provider call)`)
      t.match(navigation.header('location'), /^\/dex\/auth\?/, `${phase}: to /dex/auth`)
    }

    await t.test('Dex slow (every answer held 4 s, past our 3 s timeouts)', async (t) => {
      dex.proxy.setDelay(4_000)
      await unaffected('slow')
      offset.ms += 6_000
      const [callback, unknown] = await Promise.all([
        completeCallback(url, pending[0]!),
        send(`${url}/api/z`, { headers: { ...API, authorization: `Bearer ${unknownKid}` } }),
      ])
      t.comment(`slow Dex: callback answered in ${callback.ms} ms, unknown-kid check in ${unknown.ms} ms (Envoy gives up at ${ENVOY_CHECK_TIMEOUT_MS} ms)`)
      assertLoginFailedPage(t, callback, 'the callback whose code exchange timed out')
      t.ok(callback.ms < ENVOY_CHECK_TIMEOUT_MS - 500, `the callback is answered before Envoy's timeout (${callback.ms} ms)`)
      assertUnavailable(t, unknown, 'a token with an unknown kid (the key refetch timed out)')
      t.ok(unknown.ms < ENVOY_CHECK_TIMEOUT_MS - 500, `answered before Envoy's timeout (${unknown.ms} ms)`)
      dex.proxy.setDelay(0)
    })

    await t.test('Dex down', async (t) => {
      await dex.stop()
      await unaffected('down')
      offset.ms += 6_000
      const [callback, unknown] = await Promise.all([
        completeCallback(url, pending[1]!),
        send(`${url}/api/z`, { headers: { ...API, authorization: `Bearer ${unknownKid}` } }),
      ])
      assertLoginFailedPage(t, callback, 'a callback while Dex is down')
      t.ok(callback.ms < 2_000, `at once (${callback.ms} ms)`)
      assertUnavailable(t, unknown, 'a token with an unknown kid while Dex is down')
      t.equal(authservice.service.isReady(), true, 'still ready: the keys stay cached')
      t.equal((await send(`${authservice.opsUrl}/readyz`)).status, 200, '/readyz stays 200 (no restart loop in Kubernetes)')
    })

    await t.test('Dex back on the same port: recovery without a restart', async (t) => {
      await dex.start()
      offset.ms += 6_000 // Dex (memory storage) came back with new keys: the first new kid refetches them
      const fresh = (await dex.passwordGrant('user@example.com')).id_token
      const allowed = await send(`${url}/api/x`, { headers: { ...API, authorization: `Bearer ${fresh}` } })
      t.equal(allowed.status, 200, 'a token of the restarted Dex is accepted')
      t.equal(upstreamUser(allowed), 'user@example.com')
      const login = await scriptedLogin(url, '/after', 'user@example.com', '12341234')
      t.equal(login.final.status, 200, 'a full login works again')
      t.equal(new URL(login.finalUrl).pathname, '/after')
      const old = await send(`${url}/api/y`, { headers: { ...API, cookie } })
      t.equal(old.status, 200, 'the session made before the outage still works')
    })

    t.equal((await gateway.envoy.extAuthzStats()).error ?? 0, 0, 'Envoy counted no failed check: every answer was ours, in time')
    t.notMatch(gateway.transportLogs(), /check failed/, 'no check ended in the fail-closed path')
    t.same(unhandled.reasons, [], 'no unhandled rejection')
  })
}
