/**
 * Reading bearer credentials, and the one rule that keeps a credential from being tried twice:
 * a value in the session header (AUTH_HEADER) that is not a JWS is a session ticket and belongs to
 * the session-header source; every other bearer value is a JWT for the JWT sources. A JWS has three
 * dot-separated parts (RFC 7515 §7.1); a sealed cookie-store session has five and a redis ticket
 * one, so the shape decides without decoding anything.
 */
import { headerTicket } from '../session/tickets.js'

/** The credential of `Bearer <credential>` (scheme case-insensitive, RFC 7235 §2.1), or undefined for another scheme. */
export function bearerCredential(value: string | undefined): string | undefined {
  if (value === undefined || value.length < 7) return undefined
  if (value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  const credential = value.slice(7).trim()
  return credential === '' ? undefined : credential
}

/** True when the session-header source owns `value` of header `name`: then no JWT source tries it. */
export function ownedBySessionHeader(name: string, value: string | undefined, sessionHeader: string): boolean {
  return name === sessionHeader && headerTicket(value) !== undefined
}
