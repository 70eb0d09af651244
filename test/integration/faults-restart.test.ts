// The service itself restarted under traffic (the built entry, same ports, behind real Envoy), and
// replicas sharing sessions: with the cookie store and configured SESSION_SECRETS a session made by
// one instance works on another and after a restart (and after a key rotation that keeps the old key
// for decryption); with the redis store the same holds through Redis. While the only replica is
// down Envoy can only answer its bare 403 — never an allow, never another user; once it is back,
// every check passes again without a new login.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { startDex, type Dex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { entryBuilt, startEntry, type EntryProcess } from '../helpers/entry-process.js'
import { startEnvoy } from '../helpers/envoy.js'
import { API, NAVIGATE, faultEnv } from '../helpers/fault-gateway.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'
import { scriptedLogin } from '../helpers/scripted-login.js'
import { countBy, isBare403, runWorkers, send, statusKey, type Answer } from '../helpers/traffic.js'
import { waitUntil } from '../helpers/wait.js'

const built = entryBuilt()
const key = () => randomBytes(32).toString('base64')
type Phase = 'before' | 'restarting' | 'after' | 'done'

/**
 * Logs in through Envoy in front of `first`, keeps a stream of session checks going while `first`
 * is stopped (SIGTERM) and started again on the same ports, and returns the session cookie and
 * the restarted instance.
 */
async function restartUnderTraffic(t: Test, dex: Dex, env: Record<string, string>): Promise<{ cookie: string; restarted: EntryProcess }> {
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const first = await startEntry(env)
  t.teardown(() => first.terminate('SIGKILL', 1_000))
  const envoy = await startEnvoy({ authz: { mode: 'http', port: first.ports.check }, upstreamPort: upstream.port, dexPort: dex.port })
  t.teardown(() => envoy.stop())
  const login = await scriptedLogin(envoy.url, '/', 'alice@example.com', 'alice-password')
  t.equal(login.final.status, 200, 'logged in')
  const cookie = login.jar.header()

  let phase: Phase = 'before'
  const answers: Array<{ from: Phase; to: Phase; answer: Answer }> = []
  const traffic = runWorkers(3, { maxMs: 60_000, maxPerWorker: 3_000, stop: () => phase === 'done' }, async (worker, i) => {
    const from = phase
    const answer = await send(`${envoy.url}/api/traffic/${worker}/${i}`, { headers: { ...API, cookie }, timeoutMs: 8_000 })
    answers.push({ from, to: phase, answer })
    await new Promise((resolve) => setTimeout(resolve, 10))
    return answer
  })
  const count = (wanted: Phase) => answers.filter((entry) => entry.from === wanted && entry.to === wanted).length
  await waitUntil('checks before the restart', async () => count('before') >= 20, { timeoutMs: 20_000, intervalMs: 20 })
  phase = 'restarting'
  t.same(await first.terminate('SIGTERM'), { code: 0, signal: null }, 'the first process exits 0')
  const restarted = await startEntry(env, { ports: first.ports })
  t.teardown(() => restarted.terminate('SIGKILL', 1_000))
  await waitUntil('the session to work through the restarted instance', async () => (await send(`${envoy.url}/api/probe`, { headers: { ...API, cookie } })).status === 200, {
    timeoutMs: 15_000,
    intervalMs: 50,
  })
  phase = 'after'
  await waitUntil('checks after the restart', async () => count('after') >= 20, { timeoutMs: 20_000, intervalMs: 20 })
  phase = 'done'
  const all = await traffic

  const inPhase = (wanted: Phase) => answers.filter((entry) => entry.from === wanted && entry.to === wanted).map((entry) => entry.answer)
  t.comment(`answers: ${JSON.stringify(countBy(answers, (entry) => `${entry.from}→${entry.to} ${statusKey(entry.answer)}`))}`)
  t.same(countBy(inPhase('before'), statusKey), { '200': inPhase('before').length }, 'before the restart: allowed')
  t.same(countBy(inPhase('after'), statusKey), { '200': inPhase('after').length }, 'after the restart: allowed, same cookie, no new login')
  t.same(all.filter((answer) => answer.status !== 200 && !isBare403(answer)).map(statusKey), [], 'while the only replica was down, only Envoy\'s bare 403 (no 5xx, no hang)')
  t.ok(
    all.filter((answer) => answer.status === 200).every((answer) => (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid'] === 'alice@example.com'),
    'every allowed check was alice',
  )
  const failedOutsideRestart = answers.filter((entry) => isBare403(entry.answer) && entry.from !== 'restarting' && entry.to !== 'restarting')
  t.equal(failedOutsideRestart.length, 0, 'bare 403s only while the process was restarting')
  return { cookie, restarted }
}

const sessionCheck = (entry: EntryProcess, cookie: string) => send(`${entry.checkUrl}/api/x`, { headers: { ...API, cookie } })

t.test('cookie store with SESSION_SECRETS: a session works on a second instance, after a restart, and through a key rotation', { skip: built || skipUnlessPeers('dex', 'envoy') }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const oldKey = key()
  const env = faultEnv(dex, { SESSION_SECRETS: oldKey })
  const { cookie, restarted } = await restartUnderTraffic(t, dex, env)

  const other = await startEntry(env)
  t.teardown(() => other.terminate('SIGKILL', 1_000))
  const onOther = await sessionCheck(other, cookie)
  t.equal(onOther.status, 200, 'a second instance with the same SESSION_SECRETS accepts the session')
  t.equal(onOther.header('kubeflow-userid'), 'alice@example.com')
  t.equal((await sessionCheck(restarted, cookie)).status, 200, 'and the restarted one')
  await other.terminate()

  const rotated = await startEntry({ ...env, SESSION_SECRETS: `${key()},${oldKey}` })
  t.teardown(() => rotated.terminate('SIGKILL', 1_000))
  t.equal((await sessionCheck(rotated, cookie)).status, 200, 'a new first key with the old one kept: the session still works (rotation without logging anyone out)')
  await rotated.terminate()
  const replaced = await startEntry({ ...env, SESSION_SECRETS: key() })
  t.teardown(() => replaced.terminate('SIGKILL', 1_000))
  const refused = await sessionCheck(replaced, cookie)
  t.equal(refused.status, 401, 'the old key removed: the session is refused')
  const relogin = await send(`${replaced.checkUrl}/notebooks/`, { headers: { ...NAVIGATE, cookie } })
  t.equal(relogin.status, 302, 'and a navigation goes to login')
  await replaced.terminate()
})

t.test('redis store: a session works on a second instance and after a restart', { skip: built || skipUnlessPeers('dex', 'envoy', 'redis') }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const env = faultEnv(dex, { SESSION_SECRETS: key(), SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_ADDR: redis.address })
  const { cookie, restarted } = await restartUnderTraffic(t, dex, env)

  const other = await startEntry(env)
  t.teardown(() => other.terminate('SIGKILL', 1_000))
  const onOther = await sessionCheck(other, cookie)
  t.equal(onOther.status, 200, 'a second instance on the same Redis accepts the session')
  t.equal(onOther.header('kubeflow-userid'), 'alice@example.com')
  const logout = await send(`${other.checkUrl}/authservice/logout`, { method: 'POST', headers: { ...API, cookie } })
  t.equal(logout.status, 201, 'logged out on the second instance')
  t.equal((await sessionCheck(restarted, cookie)).status, 401, 'which ends the session on the first one too (the redis store can revoke)')
  await other.terminate()
})
