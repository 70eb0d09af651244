/**
 * The redis store against a real redis-server (test/helpers/redis.ts): the shared contract, then
 * what only Redis has — hashed keys, TTLs, the lock, and failing fast when Redis is gone or hangs.
 * (The unit test, test/unit/session/redis-store.test.ts, holds the store to what it asks of its
 * client; this file proves a real Redis answers as assumed.)
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { Redis as RedisClient } from 'ioredis'
import t, { type Test } from 'tap'
import { createRedisStore, type RedisStoreOptions } from '../../src/session/redis-store.js'
import { seal } from '../../src/session/seal.js'
import { makeSession, NOW, ringOf, sessionStoreContract } from '../contracts/session-store.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { freePort } from '../helpers/ports.js'
import { startRedis } from '../helpers/redis.js'
import { waitUntil } from '../helpers/wait.js'

const UNAVAILABLE = { code: 'ERR_SESSION_STORE_UNAVAILABLE' }
const hash = (text: string) => createHash('sha256').update(text).digest('hex')
const ring = ringOf('redis-unit')

t.test('redis store', { skip: skipUnlessPeers('redis') }, async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())

  /** A store on this Redis, closed when `t` ends. */
  function open(t: Test, options: Partial<RedisStoreOptions> = {}) {
    const store = createRedisStore({ ring, redis: { host: '127.0.0.1', port: redis.port, db: 0 }, ...options })
    t.teardown(() => store.close())
    return store
  }

  /** A plain client to look inside Redis, closed when `t` ends. */
  function inspect(t: Test, db = 0): RedisClient {
    const client = new RedisClient({ host: '127.0.0.1', port: redis.port, db, maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    t.teardown(() => client.quit().catch(() => client.disconnect()))
    return client
  }

  sessionStoreContract(t, 'redis store', async (storeRing) => ({
    store: createRedisStore({ ring: storeRing, redis: { host: '127.0.0.1', port: redis.port, db: 0 } }),
    breakBackend: () => redis.stop(),
    restoreBackend: () => redis.start(),
    persistent: false,
  }))

  t.test('the ticket is the session id; Redis holds a JWE under a hash of it, until expiresAt', async (t) => {
    const prefix = `t${randomBytes(4).toString('hex')}:`
    const store = open(t, { keyPrefix: prefix })
    const client = inspect(t)
    const session = makeSession()
    const ticket = await store.save(session, NOW)
    t.equal(ticket, session.id)
    t.strictSame(await client.keys(`${prefix}*`), [`${prefix}session:${hash(ticket)}`], 'one key, named by the hash')
    const value = await client.get(`${prefix}session:${hash(ticket)}`)
    t.match(value, /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/, 'a compact JWE')
    for (const secret of [ticket, session.idToken, session.refreshToken!, session.claims.sub, 'user@example.com']) {
      t.notOk(value!.includes(secret), 'no plaintext in the value')
    }
    const ttl = await client.pttl(`${prefix}session:${hash(ticket)}`)
    t.ok(ttl > session.expiresAt - NOW - 5_000 && ttl <= session.expiresAt - NOW, `TTL ends at expiresAt (${ttl} ms)`)
  })

  t.test('saving again (refresh) overwrites and keeps the absolute end', async (t) => {
    const store = open(t)
    const client = inspect(t)
    const session = makeSession()
    await store.save(session, NOW)
    const refreshed = { ...session, idToken: 'refreshed', idTokenExpiresAt: NOW + 7_200_000 }
    t.equal(await store.save(refreshed, NOW + 3_600_000), session.id, 'the same ticket')
    t.strictSame(await store.load(session.id, NOW + 3_600_000), refreshed)
    const ttl = await client.pttl(`authservice:session:${hash(session.id)}`)
    const left = session.expiresAt - NOW - 3_600_000
    t.ok(ttl > left - 5_000 && ttl <= left, `TTL still ends at expiresAt (${ttl} ms)`)
    await store.save(refreshed, session.expiresAt)
    t.equal(await client.exists(`authservice:session:${hash(session.id)}`), 0, 'saving an expired session deletes it')
    t.equal(await store.load(session.id, NOW), undefined)
  })

  t.test('save refuses a session id that is not a redis ticket, before any I/O', async (t) => {
    const store = open(t)
    for (const id of ['', 'short', 'x'.repeat(42) + '!', randomBytes(32).toString('base64')]) {
      await t.rejects(store.save(makeSession({ id }), NOW), TypeError, JSON.stringify(id))
    }
  })

  t.test('a stored value that is not this session loads as undefined', async (t) => {
    const store = open(t)
    const client = inspect(t)
    const [a, b, c, d] = [makeSession(), makeSession(), makeSession(), makeSession()]
    await store.save(a, NOW)
    // Someone who can write to Redis copies a's sealed value under b's key: b's ticket must not open a's session.
    await client.set(`authservice:session:${hash(b.id)}`, (await client.get(`authservice:session:${hash(a.id)}`))!)
    t.equal(await store.load(b.id, NOW), undefined, 'a value copied under another id')
    await client.set(`authservice:session:${hash(c.id)}`, 'plain text')
    t.equal(await store.load(c.id, NOW), undefined, 'not a JWE')
    await client.set(`authservice:session:${hash(d.id)}`, await seal({ id: d.id }, ring))
    t.equal(await store.load(d.id, NOW), undefined, 'sealed, but not a session')
    t.strictSame(await store.load(a.id, NOW), a)
  })

  t.test('keys go to the configured database', async (t) => {
    const store = open(t, { redis: { host: '127.0.0.1', port: redis.port, db: 3 }, keyPrefix: 'db3:' })
    const session = makeSession()
    await store.save(session, NOW)
    t.equal(await inspect(t, 3).exists(`db3:session:${hash(session.id)}`), 1, 'in db 3')
    t.equal(await inspect(t, 0).exists(`db3:session:${hash(session.id)}`), 0, 'not in db 0')
  })

  t.test('the exclusive lock expires by itself and is only released by its holder', async (t) => {
    const store = open(t)
    const client = inspect(t)
    const id = makeSession().id
    const lock = `authservice:lock:${hash(id)}`
    const result = await store.exclusive(id, async () => {
      const ttl = await client.pttl(lock)
      t.ok(ttl > 0 && ttl <= 10_000, `held for at most 10 s (${ttl} ms)`)
      t.notOk((await client.get(lock))?.includes(id), 'the lock names no session id')
      // The lock expired meanwhile and another replica took it: ours must not delete theirs.
      await client.set(lock, 'another-holder')
      return 'done'
    })
    t.equal(result, 'done')
    t.equal(await client.get(lock), 'another-holder', "another holder's lock is left alone")
    t.equal(await store.exclusive(id, async () => 'blocked'), undefined, 'and still blocks')
    await client.del(lock)
    t.equal(await store.exclusive(id, async () => 'free'), 'free')
    t.equal(await client.exists(lock), 0, 'released after the work')
  })

  t.test('a failed release after the work is harmless', async (t) => {
    const store = open(t)
    t.equal(await store.exclusive(makeSession().id, async () => {
      await redis.stop()
      return 'done'
    }), 'done', 'the result of the work stands')
    await redis.start()
    await waitUntil('the store to reconnect', async () => (await store.load(makeSession().id, NOW)) === undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
    })
  })

  t.test('used at once after creation, the store waits for the connection', async (t) => {
    const store = open(t)
    const [a, b] = await Promise.all([store.load(makeSession().id, NOW), store.load(makeSession().id, NOW)])
    t.equal(a, undefined)
    t.equal(b, undefined)
    const session = makeSession()
    t.strictSame(await open(t).load(await store.save(session, NOW), NOW), session, 'a second, fresh store reads it')
  })

  t.test('a hanging Redis (CLIENT PAUSE) makes each call fail after the 1 s command timeout, before the pause ends', async (t) => {
    const store = open(t)
    const session = makeSession()
    await store.save(session, NOW)
    t.equal(await redis.command('CLIENT', 'PAUSE', '2500', 'ALL'), '+OK')
    const started = performance.now()
    await t.rejects(store.load(session.id, NOW), UNAVAILABLE)
    const elapsed = performance.now() - started
    // Well before the 2.5 s pause ends: the command timeout (1 s) answered, not the pause's end.
    t.ok(elapsed >= 900 && elapsed < 2_300, `the command timed out after ${Math.round(elapsed)} ms`)
    await waitUntil('the pause to end', async () => (await store.load(session.id, NOW)) !== undefined, {
      timeoutMs: 10_000,
      intervalMs: 100,
    })
  })
})

t.test('nothing listening: calls fail at once, errors are reported, close returns', async (t) => {
  const port = await freePort()
  const errors: Error[] = []
  const store = createRedisStore({ ring, redis: { host: '127.0.0.1', port, db: 0 }, onError: (error) => errors.push(error) })
  const started = performance.now()
  await t.rejects(store.load(makeSession().id, NOW), UNAVAILABLE, 'while the first connection attempt fails')
  await t.rejects(store.save(makeSession(), NOW), UNAVAILABLE, 'while reconnecting')
  t.ok(performance.now() - started < 1_000, 'fast')
  await waitUntil('a connection error to be reported', async () => errors.length > 0, { timeoutMs: 5_000 })
  t.match(errors[0], { code: 'ECONNREFUSED' })
  await store.close()
  t.pass('close returns while Redis is unreachable, and stops reconnecting')
})

t.test('a server that accepts but never answers: waiting for the connection is bounded', async (t) => {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const store = createRedisStore({ ring, redis: { host: '127.0.0.1', port, db: 0 } })
  await waitUntil('the TCP connection', async () => sockets.size > 0, { timeoutMs: 2_000, intervalMs: 5 })
  const started = performance.now()
  await t.rejects(store.load(makeSession().id, NOW), UNAVAILABLE)
  const elapsed = performance.now() - started
  t.ok(elapsed < 1_000, `refused after ${Math.round(elapsed)} ms`)
  await store.close()
})
