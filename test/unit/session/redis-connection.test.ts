/**
 * The ioredis client for each Redis topology, held to the options it is built with: the fail-fast
 * timing every kind shares, Sentinel and Cluster settings, ACL user, TLS with a CA bundle, and the
 * settings → options mapping. That real Redis, Sentinels and a Cluster answer as assumed is
 * test/integration/redis-topologies.test.ts.
 */
import { EventEmitter } from 'node:events'
import { rootCertificates } from 'node:tls'
import t, { type Test } from 'tap'
import { NO_REDIS } from '../../fixtures/config.js'
import type { RedisConnectionOptions } from '../../../src/session/redis-connection.js'

/** Records how ioredis was called. */
class StandIn extends EventEmitter {
  readonly args: unknown[]
  constructor(...args: unknown[]) {
    super()
    this.args = args
  }
}

async function clientFor(t: Test, options: RedisConnectionOptions, onError?: (error: Error) => void) {
  const made: Array<{ kind: string; args: unknown[] }> = []
  const Redis = class extends StandIn {
    constructor(...args: unknown[]) {
      super(...args)
      made.push({ kind: 'Redis', args })
    }
  }
  const Cluster = class extends StandIn {
    constructor(...args: unknown[]) {
      super(...args)
      made.push({ kind: 'Cluster', args })
    }
  }
  const { createRedisClient } = await t.mockImport<typeof import('../../../src/session/redis-connection.js')>(
    '../../../src/session/redis-connection.js',
    { ioredis: { Redis, Cluster } },
  )
  const client = createRedisClient(options, onError) as unknown as StandIn
  t.equal(made.length, 1, 'one client')
  return { client, kind: made[0]!.kind, args: made[0]!.args as [Record<string, unknown>, Record<string, unknown>?] }
}

const FAIL_FAST = {
  connectionName: 'authservice',
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1_000,
  commandTimeout: 1_000,
}

const retries = (strategy: unknown) => [1, 5, 20, 100].map(strategy as (attempt: number) => number)

t.test('one server: host, port, credentials, db; fails fast and reconnects forever with a bounded backoff', async (t) => {
  const { kind, args } = await clientFor(t, { host: '10.0.0.5', port: 6380, username: 'authservice', password: 'pw', db: 2 })
  t.equal(kind, 'Redis')
  t.match(args[0], { host: '10.0.0.5', port: 6380, username: 'authservice', password: 'pw', db: 2, ...FAIL_FAST })
  t.notOk('tls' in args[0], 'plain TCP unless asked')
  t.same(retries(args[0].retryStrategy), [100, 500, 2_000, 2_000], 'never gives up, never waits over 2 s')
})

t.test('Sentinel: the master by name from the Sentinels, followed through failovers', async (t) => {
  const { kind, args } = await clientFor(t, {
    sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }],
    masterName: 'mymaster',
    sentinelPassword: 'spw',
    password: 'pw',
    db: 1,
  })
  t.equal(kind, 'Redis')
  t.match(args[0], { sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], name: 'mymaster', sentinelPassword: 'spw', password: 'pw', db: 1, ...FAIL_FAST })
  t.equal(args[0].sentinelCommandTimeout, 1_000)
  t.same(retries(args[0].sentinelRetryStrategy), [100, 500, 2_000, 2_000], 'Sentinels unreachable: retried, bounded')
  const reconnectOnError = args[0].reconnectOnError as (error: Error) => boolean
  t.equal(reconnectOnError(new Error("READONLY You can't write against a read only replica.")), true, 'a demoted master: reconnect through the Sentinels')
  t.equal(reconnectOnError(new Error('NOAUTH Authentication required.')), false)
  t.notOk('failoverDetector' in args[0])
  t.notOk('enableTLSForSentinelMode' in args[0])
})

t.test('Cluster: the nodes, no offline queue, bounded redirections; credentials per node', async (t) => {
  const { kind, args } = await clientFor(t, { cluster: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }], username: 'u', password: 'pw', db: 0 })
  t.equal(kind, 'Cluster')
  t.same(args[0], [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }])
  const options = args[1]!
  t.match(options, { enableOfflineQueue: false, slotsRefreshTimeout: 1_000, maxRedirections: 4 })
  t.same(retries(options.clusterRetryStrategy), [100, 500, 2_000, 2_000])
  t.match(options.redisOptions, { username: 'u', password: 'pw', ...FAIL_FAST })
  t.notOk('db' in (options.redisOptions as object), 'a Cluster has database 0 only')
})

t.test('TLS: always verified; a CA bundle is trusted besides the system CAs; Sentinels over TLS too', async (t) => {
  const plain = await clientFor(t, { host: 'r', port: 6380, db: 0, tls: {} })
  t.same(plain.args[0].tls, {}, 'system CAs, hostname checked (no rejectUnauthorized: false)')
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
  const own = await clientFor(t, { host: 'r', port: 6380, db: 0, tls: { ca } })
  t.same(own.args[0].tls, { ca: [...rootCertificates, ca] })
  const sentinel = await clientFor(t, { sentinels: [{ host: 's', port: 26379 }], masterName: 'm', db: 0, tls: { ca } })
  t.match(sentinel.args[0], { enableTLSForSentinelMode: true, tls: { ca: [...rootCertificates, ca] }, sentinelTLS: { ca: [...rootCertificates, ca] } })
  const cluster = await clientFor(t, { cluster: [{ host: 'n', port: 7000 }], db: 0, tls: { ca } })
  t.same((cluster.args[1]!.redisOptions as Record<string, unknown>).tls, { ca: [...rootCertificates, ca] })
})

t.test('connection errors are reported, and without a hook never crash the process', async (t) => {
  const errors: Error[] = []
  const { client } = await clientFor(t, { host: 'r', port: 1, db: 0 }, (error) => errors.push(error))
  client.emit('error', new Error('connect ECONNREFUSED'))
  t.match(errors, [{ message: 'connect ECONNREFUSED' }])
  const silent = await clientFor(t, { cluster: [{ host: 'n', port: 7000 }], db: 0 })
  t.doesNotThrow(() => silent.client.emit('error', new Error('connect ECONNREFUSED')))
})

const SETTINGS = NO_REDIS // no address yet: each case sets its own

t.test('redisConnectionOptions: the SESSION_STORE_REDIS_* settings as connection options', async (t) => {
  const { redisConnectionOptions } = await import('../../../src/session/redis-connection.js')
  t.same(redisConnectionOptions({ ...SETTINGS, redisAddr: 'redis.auth:6379', redisPassword: 'pw', redisDb: 3 }), {
    username: undefined, password: 'pw', db: 3, tls: undefined, host: 'redis.auth', port: 6379,
  })
  t.same(
    redisConnectionOptions({ ...SETTINGS, redisSentinelAddrs: ['s1:26379', '[::1]:26380'], redisSentinelMasterName: 'mymaster', redisSentinelPassword: 'spw', redisUsername: 'u', redisPassword: 'pw', redisTls: true }),
    {
      username: 'u', password: 'pw', db: 0, tls: { ca: undefined },
      sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], masterName: 'mymaster', sentinelPassword: 'spw',
    },
  )
  t.same(redisConnectionOptions({ ...SETTINGS, redisClusterAddrs: ['n1:7000'], redisTls: true, redisCaBundle: 'PEM' }), {
    username: undefined, password: undefined, db: 0, tls: { ca: 'PEM' }, cluster: [{ host: 'n1', port: 7000 }],
  })
  t.match(redisConnectionOptions({ ...SETTINGS, redisSentinelAddrs: ['s:1'] }), { masterName: '' }, 'load.ts refuses a missing name first')
  t.throws(() => redisConnectionOptions({ ...SETTINGS, redisClusterAddrs: ['n1'] }), {
    code: 'ERR_CONFIG_INVALID',
    problems: ['SESSION_STORE_REDIS_CLUSTER_ADDRS: must be host:port with a port from 1 to 65535'],
  })
  t.throws(() => redisConnectionOptions({ ...SETTINGS, redisSentinelAddrs: ['s:0'], redisSentinelMasterName: 'm' }), {
    code: 'ERR_CONFIG_INVALID',
    problems: ['SESSION_STORE_REDIS_SENTINEL_ADDRS: must be host:port with a port from 1 to 65535'],
  })
  t.throws(() => redisConnectionOptions(SETTINGS), { code: 'ERR_CONFIG_INVALID', problems: ['SESSION_STORE_REDIS_ADDR: must be host:port with a port from 1 to 65535'] })
})

t.test('parseRedisAddress', async (t) => {
  const { parseRedisAddress } = await import('../../../src/session/redis-connection.js')
  t.strictSame(parseRedisAddress('redis.auth.svc.cluster.local:6379'), { host: 'redis.auth.svc.cluster.local', port: 6379 })
  t.strictSame(parseRedisAddress('10.0.0.7:1'), { host: '10.0.0.7', port: 1 })
  t.strictSame(parseRedisAddress('[::1]:65535'), { host: '::1', port: 65535 }, 'IPv6 without its brackets')
  t.throws(() => parseRedisAddress('::1:6379'), { code: 'ERR_CONFIG_INVALID' }, 'IPv6 needs brackets')
  for (const address of [undefined, '', 'redis', 'redis:', ':6379', 'redis:0', 'redis:65536', 'a b:1', 'redis://x:1']) {
    t.throws(() => parseRedisAddress(address), { code: 'ERR_CONFIG_INVALID', problems: ['SESSION_STORE_REDIS_ADDR: must be host:port with a port from 1 to 65535'] }, String(address))
  }
})
