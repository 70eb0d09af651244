/** The session store named by SESSION_STORE_TYPE, with its keys and Redis address from the config. */
import type { Config } from '../config/types.js'
import { ConfigError } from '../errors.js'
import { createCookieStore } from './cookie-store.js'
import { deriveKeys } from './keys.js'
import { createRedisStore } from './redis-store.js'
import type { SessionStore } from './store.js'

export type SessionStoreConfig = Pick<
  Config,
  'sessionStoreType' | 'sessionSecrets' | 'clientSecret' | 'redisAddr' | 'redisPassword' | 'redisDb' | 'sessionMaxAgeSeconds'
>

export interface SessionStoreHooks {
  /** Told about Redis connection errors (redis store only), e.g. to log them. */
  readonly onRedisError?: (error: Error) => void
}

/**
 * `host:port` (IPv6 in brackets, as SESSION_STORE_REDIS_ADDR takes it) as ioredis wants it.
 * @throws ConfigError when the address is missing or has no valid port.
 */
export function parseRedisAddress(address: string | undefined): { host: string; port: number } {
  const match = address === undefined ? null : /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(address)
  const port = Number(match?.[3])
  if (match === null || !(port >= 1 && port <= 65535)) {
    throw new ConfigError(['SESSION_STORE_REDIS_ADDR: must be host:port with a port from 1 to 65535'])
  }
  return { host: (match[1] ?? match[2]) as string, port }
}

/**
 * `store`, whose sessions never outlive their creation plus `maxAgeMs` (SESSION_MAX_AGE): a sealed
 * session's `expiresAt` is whatever was written when it was sealed, so it is capped when opened.
 * Lowering SESSION_MAX_AGE thereby shortens the sessions that exist, and no sealed value, however
 * it came to say a later end, lives longer than the setting allows.
 */
export function capSessionLifetime(store: SessionStore, maxAgeMs: number): SessionStore {
  return {
    ...store,
    async load(ticket, nowMs) {
      const session = await store.load(ticket, nowMs)
      if (session === undefined) return undefined
      const latest = session.createdAt + maxAgeMs
      if (session.expiresAt <= latest) return session
      return latest > nowMs ? { ...session, expiresAt: latest } : undefined
    },
  }
}

/**
 * The configured session store; its keys are derived (HKDF, purpose `session`) from SESSION_SECRETS
 * or, without them, from CLIENT_SECRET; sessions end at SESSION_MAX_AGE whatever they say.
 * @throws ConfigError when there is no secret to derive keys from or the Redis address is invalid.
 */
export function createSessionStore(config: SessionStoreConfig, hooks: SessionStoreHooks = {}): SessionStore {
  const ring = deriveKeys(config, 'session')
  const store =
    config.sessionStoreType === 'cookie'
      ? createCookieStore({ ring })
      : createRedisStore({
          ring,
          redis: { ...parseRedisAddress(config.redisAddr), password: config.redisPassword, db: config.redisDb },
          onError: hooks.onRedisError,
        })
  return capSessionLifetime(store, config.sessionMaxAgeSeconds * 1000)
}
