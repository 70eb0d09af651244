/**
 * Reading bearer credentials, and the one rule that keeps a credential from being tried twice:
 * a value in the session header (AUTH_HEADER) that is not a JWS is a session ticket and belongs to
 * the session-header source; every other bearer value is a JWT for the JWT sources. A JWS has three
 * dot-separated parts (RFC 7515 §7.1); a sealed cookie-store session has five and a redis ticket
 * one, so the shape decides without decoding anything. A JWS in `Authorization` whose unverified
 * `iss` is a Kubernetes service-account issuer belongs to the Kubernetes source alone (decoded here
 * cheaply, shape first: no signature, no call), so it is reviewed once and never by the JWT sources.
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

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** Longer than any header Envoy passes by default (60 KiB); never decoded. */
const MAX_DECODED = 65_536

/** The unverified `iss` of a compact JWS, or undefined when `value` is not shaped like one. */
export function unverifiedIssuer(value: string): string | undefined {
  if (value.length > MAX_DECODED || !COMPACT_JWS.test(value)) return undefined
  try {
    const payload: unknown = JSON.parse(Buffer.from(value.split('.', 2)[1] as string, 'base64url').toString('utf8'))
    const iss = (payload as { iss?: unknown } | null)?.iss
    return typeof iss === 'string' ? iss : undefined
  } catch {
    return undefined
  }
}

/** True when the Kubernetes source owns this bearer value: a JWS from one of `issuers`. */
export function ownedByKubernetes(value: string, issuers: ReadonlySet<string>): boolean {
  if (issuers.size === 0) return false
  const iss = unverifiedIssuer(value)
  return iss !== undefined && issuers.has(iss)
}
