// Redis failing over under traffic, with the session store behind Sentinel (issue 18 §3): a master,
// a replica and three Sentinels (real Debian redis-server and redis-sentinel on loopback, a master
// is down after 1 s without a reply). Sessions exist and checks are running through the service's
// check endpoint when the master is killed (SIGKILL); the Sentinels promote the replica. Proven:
// no session the replica had is lost, every check during the switch fails closed with the clear
// answer (401 + Retry-After, the try-again page for a navigation: never a 5xx, never an allow
// without a session), and the service finds the new master by itself. The window of refused
// checks is measured and printed (README, "Redis Sentinel, Cluster and TLS", quotes it).
import { createHash } from 'node:crypto'
import { Redis as RedisClient } from 'ioredis'
import t from 'tap'
import { deriveKeys } from '../../src/session/keys.js'
import { redisConnectionOptions } from '../../src/session/redis-address.js'
import { createRedisStore } from '../../src/session/redis-store.js'
import type { Session } from '../../src/session/session.js'
import { makeSession } from '../contracts/session-store.js'
import { startAuthservice } from '../helpers/authservice.js'
import { API, NAVIGATE, faultEnv } from '../helpers/fault-gateway.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'
import { MASTER_NAME, masterPortOf, startSentinel, waitForSentinelQuorum } from '../helpers/redis-sentinel.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer } from '../helpers/test-issuer.js'
import { countBy, runWorkers, send, statusKey, watchUnhandledRejections, type Answer } from '../helpers/traffic.js'
import { waitUntil } from '../helpers/wait.js'

type Phase = 'before' | 'switching' | 'after' | 'done'
const HOUR = 3_600_000
const keyOf = (ticket: string) => `authservice:session:${createHash('sha256').update(ticket).digest('hex')}`

/** A live session of user@example.com (no refresh token: nothing but Redis is needed to check it). */
function liveSession(): Session {
  const now = Date.now()
  return makeSession({ createdAt: now, expiresAt: now + HOUR, idTokenExpiresAt: now + HOUR, refreshToken: undefined })
}

/** Every key of a Redis, read with a plain client. */
async function keysOn(port: number): Promise<Set<string>> {
  const client = new RedisClient({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true })
  client.on('error', () => {})
  try {
    return new Set(await client.keys('authservice:session:*'))
  } finally {
    client.disconnect()
  }
}

t.test('Sentinel failover under traffic: no session lost, fail closed during the switch, recovery by itself', { skip: skipUnlessPeers('redis', 'redis-sentinel') }, async (t) => {
  const unhandled = watchUnhandledRejections()
  t.teardown(() => unhandled.stop())
  const master = await startRedis()
  t.teardown(() => master.close())
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] })
  t.teardown(() => replica.close())
  const sentinels = await Promise.all([1, 2, 3].map(() => startSentinel({ masterPort: master.port, quorum: 2, downAfterMs: 1_000, failoverTimeoutMs: 3_000 })))
  t.teardown(() => Promise.all(sentinels.map((sentinel) => sentinel.close())))
  await waitForSentinelQuorum(sentinels, 1)

  const issuer = await startTestIssuer()
  t.teardown(() => issuer.close())
  const provider = { issuer: issuer.issuer, clientId: KUBEFLOW_CLIENT_ID, clientSecret: 'a-client-secret-of-our-own-0123' }
  const authservice = await startAuthservice(faultEnv(provider, {
    SESSION_STORE_TYPE: 'redis',
    SESSION_STORE_REDIS_SENTINEL_ADDRS: sentinels.map((sentinel) => sentinel.address).join(','),
    SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: MASTER_NAME,
  }))
  t.teardown(() => authservice.close())
  // Sessions are written as the service writes them: same keys, same Redis, through Sentinel.
  const writer = createRedisStore({ ring: deriveKeys(authservice.config, 'session'), redis: redisConnectionOptions(authservice.config) })
  t.teardown(() => writer.close())

  const sessions = Array.from({ length: 20 }, liveSession)
  for (const session of sessions) await writer.save(session, Date.now())
  await waitUntil('the replica to hold the sessions', async () => (await replica.command('DBSIZE')) === `:${sessions.length}`, { timeoutMs: 10_000 })

  /** A check as Envoy sends it: an API call, or a browser opening a page. */
  const check = (ticket: string, headers: Record<string, string> = API) =>
    send(`${authservice.checkUrl}${headers === API ? '/api/traffic' : '/notebooks/'}`, { headers: { ...headers, cookie: `authservice_session=${ticket}` }, timeoutMs: 8_000 })

  let phase: Phase = 'before'
  const answers: Array<{ from: Phase; to: Phase; kind: 'api' | 'navigation' | 'unknown'; answer: Answer }> = []
  /** Sessions the writer saved while traffic ran, and when. */
  const written: Array<{ session: Session; at: number }> = []
  const traffic = runWorkers(4, { maxMs: 90_000, maxPerWorker: 5_000, stop: () => phase === 'done' }, async (worker, i) => {
    const from = phase
    if (worker === 3) {
      // A writer (logins and refreshes do this) and a caller whose ticket is no session.
      const session = liveSession()
      if (await writer.save(session, Date.now()).then(() => true, () => false)) written.push({ session, at: Date.now() })
      const answer = await check(liveSession().id)
      answers.push({ from, to: phase, kind: 'unknown', answer })
    } else {
      const kind = i % 2 === 0 ? 'api' : 'navigation'
      const answer = await check(sessions[(worker * 7 + i) % sessions.length]!.id, kind === 'api' ? API : NAVIGATE)
      answers.push({ from, to: phase, kind, answer })
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
    return undefined
  })
  const seen = (wanted: Phase) => answers.filter((entry) => entry.from === wanted && entry.to === wanted).length
  await waitUntil('40 checks before the failover', async () => seen('before') >= 40, { timeoutMs: 20_000, intervalMs: 20 })

  phase = 'switching'
  const killedAt = Date.now()
  await master.kill()
  await waitUntil('the Sentinels to promote the replica', async () => (await masterPortOf(sentinels[0]!)) === replica.port, { timeoutMs: 30_000, intervalMs: 100 })
  const promotedAt = Date.now()
  await waitUntil('session checks to pass again', async () => (await check(sessions[0]!.id)).status === 200, { timeoutMs: 30_000, intervalMs: 50 })
  const recoveredAt = Date.now()
  phase = 'after'
  await waitUntil('40 checks after the failover', async () => seen('after') >= 40, { timeoutMs: 20_000, intervalMs: 20 })
  phase = 'done'
  await traffic

  const of = (wanted: Phase, kind: string) => answers.filter((entry) => entry.from === wanted && entry.to === wanted && entry.kind === kind).map((entry) => entry.answer)
  const withSession = answers.filter((entry) => entry.kind !== 'unknown').map((entry) => entry.answer)
  const refused = withSession.filter((answer) => answer.status !== 200)
  const windowMs = refused.length === 0 ? 0 : Math.max(...refused.map((answer) => answer.startedAt + answer.ms)) - Math.min(...refused.map((answer) => answer.startedAt))
  t.comment(`failover: promoted ${promotedAt - killedAt} ms after the kill, session checks pass again ${recoveredAt - killedAt} ms after it; ` +
    `window of refused checks ${windowMs} ms (${refused.length} of ${withSession.length} session checks refused)`)
  t.comment(`answers: ${JSON.stringify(countBy(answers, (entry) => `${entry.kind} ${statusKey(entry.answer)}`))}`)

  const statuses = (list: readonly Answer[]) => Object.keys(countBy(list, statusKey)).sort()
  t.same(statuses(withSession).filter((status) => !['200', '401'].includes(status)), [],
    'checks with a session: nothing but 200 or 401 (no 5xx, no hang, no connection error)')
  t.ok(refused.every((answer) => answer.header('retry-after') === '5'), 'every refused session check says Retry-After: 5 (the store was unavailable, not the session)')
  t.ok(refused.every((answer) => answer.header('location') === undefined), '… and none is a login redirect (no loop)')
  const refusedPages = answers.filter((entry) => entry.kind === 'navigation' && entry.answer.status === 401).map((entry) => entry.answer)
  t.ok(refusedPages.every((answer) => /http-equiv="refresh"/.test(answer.body)), `a refused navigation gets the try-again page (${refusedPages.length})`)
  t.ok(
    withSession.filter((answer) => answer.status === 200).every((answer) => answer.header('kubeflow-userid') === 'user@example.com'),
    'every allowed check was the session\'s user',
  )
  t.same(statuses(answers.filter((entry) => entry.kind === 'unknown').map((entry) => entry.answer)), ['401'], 'a ticket that is no session: 401 in every phase, never an allow')
  for (const kind of ['api', 'navigation']) {
    t.same(countBy(of('before', kind), statusKey), { '200': of('before', kind).length }, `before the kill: every ${kind} check allowed`)
    t.same(countBy(of('after', kind), statusKey), { '200': of('after', kind).length }, `after the switch: every ${kind} check allowed again, same sessions`)
  }
  t.ok(windowMs < 30_000, `the window of refused checks is bounded (${windowMs} ms)`)

  const kept = await keysOn(replica.port)
  t.ok(sessions.every((session) => kept.has(keyOf(session.id))), `the promoted replica has all ${sessions.length} sessions made before the traffic`)
  const had = written.filter(({ session }) => kept.has(keyOf(session.id)))
  const missing = written.length - had.length
  t.comment(`sessions written during the traffic: ${written.length}, on the promoted replica: ${had.length}, not replicated before the kill: ${missing}`)
  t.ok(missing <= written.filter(({ at }) => at <= killedAt + 50).length, 'only sessions written before the kill can be missing (asynchronous replication)')
  const afterwards = await Promise.all([...sessions, ...had.map(({ session }) => session)].map((session) => check(session.id)))
  t.same(countBy(afterwards, statusKey), { '200': afterwards.length }, `every session the replica had still works (${afterwards.length})`)
  t.same(unhandled.reasons, [], 'no unhandled rejection')
  t.equal((await send(`${authservice.opsUrl}/healthz`)).status, 200, 'the process is alive')
})
