/**
 * Redis Sentinel (Debian's redis-sentinel) on ephemeral loopback ports, watching a master started
 * with test/helpers/redis.ts. Short timings so a failover takes seconds, not the default minutes:
 * a master is down after `downAfterMs` (1 s) without a reply, and a failover may be retried after
 * `failoverTimeoutMs` (3 s).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis as RedisClient } from 'ioredis'
import { installedPeer } from './peer-manifest.js'
import { startPeerProcess, type PeerProcess } from './peer-process.js'
import { freePort } from './ports.js'
import { redisCommand } from './redis.js'
import { waitUntil } from './wait.js'

export const MASTER_NAME = 'authservice-master'

export interface SentinelOptions {
  readonly masterPort: number
  readonly quorum?: number
  readonly downAfterMs?: number
  readonly failoverTimeoutMs?: number
  /** The Sentinel's own requirepass. */
  readonly password?: string
}

export interface Sentinel {
  readonly port: number
  /** host:port, the form SESSION_STORE_REDIS_SENTINEL_ADDRS takes. */
  readonly address: string
  /** `SENTINEL <args>` as a full reply (ioredis), e.g. `get-master-addr-by-name`. */
  ask(...args: string[]): Promise<unknown>
  output(): string
  close(): Promise<void>
}

export async function startSentinel(options: SentinelOptions): Promise<Sentinel> {
  const binary = installedPeer('redis-sentinel')
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'authservice-sentinel-'))
  // Sentinel rewrites its configuration file (it records what it learns), so it needs its own.
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(conf, [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    ...(options.password ? [`requirepass ${options.password}`] : []),
    `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${options.masterPort} ${options.quorum ?? 1}`,
    `sentinel down-after-milliseconds ${MASTER_NAME} ${options.downAfterMs ?? 1_000}`,
    `sentinel failover-timeout ${MASTER_NAME} ${options.failoverTimeoutMs ?? 3_000}`,
    `sentinel parallel-syncs ${MASTER_NAME} 1`,
    '',
  ].join('\n'))
  const peer: PeerProcess = startPeerProcess('redis-sentinel', binary, [conf])
  const ping = options.password ? ['AUTH', options.password] : ['PING']
  await waitUntil(`sentinel on ${port}`, async () => (await redisCommand(port, ...ping)).startsWith('+'))
  const client = new RedisClient({ host: '127.0.0.1', port, password: options.password, maxRetriesPerRequest: 1, lazyConnect: true })
  client.on('error', () => {})
  return {
    port,
    address: `127.0.0.1:${port}`,
    ask: (...args) => client.call('SENTINEL', ...args),
    output: () => peer.output(),
    close: async () => {
      client.disconnect()
      await peer.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The master's port as `sentinel` reports it now. */
export async function masterPortOf(sentinel: Sentinel): Promise<number> {
  const [, port] = (await sentinel.ask('get-master-addr-by-name', MASTER_NAME)) as [string, string]
  return Number(port)
}

/** Waits until every Sentinel knows the others and `replicas` replicas (so that a failover can happen). */
export async function waitForSentinelQuorum(sentinels: readonly Sentinel[], replicas: number): Promise<void> {
  await waitUntil(`${sentinels.length} sentinels to know each other and ${replicas} replica(s)`, async () => {
    for (const sentinel of sentinels) {
      const others = (await sentinel.ask('sentinels', MASTER_NAME)) as unknown[]
      const known = (await sentinel.ask('replicas', MASTER_NAME)) as unknown[]
      if (others.length < sentinels.length - 1 || known.length < replicas) return false
    }
    return true
  }, { timeoutMs: 30_000, intervalMs: 200 })
}
