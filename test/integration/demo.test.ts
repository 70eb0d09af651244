// `npm run demo` as a person uses it: its entry (dev/demo/main.ts, run as TypeScript the way the
// npm script runs it) on ephemeral ports, Chromium logs in through the demo identity provider's form, the app shows the identity the
// gateway passed on, logout leads back to the login form, Ctrl-C stops everything — with the
// built-in development gateway and with real Envoy. A busy port stops it up front, named.
//
// DEMO_SCREENSHOT=docs/demo-logged-in.png npx tap test/integration/demo.test.ts refreshes the
// README's screenshot from the Envoy run.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { Page } from 'playwright-core'
import { launchBrowser } from '../helpers/browser.js'
import { installedPeer, skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startPeerProcess, type PeerProcess } from '../helpers/peer-process.js'
import { waitUntil } from '../helpers/wait.js'

// As package.json's `demo` script runs it: TypeScript through tap's loader, nothing built.
const REPO = new URL('../../', import.meta.url).pathname
const DEMO = ['--import', '@tapjs/typescript/import', 'dev/demo/main.ts']

function runDemo(args: string[], env: Record<string, string>): PeerProcess {
  return startPeerProcess('demo', process.execPath, [...DEMO, ...args], { cwd: REPO, env: { TS_NODE_TRANSPILE_ONLY: '1', ...env } })
}

const EPHEMERAL = {
  DEMO_PORT: '0',
  DEMO_IDP_PORT: '0',
  DEMO_APP_PORT: '0',
  DEMO_SERVER_PORT: '0',
  DEMO_READINESS_PROBE_PORT: '0',
  DEMO_LOG_LEVEL: 'warn',
}

interface Demo {
  readonly peer: PeerProcess
  readonly url: string
  readonly adminPassword: string
}

async function startDemo(t: Test, env: Record<string, string>): Promise<Demo> {
  const peer = runDemo([], { ...EPHEMERAL, ...env })
  t.teardown(() => peer.stop())
  await waitUntil('the demo prints where to go', async () => {
    if (peer.child.exitCode !== null) throw new Error(`the demo exited:\n${peer.output()}`)
    return /Press Ctrl-C to stop/.test(peer.output())
  }, { timeoutMs: 60_000 })
  const url = /Open {6}(http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(peer.output())?.[1]
  const adminPassword = /or admin@example\.com \/ (\S+)/.exec(peer.output())?.[1]
  if (!url || !adminPassword) throw new Error(`no URL or admin password in:\n${peer.output()}`)
  return { peer, url, adminPassword }
}

async function logIn(page: Page, url: string, email: string, password: string): Promise<void> {
  await page.fill('input[name="login"]', email)
  await page.fill('input[name="password"]', password)
  await Promise.all([page.waitForURL(url), page.click('#submit-login')])
}

async function demoScenario(t: Test, env: Record<string, string>, gatewayLine: RegExp, screenshot?: string) {
  const demo = await startDemo(t, env)
  const { url } = demo
  t.match(demo.peer.output(), gatewayLine, 'the banner names the gateway')
  t.match(demo.peer.output(), 'Log in as user@example.com / 12341234', 'and the credentials')

  const anonymousApi = await fetch(`${url}api/workgroup/exists`, { headers: { accept: 'application/json' }, redirect: 'manual' })
  t.equal(anonymousApi.status, 401, 'the gateway enforces the check: an anonymous API call gets 401')

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await (await browser.newContext({ viewport: { width: 860, height: 560 } })).newPage()

  await page.goto(url)
  t.match(page.url(), `${url}dex/interaction/`, 'an anonymous visit lands on the demo identity provider, through the gateway')
  t.ok(await page.locator('input[name="login"]').isVisible(), 'which shows its login form')

  await page.fill('input[name="login"]', 'user@example.com')
  await page.fill('input[name="password"]', 'not-the-password')
  await page.click('#submit-login')
  t.match(await page.textContent('#login-error'), 'Invalid email address or password', 'a wrong password is refused')

  await logIn(page, url, 'user@example.com', '12341234')
  t.pass('after login the browser is back on the page it asked for')
  t.equal(await page.textContent('#user'), 'user@example.com', 'the app shows kubeflow-userid')
  t.equal(await page.getAttribute('#groups', 'data-groups'), '', 'and no groups, like Kubeflow’s default user')
  t.equal(await page.getAttribute('#bearer', 'data-present'), 'true', 'an authorization: Bearer ID token arrived')
  t.match(await page.textContent('.claims'), '"user@example.com"', 'issued for that user')

  const forged = await page.evaluate(async () => {
    const response = await fetch('/anything', { headers: { 'kubeflow-userid': 'mallory@example.com', 'kubeflow-groups': 'kubeflow-admins' } })
    return response.text()
  })
  t.match(forged, 'user@example.com', 'a client-sent identity header is replaced')
  t.notMatch(forged, 'mallory', 'and never reaches the app')
  t.notMatch(forged, 'data-groups="kubeflow-admins"', 'nor do client-sent groups')

  await Promise.all([page.waitForURL(/\/dex\/interaction\//), page.click('#logout')])
  t.ok(await page.locator('input[name="login"]').isVisible(), 'after logout the next navigation shows the login form again')
  t.notOk((await page.context().cookies()).some((cookie) => cookie.name === 'authservice_session'), 'the session cookie is gone')

  await logIn(page, url, 'admin@example.com', demo.adminPassword)
  t.equal(await page.textContent('#user'), 'admin@example.com', 'the second user, with the printed password')
  t.equal(await page.getAttribute('#groups', 'data-groups'), 'kubeflow-admins', 'and its groups')
  if (screenshot) {
    await page.screenshot({ path: screenshot })
    t.comment(`screenshot saved to ${screenshot}`)
  }
  await browser.close()

  const port = Number(new URL(url).port)
  process.kill(demo.peer.child.pid!, 'SIGINT')
  const [code] = (await once(demo.peer.child, 'exit')) as [number]
  t.equal(code, 0, 'Ctrl-C (SIGINT) stops the demo with exit 0')
  t.match(demo.peer.output(), 'demo: stopped')
  const refused = await fetch(url).then(() => false, () => true)
  t.ok(refused, `nothing listens on the gateway port ${port} any more`)
}

t.test('the demo with the built-in development gateway', { skip: skipUnlessPeers('chromium') }, (t) =>
  demoScenario(t, { DEMO_GATEWAY: 'builtin' }, /Gateway .* the built-in DEVELOPMENT gateway \(DEMO_GATEWAY=builtin/),
)

t.test('the demo with real Envoy', { skip: skipUnlessPeers('chromium', 'envoy') }, (t) =>
  demoScenario(
    t,
    // The screenshot shows the issuer at the default port, as the README describes it.
    { DEMO_GATEWAY: 'envoy', DEMO_ENVOY: installedPeer('envoy'), ...(process.env.DEMO_SCREENSHOT ? { DEMO_IDP_PORT: '5556' } : {}) },
    /Gateway .* Envoy \d+\.\d+\.\d+ \(/,
    process.env.DEMO_SCREENSHOT,
  ),
)

t.test('a busy port stops the demo before anything starts, naming the port and the variable', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  const port = (blocker.address() as { port: number }).port
  const peer = runDemo([], { ...EPHEMERAL, DEMO_GATEWAY: 'builtin', DEMO_IDP_PORT: String(port) })
  t.teardown(() => peer.stop())
  const [code] = (await once(peer.child, 'exit')) as [number]
  t.equal(code, 1)
  t.match(peer.output(), `port ${port} on 127.0.0.1 is already in use: set DEMO_IDP_PORT to a free port`)
  t.notMatch(peer.output(), 'Press Ctrl-C', 'nothing was started')
})

t.test('bad settings are a usage error listing each', async (t) => {
  const peer = runDemo(['--gateway', 'nginx'], { DEMO_PORT: '8000', DEMO_APP_PORT: '8000' })
  t.teardown(() => peer.stop())
  const [code] = (await once(peer.child, 'exit')) as [number]
  t.equal(code, 2)
  t.match(peer.output(), 'DEMO_GATEWAY: must be auto, envoy or builtin')
  t.match(peer.output(), 'DEMO_APP_PORT: port 8000 is already used by DEMO_PORT')
  t.match(peer.output(), 'DEMO_PORT / --port', 'with the help')
})

t.test('an Envoy that is not there is named', async (t) => {
  const peer = runDemo([], { ...EPHEMERAL, DEMO_GATEWAY: 'envoy', DEMO_ENVOY: '/nonexistent/envoy' })
  t.teardown(() => peer.stop())
  const [code] = (await once(peer.child, 'exit')) as [number]
  t.equal(code, 1)
  t.match(peer.output(), 'DEMO_ENVOY: /nonexistent/envoy is not an executable file')
})
