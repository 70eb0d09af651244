/**
 * The cookie session store: the whole session, sealed (JWE dir + A256GCM), is the ticket.
 *
 * Nothing is kept server-side, so `remove` cannot end a session: a stolen cookie of this store
 * stays valid until the session's absolute `expiresAt` (SESSION_MAX_AGE), even after logout — the
 * browser forgets it, the thief does not. When revocation matters, use the redis store, whose
 * `remove` ends the session for every copy of the cookie (OWASP Session Management, "Manual Session
 * Expiration").
 */
import type { KeyRing } from './keys.js'
import { seal, unseal } from './seal.js'
import type { Session, SessionClaims } from './session.js'
import type { SessionStore } from './store.js'

export interface CookieStoreOptions {
  /** The `session` key ring (keys.ts `deriveKeys(…, 'session')`). */
  readonly ring: KeyRing
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
  // Session ids with work in flight in this process (single-flight; other replicas are not seen).
  const inFlight = new Set<string>()

  return {
    kind: 'cookie',

    save(session) {
      return seal(session, ring)
    },

    async load(ticket, nowMs) {
      const session = parseSession(await unseal(ticket, ring))
      return session !== undefined && session.expiresAt > nowMs ? session : undefined
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
