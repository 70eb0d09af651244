/**
 * Where a request carries a session: `AUTH_HEADER` (default `Authorization`, with `Bearer ` or
 * bare — oidc-authservice clients and the Kubeflow Pipelines SDK send the cookie value that way)
 * and the session cookie (reassembled from chunks). A JWT-shaped value is a bearer token, not a
 * session, and is left to the JWT verifier.
 */
import type { Config } from '../config/types.js'
import { readSessionTicket } from './session-cookie.js'

export interface TicketCandidate {
  readonly from: 'session-header' | 'session-cookie'
  readonly ticket: string
}

/**
 * Three dot-separated parts: a JWS in compact serialization (RFC 7515 §7.1). A sealed cookie-store
 * session has five parts (a JWE) and a redis ticket one, so counting the dots tells them apart; the
 * JWT verifier checks the parts' alphabet itself. A regex over the whole value did the same at
 * ~0.65 µs per 1 KB token, on every bearer check.
 */
function isJwsShaped(value: string): boolean {
  const first = value.indexOf('.')
  if (first === -1) return false
  const second = value.indexOf('.', first + 1)
  return second !== -1 && value.indexOf('.', second + 1) === -1
}

export function headerTicket(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  const bearer = /^bearer(?:\s+|$)/i.exec(trimmed)
  const ticket = bearer ? trimmed.slice(bearer[0].length) : trimmed
  return ticket === '' || isJwsShaped(ticket) || ticket.includes(' ') ? undefined : ticket
}

export function sessionTickets(
  headers: Readonly<Record<string, string | undefined>>,
  cookies: Record<string, string | undefined>,
  config: Pick<Config, 'authHeader' | 'sessionCookieName'>,
): TicketCandidate[] {
  const candidates: TicketCandidate[] = []
  const fromHeader = headerTicket(headers[config.authHeader])
  if (fromHeader !== undefined) candidates.push({ from: 'session-header', ticket: fromHeader })
  const fromCookie = readSessionTicket(cookies, config.sessionCookieName)
  if (fromCookie !== undefined && fromCookie !== fromHeader) candidates.push({ from: 'session-cookie', ticket: fromCookie })
  return candidates
}
