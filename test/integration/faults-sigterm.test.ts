// SIGTERM under traffic, on the built entry (`node dist/server.js`) behind real Envoy, in both
// transports: logins whose code exchange is in flight (Dex answers slowly, through a proxy) and a
// stream of bearer checks are running when the signal comes. In-flight checks must finish with
// their real answers, nothing may be answered with a 5xx/503 while closing (Envoy would turn it
// into a bare 403), and the process must exit 0. Kubernetes stops routing to the pod before the
// signal (deploy/base/deployment.yaml preStop), so checks that arrive after it may be refused.
import t, { type Test } from 'tap'
import { Agent } from 'node:http'
import { startDexBehindProxy } from '../helpers/dex-behind-proxy.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { entryBuilt, startEntry } from '../helpers/entry-process.js'
import { startEnvoy } from '../helpers/envoy.js'
import { API, MODES, completeCallback, faultEnv, loginUntilCallback, type Mode } from '../helpers/fault-gateway.js'
import { grpcClient } from '../helpers/grpc.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { countBy, runWorkers, send, statusKey, type Answer } from '../helpers/traffic.js'

const skip = entryBuilt() || skipUnlessPeers('dex', 'envoy')
/** How long Dex's answers are held while the signal comes: the code exchanges are then surely in flight. */
const EXCHANGE_DELAY_MS = 1_500

/** Whether the gRPC server answers its health service within a second. */
async function grpcServes(port: number): Promise<string | undefined> {
  const client = grpcClient(port)
  try {
    const answer = await Promise.race([client.health(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 1 s')), 1_000))])
    return answer.status
  } catch {
    return undefined
  } finally {
    client.close()
  }
}

async function sigtermUnderTraffic(t: Test, mode: Mode) {
  const dex = await startDexBehindProxy()
  t.teardown(() => dex.close())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const entry = await startEntry(faultEnv(dex), { grpc: mode === 'grpc' })
  t.teardown(() => entry.terminate('SIGKILL', 1_000))
  if (mode === 'grpc') {
    // GRPC_PORT: the entry serves envoy.service.auth.v3.Authorization and grpc.health.v1.Health there.
    const status = await grpcServes(entry.ports.grpc!)
    t.equal(status, 'SERVING', `the entry serves gRPC ext_authz and health on GRPC_PORT=${entry.ports.grpc}`)
    if (status !== 'SERVING') return
  }
  const envoy = await startEnvoy({ authz: { mode, port: mode === 'http' ? entry.ports.check : entry.ports.grpc! }, upstreamPort: upstream.port, dexPort: dex.directPort })
  t.teardown(() => envoy.stop())

  const { id_token: token } = await dex.passwordGrant('alice@example.com')
  const pending = await Promise.all([1, 2, 3].map((i) => loginUntilCallback(envoy.url, `/in-flight-${i}`, 'user@example.com', '12341234')))
  // Callbacks whose code Dex will refuse: in flight just as long, and answered with the readable 400 page.
  const refused = await Promise.all([4, 5].map((i) => loginUntilCallback(envoy.url, `/refused-${i}`, 'user@example.com', '12341234')))
  const bogus = refused.map((login) => ({ ...login, callbackPath: login.callbackPath.replace(/code=[^&]+/, 'code=not-a-code-dex-issued') }))
  const warm = await send(`${envoy.url}/api/warm`, { headers: { ...API, authorization: `Bearer ${token}` } })
  t.equal(warm.status, 200, 'checks pass before the signal')

  let exited = false
  void entry.exited.then(() => (exited = true))
  let sigtermAt = Number.POSITIVE_INFINITY
  let afterCallbacksStarted = 0
  // Checks that arrive after the signal only show the listener is closed; a few hundred ms of them is enough.
  const limits = { maxMs: 30_000, maxPerWorker: 5_000, stop: () => exited || Date.now() > sigtermAt + 300 }
  const agent = new Agent({ keepAlive: true, maxSockets: 2 })
  t.teardown(() => agent.destroy())

  dex.proxy.setDelay(EXCHANGE_DELAY_MS)
  const callbacks = Promise.all(pending.map((login) => completeCallback(envoy.url, login, 15_000)))
  const failures = Promise.all(bogus.map((login) => completeCallback(envoy.url, login, 15_000)))
  const viaEnvoy = runWorkers(6, limits, async (worker, i) => {
    const answer = await send(`${envoy.url}/api/stream/${worker}/${i}`, { headers: { ...API, authorization: `Bearer ${token}` }, timeoutMs: 8_000, label: 'envoy' })
    afterCallbacksStarted++
    return answer
  })
  // The check port itself, as Envoy's connection pool sees it: a 503 here is what Envoy would hide behind a bare 403.
  const direct = mode === 'http'
    ? runWorkers(2, limits, (worker, i) => send(`${entry.checkUrl}/api/direct/${worker}/${i}`, { headers: { ...API, authorization: `Bearer ${token}` }, timeoutMs: 8_000, agent, label: 'direct' }))
    : Promise.resolve([] as Answer[])

  // Signal once traffic demonstrably flows (the exchanges are held EXCHANGE_DELAY_MS by the proxy).
  for (let i = 0; i < 400 && afterCallbacksStarted < 30; i++) await new Promise((resolve) => setTimeout(resolve, 5))
  sigtermAt = Date.now()
  entry.peer.child.kill('SIGTERM')
  const exit = await entry.waitExit(20_000)
  const [logins, failedLogins, envoyAnswers, directAnswers] = await Promise.all([callbacks, failures, viaEnvoy, direct])
  dex.proxy.setDelay(0)

  t.same(exit, { code: 0, signal: null }, 'the process exits 0 by itself after draining')
  t.match(entry.output(), /shutting down: finishing in-flight checks[\s\S]*"msg":"stopped"/, 'it logged the drain and the stop')

  for (const [i, login] of logins.entries()) {
    t.ok(login.startedAt < sigtermAt && login.startedAt + login.ms > sigtermAt, `login ${i + 1} was in flight when SIGTERM came (${login.startedAt - sigtermAt} ms → +${login.startedAt + login.ms - sigtermAt} ms)`)
    t.equal(login.status, 302, `login ${i + 1}: its callback finished (${statusKey(login)})`)
    t.equal(login.header('location'), `/in-flight-${i + 1}`, `login ${i + 1}: back to the page asked for`)
    t.ok(login.setCookies().some((cookie) => /^authservice_session=[^;]+;/.test(cookie) && !/Max-Age=0/.test(cookie)), `login ${i + 1}: with its session cookie`)
  }

  for (const [i, failed] of failedLogins.entries()) {
    t.ok(failed.startedAt < sigtermAt && failed.startedAt + failed.ms > sigtermAt, `failed login ${i + 1} was in flight when SIGTERM came`)
    t.equal(failed.status, 400, `failed login ${i + 1}: the readable 400 page (${statusKey(failed)})`)
    t.match(failed.body, /could not be completed/, `failed login ${i + 1}: says so`)
  }

  const before = envoyAnswers.filter((answer) => answer.startedAt + answer.ms < sigtermAt)
  const during = envoyAnswers.filter((answer) => answer.startedAt + answer.ms >= sigtermAt)
  t.comment(`through Envoy: ${before.length} checks answered before SIGTERM, ${during.length} after: ${JSON.stringify(countBy(during, statusKey))}`)
  t.ok(before.length >= 20, `traffic was flowing (${before.length} checks)`)
  t.same(countBy(before, statusKey), { '200': before.length }, 'every check before the signal was allowed')
  // Stream checks racing the close (sent while the listener stops) may be refused: Kubernetes stops
  // routing to the pod before SIGTERM (preStop), so only what reached the service must finish.
  const racing = during.filter((answer) => answer.startedAt < sigtermAt)
  t.comment(`stream checks sent before and answered after the signal: ${JSON.stringify(countBy(racing, statusKey))}`)
  t.ok(during.every((answer) => answer.status < 500), 'no 5xx reached a client')
  t.ok(
    envoyAnswers.filter((answer) => answer.status === 200).every((answer) => (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid'] === 'alice@example.com'),
    'every allowed check carried its user',
  )
  if (mode === 'http') {
    t.comment(`direct to the check port: ${JSON.stringify(countBy(directAnswers, statusKey))}`)
    t.ok(directAnswers.length > 0, 'the check port was called directly too')
    t.same(directAnswers.filter((answer) => answer.status >= 500).map(statusKey), [], 'the check port never answered a 5xx (no 503 while closing)')
    t.same(directAnswers.filter((answer) => answer.startedAt + answer.ms < sigtermAt && answer.status !== 200).map(statusKey), [], 'every direct check before the signal was allowed')
  }
}

for (const mode of MODES) {
  t.test(`${mode} mode: SIGTERM under traffic — in-flight checks finish, nothing answered 5xx while closing, exit 0`, { skip }, (t) => sigtermUnderTraffic(t, mode))
}
