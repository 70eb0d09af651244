/**
 * Both session stores through the shared contract (test/contracts/session-store.ts), the redis one
 * against a real, persisted redis-server (outage and recovery included), plus what only a real
 * Redis shows: password authentication, and that nothing in Redis is plaintext.
 */
import { createHash } from 'node:crypto'
import { Redis as RedisClient } from 'ioredis'
import t from 'tap'
import { NO_REDIS } from '../fixtures/config.js'
import { createCookieStore } from '../../src/session/cookie-store.js'
import { createSessionStore } from '../../src/session/create-store.js'
import { createRedisStore } from '../../src/session/redis-store.js'
import { looksSealed } from '../../src/session/seal.js'
import { makeSession, NOW, ringOf, sessionStoreContract } from '../contracts/session-store.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'

const UNAVAILABLE = { code: 'ERR_SESSION_STORE_UNAVAILABLE' }

t.test('cookie store', async (t) => {
  sessionStoreContract(t, 'cookie store', async (ring) => ({ store: createCookieStore({ ring }) }))
})

t.test('redis store, persisted Redis', { skip: skipUnlessPeers('redis') }, async (t) => {
  const redis = await startRedis({ persist: true })
  t.teardown(() => redis.close())
  sessionStoreContract(t, 'redis store', async (ring) => ({
    store: createRedisStore({ ring, redis: { host: '127.0.0.1', port: redis.port, db: 0 } }),
    breakBackend: () => redis.stop(),
    restoreBackend: () => redis.start(),
    persistent: true,
  }))
})

t.test('redis store, Redis with a password', { skip: skipUnlessPeers('redis') }, async (t) => {
  const password = 'redis-pass-Ω-1'
  const redis = await startRedis({ password })
  t.teardown(() => redis.close())
  const config = {
    sessionStoreType: 'redis' as const,
    sessionSecrets: [],
    clientSecret: 'kubeflow-client-secret',
    ...NO_REDIS,
    redisAddr: redis.address,
    redisPassword: password,
    redisDb: 1,
    sessionMaxAgeSeconds: 86_400,
  }
  const store = createSessionStore(config)
  t.teardown(() => store.close())
  const session = makeSession()
  t.strictSame(await store.load(await store.save(session, NOW), NOW), session, 'SESSION_STORE_REDIS_PWD authenticates')
  t.equal(await store.exclusive(session.id, async () => 'locked'), 'locked')
  await store.remove(session.id)
  t.equal(await store.load(session.id, NOW), undefined)

  for (const [what, redisPassword] of [['a wrong password', 'wrong'], ['no password', undefined]] as const) {
    const refused = createSessionStore({ ...config, redisPassword })
    t.teardown(() => refused.close())
    await t.rejects(refused.save(makeSession(), NOW), UNAVAILABLE, `${what}: save refused`)
    await t.rejects(refused.load(session.id, NOW), UNAVAILABLE, `${what}: load refused`)
  }
})

t.test('a ticket of the other kind of store loads as undefined', { skip: skipUnlessPeers('redis') }, async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const ring = ringOf('cross')
  const cookie = createCookieStore({ ring })
  const stored = createRedisStore({ ring, redis: { host: '127.0.0.1', port: redis.port, db: 0 } })
  t.teardown(() => stored.close())
  const session = makeSession()
  const [cookieTicket, redisTicket] = [await cookie.save(session, NOW), await stored.save(session, NOW)]
  t.equal(await stored.load(cookieTicket, NOW), undefined, 'a cookie ticket is no redis ticket, even for the same session')
  t.equal(await cookie.load(redisTicket, NOW), undefined, 'a redis ticket (the bare id) is no cookie ticket')
})

t.test('Redis holds no plaintext: hashed keys, JWE values', { skip: skipUnlessPeers('redis') }, async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const store = createRedisStore({ ring: ringOf('plaintext'), redis: { host: '127.0.0.1', port: redis.port, db: 0 } })
  t.teardown(() => store.close())
  const client = new RedisClient({ host: '127.0.0.1', port: redis.port })
  t.teardown(() => client.quit())

  const sessions = [makeSession(), makeSession(), makeSession()]
  const tickets = await Promise.all(sessions.map((session) => store.save(session, NOW)))
  await store.exclusive(sessions[0]!.id, async () => {
    const keys = (await client.keys('*')).sort()
    const expected = [
      ...tickets.map((ticket) => `authservice:session:${createHash('sha256').update(ticket).digest('hex')}`),
      `authservice:lock:${createHash('sha256').update(sessions[0]!.id).digest('hex')}`,
    ].sort()
    t.strictSame(keys, expected, 'only session:<sha256(ticket)> and lock:<sha256(id)> keys')
    const secrets = sessions.flatMap((s) => [s.id, s.idToken, s.refreshToken!, s.claims.sub, String(s.claims.email)])
    secrets.push(...secrets.map((secret) => secret.slice(0, 16)))
    for (const key of keys) {
      const value = (await client.get(key))!
      t.notOk(secrets.some((secret) => key.includes(secret) || value.includes(secret)), `${key.slice(0, 24)}…: no ticket, token or claim`)
      if (key.startsWith('authservice:session:')) t.ok(looksSealed(value), 'the value is a compact JWE')
    }
  })
})
