/** createSessionStore: the store named by SESSION_STORE_TYPE, keyed from the configured secrets. */
import t from 'tap'
import { NO_REDIS } from '../../fixtures/config.js'
import { createSessionStore, type SessionStoreConfig } from '../../../src/session/create-store.js'
import { createCookieStore } from '../../../src/session/cookie-store.js'
import { deriveKeys } from '../../../src/session/keys.js'
import { makeSession, NOW } from '../../contracts/session-store.js'
import { freePort } from '../../helpers/ports.js'
import { waitUntil } from '../../helpers/wait.js'

const base: SessionStoreConfig = {
  sessionStoreType: 'cookie',
  sessionSecrets: [],
  clientSecret: 'kubeflow-client-secret',
  ...NO_REDIS,
  sessionMaxAgeSeconds: 86_400,
}

t.test('cookie: keys from CLIENT_SECRET when SESSION_SECRETS is empty, so replicas agree', async (t) => {
  const store = createSessionStore(base)
  t.teardown(() => store.close())
  t.equal(store.kind, 'cookie')
  const session = makeSession()
  const replica = createSessionStore(base)
  t.strictSame(await replica.load(await store.save(session, NOW), NOW), session, 'another replica reads it')
  const byHand = createCookieStore({ ring: deriveKeys(base, 'session') })
  t.strictSame(await byHand.load(await store.save(session, NOW), NOW), session, "the ring is deriveKeys(config, 'session')")
  const otherSecret = createSessionStore({ ...base, clientSecret: 'rotated' })
  t.equal(await otherSecret.load(await store.save(session, NOW), NOW), undefined, 'a new CLIENT_SECRET ends the sessions')
})

t.test('cookie: SESSION_SECRETS replace CLIENT_SECRET', async (t) => {
  const secrets = { ...base, sessionSecrets: [new Uint8Array(32).fill(9)] }
  const store = createSessionStore(secrets)
  const ticket = await store.save(makeSession(), NOW)
  t.ok(await createSessionStore({ ...secrets, clientSecret: 'changed' }).load(ticket, NOW), 'CLIENT_SECRET no longer matters')
  t.equal(await createSessionStore(base).load(ticket, NOW), undefined)
})

t.test('no secret at all is a configuration error', async (t) => {
  t.throws(() => createSessionStore({ ...base, clientSecret: '' }), { code: 'ERR_CONFIG_INVALID' })
})

t.test('redis: host, port, password and db from the config; connection errors go to the hook', async (t) => {
  const port = await freePort()
  const errors: Error[] = []
  const store = createSessionStore(
    { ...base, sessionStoreType: 'redis', redisAddr: `127.0.0.1:${port}`, redisPassword: 'pw', redisDb: 2 },
    { onRedisError: (error) => errors.push(error) },
  )
  t.teardown(() => store.close())
  t.equal(store.kind, 'redis')
  await t.rejects(store.load('A'.repeat(43), NOW), { code: 'ERR_SESSION_STORE_UNAVAILABLE' }, 'nothing listens there')
  await waitUntil('a connection error', async () => errors.length > 0, { timeoutMs: 5_000 })
  t.match(errors[0], { code: 'ECONNREFUSED', port })
  const quiet = createSessionStore({ ...base, sessionStoreType: 'redis', redisAddr: `localhost:${port}` })
  t.teardown(() => quiet.close())
  await t.rejects(quiet.load('A'.repeat(43), NOW), { code: 'ERR_SESSION_STORE_UNAVAILABLE' }, 'works without a hook')
})

t.test('redis: with Redis down, every operation fails closed as the store being unavailable, and none waits for it', async (t) => {
  const port = await freePort()
  const store = createSessionStore({ ...base, sessionStoreType: 'redis', redisAddr: `127.0.0.1:${port}` })
  t.teardown(() => store.close())
  const session = makeSession()
  await t.rejects(store.save(session, NOW), { code: 'ERR_SESSION_STORE_UNAVAILABLE' }, 'save')
  await t.rejects(store.remove('A'.repeat(43)), { code: 'ERR_SESSION_STORE_UNAVAILABLE' }, 'remove')
  let worked = false
  await t.rejects(store.exclusive(session.id, async () => (worked = true)), { code: 'ERR_SESSION_STORE_UNAVAILABLE' }, 'exclusive')
  t.notOk(worked, 'no work ran without the lock')
})

t.test('redis: a missing or invalid address is a configuration error', async (t) => {
  for (const redisAddr of [undefined, '', 'redis', 'redis:', ':6379', 'redis:0', 'redis:65536', 'a b:1', 'redis://x:1']) {
    t.throws(() => createSessionStore({ ...base, sessionStoreType: 'redis', redisAddr }), {
      code: 'ERR_CONFIG_INVALID',
      problems: ['SESSION_STORE_REDIS_ADDR: must be host:port with a port from 1 to 65535'],
    }, String(redisAddr))
  }
})

// Issue 15, finding 4: a sealed session's expiresAt was trusted as written.
t.test('a session never outlives createdAt + SESSION_MAX_AGE, whatever its sealed expiresAt says', async (t) => {
  const DAY = 86_400_000
  const longLived = makeSession({ createdAt: NOW, expiresAt: NOW + 30 * DAY })
  const ticket = await createSessionStore({ ...base, sessionMaxAgeSeconds: 60 * 86_400 }).save(longLived, NOW)
  const store = createSessionStore(base)
  const opened = await store.load(ticket, NOW + DAY - 1)
  t.equal(opened?.expiresAt, NOW + DAY, 'opened with its end capped at createdAt + SESSION_MAX_AGE')
  t.equal(opened?.id, longLived.id)
  t.equal(await store.load(ticket, NOW + DAY), undefined, 'and ended there (a lowered SESSION_MAX_AGE shortens the sessions that exist)')
  const shortLived = makeSession({ createdAt: NOW, expiresAt: NOW + 3_600_000 })
  t.strictSame(await store.load(await store.save(shortLived, NOW), NOW), shortLived, 'an earlier end stands as it is')
})

t.test('capSessionLifetime leaves every other store operation to the store', async (t) => {
  const { capSessionLifetime } = await import('../../../src/session/create-store.js')
  const inner = createCookieStore({ ring: deriveKeys(base, 'session') })
  const capped = capSessionLifetime(inner, 60_000)
  t.equal(capped.kind, 'cookie')
  t.equal(capped.save, inner.save)
  t.equal(capped.exclusive, inner.exclusive)
  t.equal(await capped.load('not-a-ticket', NOW), undefined)
})
