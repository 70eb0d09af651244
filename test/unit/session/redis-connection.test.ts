/**
 * The ioredis client for each Redis topology, held to the options it is built with: the fail-fast
 * timing every kind shares, Sentinel and Cluster settings, ACL user, TLS with a CA bundle (the
 * settings → options mapping is redis-address.test.ts). That real Redis, Sentinels and a Cluster answer as assumed is
 * test/integration/redis-topologies.test.ts.
 */
import { EventEmitter } from 'node:events'
import { rootCertificates } from 'node:tls'
import t, { type Test } from 'tap'
import type { RedisConnectionOptions } from '../../../src/session/redis-address.js'

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
