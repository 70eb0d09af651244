/** The session store named by SESSION_STORE_TYPE, with its keys and Redis connection from the config. */
import type { Config } from '../config/types.js'
import type { Sha256 } from '../digest.js'
import { createCookieStore } from './cookie-store.js'
import { deriveKeys } from './keys.js'
import { redisConnectionOptions, type RedisConfig } from './redis-address.js'
import type { RedisStoreOptions } from './redis-store.js'
import type { SessionStore } from './store.js'

export type SessionStoreConfig = Pick<Config, 'sessionStoreType' | 'sessionSecrets' | 'clientSecret' | 'sessionMaxAgeSeconds'> & RedisConfig

export interface SessionStoreHooks {
  /** Told about Redis connection errors (redis store only), e.g. to log them. */
  readonly onRedisError?: (error: Error) => void
  /** Told about every Redis command that failed (redis store only), e.g. to count it. */
  readonly onRedisCommandError?: () => void
}

export interface SessionStoreOptions extends SessionStoreHooks {
  /** The SHA-256 the cookie store keys its opened sessions by; the service shares one with the decision line's fingerprint, so a cookie is hashed once per check. */
  readonly digest?: Sha256
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
 * The redis store, loaded when first created: its module and ioredis are ~45 ms of every start
 * (npm run bench -- --only=startup) that a cookie-store deployment never needs. It connects as soon
 * as the module is in, a few milliseconds into startup; a call made before waits for it.
 */
function redisStoreLoadedLazily(options: RedisStoreOptions): SessionStore {
  const loading = import('./redis-store.js').then(({ createRedisStore }) => createRedisStore(options))
  return {
    kind: 'redis',
    save: async (session, nowMs) => (await loading).save(session, nowMs),
    load: async (ticket, nowMs) => (await loading).load(ticket, nowMs),
    remove: async (ticket) => (await loading).remove(ticket),
    async exclusive(sessionId, work) {
      return (await loading).exclusive(sessionId, work)
    },
    close: async () => (await loading).close(),
  }
}

/**
 * The configured session store; its keys are derived (HKDF, purpose `session`) from SESSION_SECRETS
 * or, without them, from CLIENT_SECRET; sessions end at SESSION_MAX_AGE whatever they say.
 * @throws ConfigError when there is no secret to derive keys from or a Redis address is invalid.
 */
export function createSessionStore(config: SessionStoreConfig, options: SessionStoreOptions = {}): SessionStore {
  const ring = deriveKeys(config, 'session')
  const store =
    config.sessionStoreType === 'cookie'
      ? createCookieStore({ ring, digest: options.digest })
      : redisStoreLoadedLazily({
          ring,
          redis: redisConnectionOptions(config),
          onError: options.onRedisError,
          onCommandError: options.onRedisCommandError,
        })
  return capSessionLifetime(store, config.sessionMaxAgeSeconds * 1000)
}
