/**
 * Where sessions live. One narrow interface (oauth2-proxy's SessionStore) with one contract test
 * suite (test/contracts/session-store.ts) run against every implementation:
 * - `cookie`: the whole session, encrypted and authenticated (JWE dir + A256GCM), in the cookie;
 * - `redis`: the cookie carries only a 256-bit random id; the session is stored encrypted with a TTL.
 *
 * The "ticket" is the string the browser carries: the session cookie's value (reassembled from
 * chunks by the caller) or the value of `Authorization: Bearer`.
 */
import type { Session } from './session.js'

export interface SessionStore {
  readonly kind: 'cookie' | 'redis'
  /**
   * The ticket that represents `session` from now on. The cookie store returns a new ticket on
   * every save (the session itself is the value); the redis store returns the same id-based ticket.
   * @throws SessionStoreUnavailableError (ERR_SESSION_STORE_UNAVAILABLE) when the backend is down.
   */
  save(session: Session, nowMs: number): Promise<string>
  /**
   * The live session for a ticket, or undefined when the ticket is unknown, tampered with,
   * undecryptable, or the session has expired (`expiresAt <= nowMs`).
   * @throws SessionStoreUnavailableError when the backend is down (never for a bad ticket).
   */
  load(ticket: string, nowMs: number): Promise<Session | undefined>
  /** Ends the session server-side (redis); a no-op for the cookie store. */
  remove(ticket: string): Promise<void>
  /**
   * Runs `work` for a session at most once at a time across every replica that shares the store
   * (redis: a short SET NX PX lock; cookie: within this process only). Resolves to undefined when
   * another holder has the lock (the caller then uses the session as it is).
   */
  exclusive<T>(sessionId: string, work: () => Promise<T>): Promise<T | undefined>
  close(): Promise<void>
}
