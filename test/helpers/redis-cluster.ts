/**
 * A Redis Cluster of three masters (Debian's redis-server, cluster mode) on ephemeral loopback ports:
 * the 16384 hash slots split in three, the nodes introduced with CLUSTER MEET, ready once every node
 * says `cluster_state:ok`. The cluster bus port is chosen too (the default, port + 10000, may not be
 * free or even valid for an ephemeral port). Stopped nodes come back on the same ports and rejoin
 * from their nodes.conf.
 */
import { Redis as RedisClient } from 'ioredis'
import { freePort } from './ports.js'
import { startRedis, type Redis } from './redis.js'
import { waitUntil } from './wait.js'

const SLOTS = 16_384

export interface RedisCluster {
  readonly nodes: readonly Redis[]
  /** Comma list of host:port, the form SESSION_STORE_REDIS_CLUSTER_ADDRS takes. */
  readonly addresses: string
  /** Resolves once every node reports cluster_state:ok. */
  waitHealthy(): Promise<void>
  stop(): Promise<void>
  start(): Promise<void>
  close(): Promise<void>
}

async function clusterInfo(port: number): Promise<string> {
  const client = new RedisClient({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    return String(await client.call('CLUSTER', 'INFO'))
  } finally {
    client.disconnect()
  }
}

export async function startRedisCluster(size = 3): Promise<RedisCluster> {
  const nodes: Redis[] = []
  const buses: number[] = []
  for (let i = 0; i < size; i++) {
    const bus = await freePort()
    buses.push(bus)
    nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-node-timeout', '3000'] }))
  }
  for (const [i, node] of nodes.entries()) {
    const first = Math.floor((i * SLOTS) / size)
    const last = Math.floor(((i + 1) * SLOTS) / size) - 1
    await node.command('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last))
  }
  // MEET names the bus port too: it is not the default port + 10000.
  for (const [i, node] of nodes.entries()) {
    if (i > 0) await nodes[0]!.command('CLUSTER', 'MEET', '127.0.0.1', String(node.port), String(buses[i]))
  }
  const waitHealthy = () =>
    waitUntil('the cluster to be ok on every node', async () => {
      for (const node of nodes) if (!(await clusterInfo(node.port)).includes('cluster_state:ok')) return false
      return true
    }, { timeoutMs: 30_000, intervalMs: 200 })
  try {
    await waitHealthy()
  } catch (error) {
    // Nothing else knows these nodes yet: stop them rather than leave them running.
    await Promise.all(nodes.map((node) => node.close()))
    throw error
  }
  return {
    nodes,
    addresses: nodes.map((node) => node.address).join(','),
    waitHealthy,
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()))
    },
    start: async () => {
      await Promise.all(nodes.map((node) => node.start()))
    },
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()))
    },
  }
}
