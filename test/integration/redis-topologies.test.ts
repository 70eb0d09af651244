/**
 * The redis store on each Redis deployment the SESSION_STORE_REDIS_* settings describe, through the
 * shared contract (test/contracts/session-store.ts), against real Debian redis-server and
 * redis-sentinel on loopback: a master found through Sentinel, a three-master Cluster, and one server
 * over TLS (a CA of the test's own, SESSION_STORE_REDIS_CA_BUNDLE) as a least-privilege ACL user.
 * The options come from the environment through the real loader, as in the service.
 * (Sentinel failing over under traffic is test/integration/faults-redis-failover.test.ts.)
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { redisConnectionOptions, type RedisConnectionOptions } from '../../src/session/redis-address.js'
import { createRedisStore } from '../../src/session/redis-store.js'
import { makeSession, NOW, ringOf, sessionStoreContract } from '../contracts/session-store.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'
import { startRedisCluster } from '../helpers/redis-cluster.js'
import { MASTER_NAME, startSentinel } from '../helpers/redis-sentinel.js'
import { makeTlsFiles } from '../helpers/tls-certs.js'

const UNAVAILABLE = { code: 'ERR_SESSION_STORE_UNAVAILABLE' }

/** What the service would connect with, given these SESSION_STORE_REDIS_* settings. */
function fromEnv(env: Record<string, string>): RedisConnectionOptions {
  const { config } = loadConfig(
    { OIDC_PROVIDER: 'https://idp.example.com', CLIENT_ID: 'authservice', CLIENT_SECRET: 'a-client-secret-of-our-own-0123', SESSION_STORE_TYPE: 'redis', ...env },
    (path) => readFileSync(path, 'utf8'),
  )
  return redisConnectionOptions(config)
}

/** The commands the store needs and no more: its own keys, no other command, no channel. */
export const LEAST_PRIVILEGE = [
  'on', 'resetkeys', '~authservice:*', 'resetchannels', '-@all',
  '+get', '+set', '+del', '+eval', '+evalsha', '+ping', '+info', '+select', '+client|setname', '+quit',
]

t.test('Sentinel: the master by name from the Sentinel', { skip: skipUnlessPeers('redis', 'redis-sentinel') }, async (t) => {
  const master = await startRedis()
  t.teardown(() => master.close())
  const sentinel = await startSentinel({ masterPort: master.port, password: 'sentinel-pass-1' })
  t.teardown(() => sentinel.close())
  const redis = fromEnv({
    SESSION_STORE_REDIS_SENTINEL_ADDRS: sentinel.address,
    SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: MASTER_NAME,
    SESSION_STORE_REDIS_SENTINEL_PWD: 'sentinel-pass-1',
  })
  sessionStoreContract(t, 'redis store via Sentinel', async (ring) => ({
    store: createRedisStore({ ring, redis }),
    breakBackend: () => master.stop(),
    restoreBackend: () => master.start(),
    persistent: false,
  }))

  t.test('a wrong master name or Sentinel password: unavailable, never another Redis', async (t) => {
    for (const [what, env] of [
      ['unknown master name', { SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: 'other', SESSION_STORE_REDIS_SENTINEL_PWD: 'sentinel-pass-1' }],
      ['wrong Sentinel password', { SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: MASTER_NAME, SESSION_STORE_REDIS_SENTINEL_PWD: 'wrong' }],
    ] as const) {
      const store = createRedisStore({ ring: ringOf('sentinel'), redis: fromEnv({ SESSION_STORE_REDIS_SENTINEL_ADDRS: sentinel.address, ...env }) })
      t.teardown(() => store.close())
      await t.rejects(store.save(makeSession(), NOW), UNAVAILABLE, what)
    }
  })
})

t.test('Cluster: three masters, keys on every shard', { skip: skipUnlessPeers('redis') }, async (t) => {
  const cluster = await startRedisCluster(3)
  t.teardown(() => cluster.close())
  const redis = fromEnv({ SESSION_STORE_REDIS_CLUSTER_ADDRS: cluster.nodes[0]!.address })
  sessionStoreContract(t, 'redis store on a Cluster', async (ring) => ({
    store: createRedisStore({ ring, redis }),
    breakBackend: () => cluster.stop(),
    restoreBackend: async () => {
      await cluster.start()
      await cluster.waitHealthy()
    },
    persistent: false,
  }))

  t.test('sessions land on every master (one node named, the others discovered)', async (t) => {
    const store = createRedisStore({ ring: ringOf('cluster'), redis })
    t.teardown(() => store.close())
    const sessions = Array.from({ length: 30 }, () => makeSession())
    for (const session of sessions) await store.save(session, NOW)
    for (const session of sessions) t.strictSame(await store.load(session.id, NOW), session)
    const sizes = await Promise.all(cluster.nodes.map(async (node) => Number((await node.command('DBSIZE')).slice(1))))
    t.ok(sizes.every((size) => size > 0), `every master holds some (${sizes.join(', ')})`)
  })
})

t.test('TLS with a private CA, as a least-privilege ACL user', { skip: skipUnlessPeers('redis', 'openssl') }, async (t) => {
  const tls = await makeTlsFiles()
  t.teardown(() => tls.remove())
  const password = 'acl-user-pass-Ω-2'
  const server = await startRedis({ tls, aclUser: ['authservice', '>' + password, ...LEAST_PRIVILEGE], args: ['--user', 'default', 'off'] })
  t.teardown(() => server.close())
  const settings = {
    SESSION_STORE_REDIS_ADDR: server.address,
    SESSION_STORE_REDIS_USERNAME: 'authservice',
    SESSION_STORE_REDIS_PWD: password,
    SESSION_STORE_REDIS_TLS: 'true',
    SESSION_STORE_REDIS_CA_BUNDLE: tls.caFile,
  }
  const redis = fromEnv(settings)
  sessionStoreContract(t, 'redis store over TLS as an ACL user', async (ring) => ({
    store: createRedisStore({ ring, redis }),
    breakBackend: () => server.stop(),
    restoreBackend: () => server.start(),
    persistent: false,
  }))

  t.test('refused: an untrusted certificate, plain TCP, the default user, a wrong password', async (t) => {
    const { SESSION_STORE_REDIS_CA_BUNDLE: _, ...noCa } = settings
    const { SESSION_STORE_REDIS_TLS: __, SESSION_STORE_REDIS_CA_BUNDLE: ___, ...plain } = settings
    const { SESSION_STORE_REDIS_USERNAME: ____, ...defaultUser } = settings
    for (const [what, env] of [
      ['the system CAs only (the server certificate is not trusted)', noCa],
      ['plain TCP to a TLS port', plain],
      ['the default user (off)', defaultUser],
      ['a wrong password', { ...settings, SESSION_STORE_REDIS_PWD: 'wrong-password' }],
    ] as const) {
      const store = createRedisStore({ ring: ringOf('tls'), redis: fromEnv(env) })
      t.teardown(() => store.close())
      await t.rejects(store.save(makeSession(), NOW), UNAVAILABLE, what)
    }
  })
})
