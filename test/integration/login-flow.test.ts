// The login flow without a browser: the scripted login Kubeflow users automate, two logins at
// once, refresh, and every way a callback can be wrong — each with its clear 4xx or safe fallback.
import t, { type Test } from 'tap'
import { kubeflowEnv, startAuthservice, type RunningAuthservice } from '../helpers/authservice.js'
import { startDex, type Dex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { startEnvoy, type Envoy } from '../helpers/envoy.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { NAVIGATION_HEADERS, rawRequest } from '../helpers/raw-request.js'
import { CookieJar, scriptedLogin } from '../helpers/scripted-login.js'

const skip = skipUnlessPeers('dex', 'envoy')

interface Bench {
  dex: Dex
  envoy: Envoy
  authservice: RunningAuthservice
  offset: { ms: number }
}

async function bench(t: Test, env: Record<string, string> = {}, dexOptions: Parameters<typeof startDex>[0] = {}): Promise<Bench> {
  const dex = await startDex(dexOptions)
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const offset = { ms: 0 }
  const authservice = await startAuthservice({ ...kubeflowEnv(dex), OIDC_SCOPES: 'profile email groups offline_access', ...env }, { clock: { now: () => Date.now() + offset.ms } })
  t.teardown(() => authservice.close())
  const envoy = await startEnvoy({ authz: { mode: 'http', port: authservice.checkPort }, upstreamPort: upstream.port, dexPort: dex.port })
  t.teardown(() => envoy.stop())
  return { dex, envoy, authservice, offset }
}

t.test('the login flow through real Envoy and Dex', { skip }, async (t) => {
  const { envoy, authservice } = await bench(t, { SET_AUTHORIZATION_HEADER: 'true' })

  await t.test('a scripted login ends with a session cookie that works as a cookie and as Authorization: Bearer', async (t) => {
    const login = await scriptedLogin(envoy.url, '/pipeline/?ns=user', 'user@example.com', '12341234')
    t.equal(login.final.status, 200)
    t.equal(new URL(login.finalUrl).pathname + new URL(login.finalUrl).search, '/pipeline/?ns=user', 'back on the page asked for')
    const first = login.hops[0]!
    t.equal(first.status, 302, 'an anonymous navigation is redirected')
    const location = new URL(first.header('location')!, envoy.url)
    t.equal(location.pathname, '/dex/auth', 'to OIDC_AUTH_URL, relative as Kubeflow sets it')
    t.equal(location.searchParams.get('redirect_uri'), '/authservice/oidc/callback', 'the redirect_uri stays relative, byte for byte')
    t.equal(location.searchParams.get('code_challenge_method'), 'S256')
    t.ok(location.searchParams.get('nonce') && location.searchParams.get('state') && location.searchParams.get('code_challenge'))
    t.equal(location.searchParams.get('scope'), 'openid profile email groups offline_access')
    t.equal(first.header('cache-control'), 'no-store')
    t.equal(first.header('referrer-policy'), 'no-referrer')
    const flowCookie = first.setCookies().find((cookie) => cookie.startsWith('authservice_flow_'))
    t.match(flowCookie, /HttpOnly/i)
    t.match(flowCookie, /SameSite=Lax/i)
    t.match(flowCookie, /Max-Age=600/)

    const ticket = login.jar.cookies.get('authservice_session')!
    t.ok(ticket, 'the session cookie')
    const asBearer = await rawRequest(`${envoy.url}/api/x`, { headers: { authorization: `Bearer ${ticket}`, accept: 'application/json' } })
    t.equal(asBearer.status, 200, 'the cookie value works as Authorization: Bearer (the KFP SDK way)')
    t.equal((JSON.parse(asBearer.body) as EchoedRequest).headers['kubeflow-userid'], 'user@example.com')
    const asCookie = await rawRequest(`${envoy.url}/api/x`, { headers: { cookie: `authservice_session=${ticket}`, accept: 'application/json' } })
    t.equal(asCookie.status, 200, 'and as a cookie')

    const again = await scriptedLogin(envoy.url, '/', 'user@example.com', '12341234', new CookieJar())
    t.not(again.jar.cookies.get('authservice_session'), ticket, 'a new login never reuses a session')
  })

  await t.test('two logins started at once (two tabs) both end logged in', async (t) => {
    const jar = new CookieJar()
    const start = async (path: string) => {
      const response = await rawRequest(`${envoy.url}${path}`, { headers: { ...NAVIGATION_HEADERS } })
      jar.store(response)
      return new URL(response.header('location')!, envoy.url)
    }
    const [tab1, tab2] = await Promise.all([start('/tab-one'), start('/tab-two')])
    t.equal([...jar.cookies.keys()].filter((name) => name.startsWith('authservice_flow_')).length, 2, 'one flow cookie per login')
    const finish = (authorize: URL) => scriptedLogin(envoy.url, authorize.pathname + authorize.search, 'user@example.com', '12341234', jar)
    const done2 = await finish(tab2)
    t.equal(new URL(done2.finalUrl).pathname, '/tab-two')
    const done1 = await finish(tab1)
    t.equal(new URL(done1.finalUrl).pathname, '/tab-one', 'the tab that started first still completes')
    t.equal(done1.final.status, 200)
  })

  await t.test('API calls and XHR never start a login', async (t) => {
    const apiSignals: Array<Record<string, string>> = [{ accept: 'application/json' }, { 'x-requested-with': 'XMLHttpRequest' }, { 'sec-fetch-mode': 'cors' }]
    for (const headers of apiSignals) {
      const response = await rawRequest(`${envoy.url}/notebooks/`, { headers })
      t.equal(response.status, 401, JSON.stringify(headers))
      t.notOk(response.setCookies().some((cookie) => cookie.startsWith('authservice_flow_')), 'and create no state')
    }
    const post = await rawRequest(`${envoy.url}/notebooks/`, { method: 'POST', headers: { accept: '*/*' } })
    t.equal(post.status, 401, 'a POST is an API call')
  })

  await t.test('at most five logins at once: the oldest flow cookie is evicted', async (t) => {
    const jar = new CookieJar()
    for (let i = 0; i < 8; i++) {
      const response = await rawRequest(`${envoy.url}/p${i}`, { headers: { ...NAVIGATION_HEADERS, ...(jar.cookies.size ? { cookie: jar.header() } : {}) } })
      jar.store(response)
    }
    t.equal([...jar.cookies.keys()].filter((name) => name.startsWith('authservice_flow_')).length, 5)
  })

  await t.test('bad callbacks get a readable 4xx page with a way to log in again — never a 5xx or a loop', async (t) => {
    const callback = (query: string, cookie?: string) =>
      rawRequest(`${envoy.url}/authservice/oidc/callback?${query}`, { headers: { ...NAVIGATION_HEADERS, ...(cookie ? { cookie } : {}) } })
    const denied = await callback('error=access_denied&state=x')
    t.equal(denied.status, 403)
    t.match(denied.body, /refused the sign-in \(access_denied\)/)
    t.match(denied.body, /id="login-again" href="\/"/)
    const noState = await callback('code=abc')
    t.equal(noState.status, 400)
    const unknownState = await callback('code=abc&state=never-issued')
    t.equal(unknownState.status, 400, 'a state with no flow cookie')
    t.match(unknownState.body, /expired or was started in another browser/)

    // A real flow, then tampering.
    const start = await rawRequest(`${envoy.url}/target?q=1`, { headers: NAVIGATION_HEADERS })
    const state = new URL(start.header('location')!, envoy.url).searchParams.get('state')!
    const flow = start.setCookies().find((cookie) => cookie.startsWith('authservice_flow_'))!.split(';')[0]!
    const tampered = flow.slice(0, -3) + (flow.endsWith('AAA') ? 'BBB' : 'AAA')
    t.equal((await callback(`code=abc&state=${state}`, tampered)).status, 400, 'a tampered flow cookie')
    t.equal((await callback(`code=abc&state=${state}x`, flow)).status, 400, 'a state that does not match its cookie')
    const badCode = await callback(`code=not-a-real-code&state=${state}`, flow)
    t.equal(badCode.status, 400, 'a code Dex refuses')
    t.match(badCode.body, /could not be completed/)
    t.match(badCode.setCookies().join('\n'), /authservice_flow_[^=]+=;/, 'the flow cookie is cleared')

    const logs = authservice.logs().filter((line) => line.msg === 'decision' && line.outcome === 'callback-failed')
    t.same([...new Set(logs.flatMap((line) => line.codes as string[]))].sort(), [
      'ERR_LOGIN_EXCHANGE_FAILED',
      'ERR_LOGIN_PROVIDER_ERROR',
      'ERR_LOGIN_STATE_MISMATCH',
      'ERR_LOGIN_STATE_MISSING',
    ])
  })

  await t.test('a replayed callback does not log anyone in', async (t) => {
    const jar = new CookieJar()
    const login = await scriptedLogin(envoy.url, '/replay', 'user@example.com', '12341234', jar)
    const callbackHop = login.hops.findIndex((hop) => (hop.header('location') ?? '').startsWith('/authservice/oidc/callback'))
    const callbackUrl = login.hops[callbackHop]!.header('location')!
    const replay = await rawRequest(`${envoy.url}${callbackUrl}`, { headers: NAVIGATION_HEADERS })
    t.equal(replay.status, 400, 'without the flow cookie (used and cleared)')
    t.notOk(replay.setCookies().some((cookie) => cookie.startsWith('authservice_session=') && !/Max-Age=0/.test(cookie)))
  })

  await t.test('open-redirect targets fall back to a safe path', async (t) => {
    for (const path of ['//evil.example/x', '/\\evil.example', '/%2F%2Fevil.example', '/%5Cevil.example', '/%0d%0aLocation:%20http://evil.example']) {
      // The first hop is sent as-is to the gateway (never resolved against another host).
      const jar = new CookieJar()
      const first = await rawRequest(`${envoy.url}${path}`, { headers: NAVIGATION_HEADERS })
      jar.store(first)
      if (first.status !== 302) {
        t.not(first.status, 200, `${path} is refused by the gateway or the check (${first.status})`)
        continue
      }
      const login = await scriptedLogin(envoy.url, first.header('location')!, 'user@example.com', '12341234', jar)
      const last = login.hops.at(-2)!
      const location = last.header('location') ?? ''
      t.notMatch(location, /evil\.example/, `${path} never redirects off-site`)
      t.ok(location.startsWith('/') && !location.startsWith('//'), `${path} → ${location}`)
    }
  })

  await t.test('sign_out ends the session and redirects to a safe rd; the after-logout page offers to log in again', async (t) => {
    const login = await scriptedLogin(envoy.url, '/', 'user@example.com', '12341234')
    const cookie = login.jar.header()
    const out = await rawRequest(`${envoy.url}/authservice/sign_out?rd=//evil.example`, { headers: { ...NAVIGATION_HEADERS, cookie, 'sec-fetch-site': 'same-origin' } })
    t.equal(out.status, 302)
    t.equal(out.header('location'), '/', 'an off-site rd falls back to AFTER_LOGOUT_URL')
    t.match(out.setCookies().join('\n'), /authservice_session=;/)
    const crossSite = await rawRequest(`${envoy.url}/authservice/sign_out`, { headers: { ...NAVIGATION_HEADERS, cookie, 'sec-fetch-site': 'cross-site' } })
    t.equal(crossSite.status, 403, 'a cross-site sign-out is refused')
    const page = await rawRequest(`${envoy.url}/authservice/site/after_logout`, { headers: NAVIGATION_HEADERS })
    t.equal(page.status, 401)
    t.match(page.body, /You have signed out[\s\S]*Log in again/)
    const noSession = await rawRequest(`${envoy.url}/authservice/logout`, { method: 'POST' })
    t.equal(noSession.status, 401, 'logout without a session is 401')
  })
})

t.test('refresh keeps a session past the ID token lifetime; a revoked refresh token logs in again once', { skip }, async (t) => {
  const { envoy, dex } = await bench(t, { SET_AUTHORIZATION_HEADER: 'true' }, { idTokenTTL: '8s' })
  const login = await scriptedLogin(envoy.url, '/', 'user@example.com', '12341234')
  const jar = login.jar
  const seen = new Set<string>()
  const deadline = Date.now() + 14_000
  while (Date.now() < deadline) {
    const response = await rawRequest(`${envoy.url}/api/x`, { headers: { cookie: jar.header(), accept: 'application/json' } })
    t.equal(response.status, 200, 'still allowed')
    jar.store(response)
    const token = String((JSON.parse(response.body) as EchoedRequest).headers.authorization).slice(7)
    const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp
    t.ok(exp * 1000 > Date.now(), 'the upstream never receives an expired token')
    seen.add(token)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  t.ok(seen.size >= 2, `the ID token was renewed (${seen.size} distinct tokens)`)

  // A login elsewhere makes Dex drop this session's refresh token (one per user and client).
  await dex.passwordGrant('user@example.com', 'openid email profile groups offline_access')
  await new Promise((resolve) => setTimeout(resolve, 8_000))
  const first = await rawRequest(`${envoy.url}/notebooks/`, { headers: { ...NAVIGATION_HEADERS, cookie: jar.header() } })
  t.equal(first.status, 302, 'the next navigation goes to login')
  t.match(first.header('location'), /^\/dex\/auth\?/)
  jar.store(first)
  t.notOk(jar.cookies.has('authservice_session'), 'the dead session cookie is cleared — no loop')
  const relogin = await scriptedLogin(envoy.url, '/notebooks/', 'user@example.com', '12341234', jar)
  t.equal(relogin.final.status, 200, 'one login later everything works')
})
