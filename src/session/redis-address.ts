/**
 * Where the redis session store connects, from the SESSION_STORE_REDIS_* settings: one server, a
 * master found through Redis Sentinel, or a Redis Cluster; user, password, db and TLS. Plain data,
 * checked at startup with the rest of the configuration; redis-connection.ts turns it into an ioredis
 * client, and only a redis store loads that (create-store.ts).
 */
import type { Config } from '../config/types.js'
import { ConfigError } from '../errors.js'

export interface HostPort {
  readonly host: string
  readonly port: number
}

/** Where Redis is: exactly one of a server, Sentinels, or Cluster nodes. */
export type RedisTarget =
  | HostPort
  | { readonly sentinels: readonly HostPort[]; readonly masterName: string; readonly sentinelPassword?: string | undefined }
  | { readonly cluster: readonly HostPort[] }

export type RedisConnectionOptions = RedisTarget & {
  readonly username?: string | undefined
  readonly password?: string | undefined
  readonly db: number
  /** TLS to every Redis node and Sentinel; `ca` (PEM) is trusted besides the system CAs. */
  readonly tls?: { readonly ca?: string | undefined } | undefined
}

/**
 * `host:port` (IPv6 in brackets, as the SESSION_STORE_REDIS_* address settings take it) as ioredis
 * wants it; `variable` names the setting in the error.
 * @throws ConfigError when the address is missing or has no valid port.
 */
export function parseRedisAddress(address: string | undefined, variable = 'SESSION_STORE_REDIS_ADDR'): HostPort {
  const match = address === undefined ? null : /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(address)
  const port = Number(match?.[3])
  if (match === null || !(port >= 1 && port <= 65535)) {
    throw new ConfigError([`${variable}: must be host:port with a port from 1 to 65535`])
  }
  return { host: (match[1] ?? match[2]) as string, port }
}

export type RedisConfig = Pick<
  Config,
  | 'redisAddr' | 'redisPassword' | 'redisDb' | 'redisSentinelMasterName' | 'redisSentinelAddrs' | 'redisSentinelPassword'
  | 'redisClusterAddrs' | 'redisUsername' | 'redisTls' | 'redisCaBundle'
>

/**
 * The connection options the SESSION_STORE_REDIS_* settings describe (config/load.ts has already
 * checked that exactly one address setting is given).
 * @throws ConfigError when an address is invalid or missing.
 */
export function redisConnectionOptions(config: RedisConfig): RedisConnectionOptions {
  const common = {
    username: config.redisUsername,
    password: config.redisPassword,
    db: config.redisDb,
    tls: config.redisTls ? { ca: config.redisCaBundle } : undefined,
  }
  if (config.redisSentinelAddrs.length > 0) {
    return {
      ...common,
      sentinels: config.redisSentinelAddrs.map((address) => parseRedisAddress(address, 'SESSION_STORE_REDIS_SENTINEL_ADDRS')),
      masterName: config.redisSentinelMasterName ?? '',
      sentinelPassword: config.redisSentinelPassword,
    }
  }
  if (config.redisClusterAddrs.length > 0) {
    return { ...common, cluster: config.redisClusterAddrs.map((address) => parseRedisAddress(address, 'SESSION_STORE_REDIS_CLUSTER_ADDRS')) }
  }
  return { ...common, ...parseRedisAddress(config.redisAddr) }
}
