/**
 * The redis session store: the ticket is the session's 256-bit random id; Redis holds the session
 * sealed (JWE, so a Redis dump reveals no token) under `<prefix>session:<SHA-256(id), hex>` (the id
 * itself is never a key), with a TTL that ends at the session's absolute `expiresAt`. `remove` ends
 * the session for every copy of the cookie, which the cookie store cannot do. Every command names
 * one key, so the same store runs on one server, behind Sentinel, or on a Cluster
 * (redis-connection.ts builds the client).
 *
 * Redis being down must fail closed and fast, never hang a check: the client has no offline queue
 * and 1 s timeouts, a call waits at most 0.5 s for a connection that is being made, and the client
 * reconnects in the background so the store recovers by itself. Every Redis failure surfaces as
 * SessionStoreUnavailableError.
 */
import { createHash, randomBytes } from 'node:crypto'
import { SessionStoreUnavailableError } from '../errors.js'
import { parseSession } from './cookie-store.js'
import type { KeyRing } from './keys.js'
import type { RedisConnectionOptions } from './redis-address.js'
import { createRedisClient } from './redis-connection.js'
import { seal, unseal } from './seal.js'
import type { SessionStore } from './store.js'

export interface RedisStoreOptions {
  /** The `session` key ring (keys.ts `deriveKeys(…, 'session')`): values are sealed at rest. */
  readonly ring: KeyRing
  /** One server (`host`, `port`), Sentinels or Cluster nodes, with credentials, database and TLS. */
  readonly redis: RedisConnectionOptions
  /** Prefix of every key this store writes; default `authservice:`. */
  readonly keyPrefix?: string
  /** Told about every connection error (one per failed reconnect while Redis is down), e.g. to log it. */
  readonly onError?: (error: Error) => void
  /** Told about every command that failed (down, timeout, error reply): a check or login went without its session. */
  readonly onCommandError?: () => void
}

/** A redis ticket: 32 random bytes, base64url without padding. Checked before any I/O. */
const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/
const LOCK_TTL_MS = 10_000
/** How long a call waits for a connection attempt in progress (startup, reconnect) to become ready. */
const READY_WAIT_MS = 500
/** Deletes the lock only if it still holds our token: a lock that expired and was taken by another replica stays. */
const RELEASE_LOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * Sessions in Redis, sealed at rest. The ticket is `session.id` (32 random bytes, base64url).
 * Connects at once and keeps reconnecting in the background; `close()` disconnects.
 */
export function createRedisStore(options: RedisStoreOptions): SessionStore {
  const { ring, keyPrefix = 'authservice:', onError } = options
  const redis = createRedisClient(options.redis, onError)

  let pendingReady: Promise<void> | undefined
  /** Resolves once the connection is ready; rejects at once unless a connection attempt is in progress. */
  function whenReady(): Promise<void> | undefined {
    if (redis.status === 'ready') return undefined
    if (redis.status !== 'connecting' && redis.status !== 'connect') {
      return Promise.reject(new Error(`redis connection is ${redis.status}`))
    }
    pendingReady ??= new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer)
        redis.off('ready', settle)
        redis.off('close', onClose)
        pendingReady = undefined
        if (error) reject(error)
        else resolve()
      }
      const onClose = () => settle(new Error('redis connection closed'))
      const timer = setTimeout(() => settle(new Error('redis connection not ready in time')), READY_WAIT_MS)
      redis.once('ready', settle)
      redis.once('close', onClose)
    })
    return pendingReady
  }

  /** Runs one Redis command, turning every failure (down, timeout, error reply) into unavailability. */
  async function call<T>(command: () => Promise<T>): Promise<T> {
    try {
      await whenReady()
      return await command()
    } catch (error) {
      options.onCommandError?.()
      throw new SessionStoreUnavailableError(undefined, { cause: error })
    }
  }

  const sessionKey = (id: string) => `${keyPrefix}session:${sha256(id)}`

  return {
    kind: 'redis',

    /**
     * Stores `session` under its id until `expiresAt` (a later save of the same id overwrites it and
     * keeps that absolute end); an already expired session is deleted instead.
     * @throws TypeError when `session.id` is not 32 random bytes in base64url.
     * @throws RangeError when the sealed session is larger than seal.ts MAX_SEALED_LENGTH.
     * @throws SessionStoreUnavailableError when Redis cannot be reached.
     */
    async save(session, nowMs) {
      if (!TICKET_SHAPE.test(session.id)) throw new TypeError('session id must be 32 random bytes, base64url')
      const key = sessionKey(session.id)
      const ttlMs = Math.floor(session.expiresAt - nowMs)
      const value = await seal(session, ring)
      await call<unknown>(() => (ttlMs > 0 ? redis.set(key, value, 'PX', ttlMs) : redis.del(key)))
      return session.id
    },

    async load(ticket, nowMs) {
      if (!TICKET_SHAPE.test(ticket)) return undefined
      const value = await call(() => redis.get(sessionKey(ticket)))
      if (value === null) return undefined
      const session = parseSession(await unseal(value, ring))
      // The id check stops a value copied under another key (by someone who can write to Redis)
      // from being loaded with that key's ticket.
      return session !== undefined && session.id === ticket && session.expiresAt > nowMs ? session : undefined
    },

    /** @throws SessionStoreUnavailableError when Redis cannot be reached (the session was not ended). */
    async remove(ticket) {
      if (!TICKET_SHAPE.test(ticket)) return
      await call(() => redis.del(sessionKey(ticket)))
    },

    /**
     * `SET <prefix>lock:<SHA-256(id)> <random> NX PX 10000` shared by every replica; the work should
     * take well under 10 s (a token refresh), after which the lock lapses by itself.
     * @throws SessionStoreUnavailableError when Redis cannot be reached to take the lock.
     */
    async exclusive(sessionId, work) {
      const key = `${keyPrefix}lock:${sha256(sessionId)}`
      const token = randomBytes(16).toString('base64url')
      const taken = await call(() => redis.set(key, token, 'PX', LOCK_TTL_MS, 'NX'))
      if (taken === null) return undefined
      try {
        return await work()
      } finally {
        // A failed release is harmless: the lock expires by itself within LOCK_TTL_MS.
        await redis.eval(RELEASE_LOCK, 1, key, token).catch(() => undefined)
      }
    },

    async close() {
      try {
        await redis.quit()
      } catch {
        // Not connected (Redis down): drop the connection and stop reconnecting.
        redis.disconnect()
      }
    },
  }
}
