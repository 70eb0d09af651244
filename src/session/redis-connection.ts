/**
 * The ioredis client of the redis session store, for each way Redis is deployed: one server
 * (SESSION_STORE_REDIS_ADDR), a master found through Redis Sentinel and followed through its
 * failovers (SESSION_STORE_REDIS_SENTINEL_*), or a Redis Cluster (SESSION_STORE_REDIS_CLUSTER_ADDRS);
 * each optionally over TLS (Sentinels included) and as an ACL user (Redis 6+ `AUTH <user> <pass>`).
 *
 * Every kind gets the same fail-fast timing, because a check must never hang on Redis: no offline
 * queue, a 1 s connect and command timeout, at most one retry, and reconnection in the background
 * forever (backoff up to 2 s) so the store recovers by itself — after a Sentinel failover the next
 * reconnect asks the Sentinels again and lands on the promoted replica.
 */
import { rootCertificates, type ConnectionOptions } from 'node:tls'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisConnectionOptions } from './redis-address.js'

export type RedisClient = Redis | Cluster

export const CONNECT_TIMEOUT_MS = 1_000
export const COMMAND_TIMEOUT_MS = 1_000
const MAX_RECONNECT_DELAY_MS = 2_000
/** Never give up: the store must recover by itself when Redis comes back. */
const reconnectDelay = (attempt: number) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS)

/** Node's TLS options: the server certificate is always verified, against the system CAs plus `ca`. */
function tlsOptions(tls: RedisConnectionOptions['tls']): ConnectionOptions | undefined {
  if (tls === undefined) return undefined
  return tls.ca === undefined ? {} : { ca: [...rootCertificates, tls.ca] }
}

/**
 * A client for `options` that connects at once and keeps reconnecting in the background; its
 * 'error' events go to `onError` (a listener is always attached: an unhandled 'error' would end
 * the process).
 */
export function createRedisClient(options: RedisConnectionOptions, onError?: (error: Error) => void): RedisClient {
  const tls = tlsOptions(options.tls)
  const connection: RedisOptions = {
    username: options.username,
    password: options.password,
    connectionName: 'authservice',
    // Fail fast while Redis is unreachable instead of queueing commands until it is back.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    ...(tls === undefined ? {} : { tls }),
  }
  let client: RedisClient
  if ('cluster' in options) {
    const cluster: ClusterOptions = {
      enableOfflineQueue: false,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
      // A MOVED or failover retry must still end within a check's time.
      maxRedirections: 4,
      redisOptions: connection,
    }
    client = new Cluster(options.cluster.map(({ host, port }) => ({ host, port })), cluster)
  } else if ('sentinels' in options) {
    client = new Redis({
      ...connection,
      db: options.db,
      sentinels: options.sentinels.map(({ host, port }) => ({ host, port })),
      name: options.masterName,
      sentinelPassword: options.sentinelPassword,
      sentinelCommandTimeout: COMMAND_TIMEOUT_MS,
      // Each sweep over the Sentinels that finds none answering waits at most this long.
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
      ...(tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: tls }),
      // A master demoted without dropping our connection (a healed partition, a manual failover)
      // answers writes with READONLY: reconnect, which asks the Sentinels for the master again.
      // (ioredis's failoverDetector is not used: a Sentinel that learns of a switch late would
      // break a connection already on the new master, a second refusal window.)
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    })
  } else {
    client = new Redis({ ...connection, host: options.host, port: options.port, db: options.db })
  }
  client.on('error', (error: Error) => onError?.(error))
  return client
}
