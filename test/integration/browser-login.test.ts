// A person in Chromium logs in through real Dex behind real Envoy, uses the app, and logs out —
// with the cookie session store and with the redis store.
import t, { type Test } from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { kubeflowEnv, startAuthservice } from '../helpers/authservice.js'
import { launchBrowser } from '../helpers/browser.js'
import { startDex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { startEnvoy } from '../helpers/envoy.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'

const skip = skipUnlessPeers('dex', 'envoy', 'chromium', 'redis')

async function loginScenario(t: Test, store: 'cookie' | 'redis') {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  let offsetMs = 0
  const clock = { now: () => Date.now() + offsetMs }
  const env: Record<string, string> = {
    ...kubeflowEnv(dex),
    OIDC_SCOPES: 'profile email groups offline_access',
    SET_AUTHORIZATION_HEADER: 'true',
    SESSION_MAX_AGE: '3600',
  }
  if (store === 'redis') {
    const redis = await startRedis()
    t.teardown(() => redis.close())
    Object.assign(env, { SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_ADDR: redis.address })
  }
  const authservice = await startAuthservice(env, { clock })
  t.teardown(() => authservice.close())
  const envoy = await startEnvoy({ authz: { mode: 'http', port: authservice.checkPort }, upstreamPort: upstream.port, dexPort: dex.port })
  t.teardown(() => envoy.stop())
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await (await browser.newContext()).newPage()

  await page.goto(`${envoy.url}/notebooks/?ns=kubeflow-user&tab=2`)
  t.ok(await page.locator('input[name="login"]').isVisible(), 'an anonymous visit lands on Dex’s login form')
  await page.fill('input[name="login"]', 'alice@example.com')
  await page.fill('input[name="password"]', 'alice-password')
  await Promise.all([page.waitForURL(`${envoy.url}/notebooks/?ns=kubeflow-user&tab=2`), page.click('#submit-login')])
  t.pass('after login the browser is back on the page it asked for, query included')
  t.equal(await page.textContent('#whoami'), 'alice@example.com', 'the app sees kubeflow-userid')
  const echoed = JSON.parse((await page.textContent('#echo'))!) as EchoedRequest
  t.equal(echoed.headers['kubeflow-groups'], 'kubeflow-admins,team-a', 'and the groups')
  const bearer = String(echoed.headers.authorization)
  const jwks = createRemoteJWKSet(new URL(`${dex.issuer}/keys`))
  const verified = await jwtVerify(bearer.replace(/^Bearer /, ''), jwks, { issuer: dex.issuer, audience: dex.clientId })
  t.equal(verified.payload.email, 'alice@example.com', 'the upstream gets a Dex ID token that verifies')

  const cookies = await page.context().cookies()
  const session = cookies.find((cookie) => cookie.name === 'authservice_session')
  t.ok(session, 'a session cookie is set')
  t.equal(session?.httpOnly, true, 'HttpOnly by default')
  t.equal(session?.sameSite, 'Lax')
  t.notOk(cookies.some((cookie) => cookie.name.startsWith('authservice_flow_')), 'the login-flow cookie is gone')

  await page.reload()
  t.equal(await page.textContent('#whoami'), 'alice@example.com', 'a reload keeps the session')
  const api = await page.evaluate(async () => {
    const response = await fetch('/api/workgroup/exists', { headers: { accept: 'application/json' } })
    return { status: response.status, body: (await response.json()) as { headers: Record<string, string> } }
  })
  t.equal(api.status, 200, 'a fetch() from the page is allowed')
  t.equal(api.body.headers['kubeflow-userid'], 'alice@example.com')

  offsetMs = 2 * 3600 * 1000 // past SESSION_MAX_AGE
  const expiredApi = await page.evaluate(async () => {
    const response = await fetch('/api/workgroup/exists', { headers: { accept: 'application/json' } })
    return { status: response.status, body: await response.text() }
  })
  t.equal(expiredApi.status, 401, 'after the session expires a fetch() gets 401')
  t.match(JSON.parse(expiredApi.body), { error: 'unauthenticated' }, 'as JSON')
  await page.goto(`${envoy.url}/pipeline/`)
  t.ok(await page.locator('input[name="login"]').isVisible(), 'while a navigation goes back to Dex')

  // Log in again, then log out from the page the way the central dashboard does.
  offsetMs = 0
  await page.fill('input[name="login"]', 'alice@example.com')
  await page.fill('input[name="password"]', 'alice-password')
  await Promise.all([page.waitForURL(`${envoy.url}/pipeline/`), page.click('#submit-login')])
  const logout = await page.evaluate(async () => {
    const response = await fetch('/authservice/logout', { method: 'POST' })
    return { status: response.status, body: (await response.json()) as { afterLogoutURL: string } }
  })
  t.equal(logout.status, 201, 'logout answers 201')
  t.same(logout.body, { afterLogoutURL: '/' })
  t.notOk((await page.context().cookies()).some((cookie) => cookie.name === 'authservice_session'), 'the cookie is cleared')
  await page.goto(`${envoy.url}/pipeline/`)
  t.ok(await page.locator('input[name="login"]').isVisible(), 'the next navigation shows the login form')
}

t.test('browser login, session, expiry and logout — cookie store', { skip }, (t) => loginScenario(t, 'cookie'))
t.test('browser login, session, expiry and logout — redis store', { skip }, (t) => loginScenario(t, 'redis'))
