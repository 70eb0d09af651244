/**
 * The cookie session store: the whole session, sealed (JWE dir + A256GCM), is the ticket.
 *
 * Nothing is kept server-side, so `remove` cannot end a session: a stolen cookie of this store
 * stays valid until the session's absolute `expiresAt` (SESSION_MAX_AGE), even after logout — the
 * browser forgets it, the thief does not. When revocation matters, use the redis store, whose
 * `remove` ends the session for every copy of the cookie (OWASP Session Management, "Manual Session
 * Expiration").
 *
 * A ticket is immutable, so opening one is a pure function of the ticket and the key ring: the
 * sessions opened last are kept (least recently used, by a SHA-256 of the ticket, never the ticket
 * itself) and a repeated cookie skips the decryption (≈50 µs), as a repeated bearer token skips its
 * signature check. Expiry is still checked on every load; only valid tickets are kept.
 */
import { LRUCache } from 'lru-cache'
import { sha256, type Sha256 } from '../digest.js'
import type { KeyRing } from './keys.js'
import { seal, unseal } from './seal.js'
import type { Session, SessionClaims } from './session.js'
import type { SessionStore } from './store.js'

export interface CookieStoreOptions {
  /** The `session` key ring (keys.ts `deriveKeys(…, 'session')`). */
  readonly ring: KeyRing
  /** How many opened sessions to keep (default 1,000: a few MB, the active users of a replica). */
  readonly cacheEntries?: number
  /** The SHA-256 the opened sessions are kept by (the service shares one with the decision line's fingerprint, digest.ts). */
  readonly digest?: Sha256
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/**
 * `value` as a Session when it has a session's shape, else undefined. Rebuilds the object field by
 * field, so unknown top-level fields are dropped and a missing `refreshToken` (JSON drops
 * `undefined`) comes back as `undefined`.
 */
export function parseSession(value: unknown): Session | undefined {
  if (!isObject(value)) return undefined
  const { id, claims, idToken, refreshToken, idTokenExpiresAt, createdAt, expiresAt } = value
  if (
    typeof id !== 'string' ||
    !isObject(claims) ||
    typeof claims.iss !== 'string' ||
    typeof claims.sub !== 'string' ||
    typeof idToken !== 'string' ||
    !(refreshToken === undefined || typeof refreshToken === 'string') ||
    !isTime(idTokenExpiresAt) ||
    !isTime(createdAt) ||
    !isTime(expiresAt)
  ) {
    return undefined
  }
  return { id, claims: claims as SessionClaims, idToken, refreshToken, idTokenExpiresAt, createdAt, expiresAt }
}

/** Sessions sealed into the cookie itself; see the module comment for what `remove` cannot do. */
export function createCookieStore(options: CookieStoreOptions): SessionStore {
  const { ring } = options
  const digest = options.digest ?? sha256
  // Session ids with work in flight in this process (single-flight; other replicas are not seen).
  const inFlight = new Set<string>()
  const opened = new LRUCache<string, Session>({ max: options.cacheEntries ?? 1_000 })

  return {
    kind: 'cookie',

    save(session) {
      return seal(session, ring)
    },

    async load(ticket, nowMs) {
      const key = digest(ticket)
      let session = opened.get(key)
      if (session === undefined) {
        session = parseSession(await unseal(ticket, ring))
        if (session === undefined) return undefined
        opened.set(key, session)
      }
      if (session.expiresAt > nowMs) return session
      opened.delete(key)
      return undefined
    },

    // Nothing server-side to end: the caller clears the cookie, and the sealed value stays valid
    // until it expires.
    async remove() {},

    async exclusive(sessionId, work) {
      if (inFlight.has(sessionId)) return undefined
      inFlight.add(sessionId)
      try {
        return await work()
      } finally {
        inFlight.delete(sessionId)
      }
    },

    async close() {},
  }
}
