/**
 * The session cookie on the wire: one cookie `<name>` when the ticket fits, else numbered chunks
 * `<name>.1` … `<name>.n` (n ≤ 8) reassembled in order (the cookie store's sealed session may pass
 * ~4 KB). Writing always clears the form not used, so stale chunks never mix with a new session.
 */
import type { Config } from '../config/types.js'
import { AuthServiceError } from '../errors.js'
import { clearCookie, isSecure, MAX_COOKIE_VALUE, setCookie, type CookieContext } from './cookies.js'

/** Chunks are bounded so a hostile request cannot make us join megabytes of cookies. */
const MAX_CHUNKS = 8

export function readSessionTicket(cookies: Record<string, string | undefined>, name: string): string | undefined {
  const whole = cookies[name]
  if (whole) return whole
  let ticket = ''
  for (let i = 1; i <= MAX_CHUNKS; i++) {
    const chunk = cookies[`${name}.${i}`]
    if (chunk === undefined) break
    ticket += chunk
  }
  return ticket === '' ? undefined : ticket
}

type SessionCookieConfig = Pick<Config, 'sessionCookieName' | 'sessionCookieHttpOnly' | 'sessionSameSite' | 'secureCookies'>

export function writeSessionCookies(
  config: SessionCookieConfig,
  ticket: string,
  maxAgeSeconds: number,
  context: CookieContext,
  present: Record<string, string | undefined>,
): string[] {
  const name = config.sessionCookieName
  const attributes = {
    maxAgeSeconds,
    httpOnly: config.sessionCookieHttpOnly,
    sameSite: config.sessionSameSite,
    secure: isSecure(config, context),
  }
  const chunks: string[] = []
  for (let i = 0; i < ticket.length; i += MAX_COOKIE_VALUE) chunks.push(ticket.slice(i, i + MAX_COOKIE_VALUE))
  // Never write a chunk the reader would ignore: that session could not be read back (a login loop).
  if (chunks.length > MAX_CHUNKS) throw new AuthServiceError('ERR_SESSION_TOO_LARGE', 'session too large for cookies')
  const headers: string[] = []
  if (chunks.length === 1) headers.push(setCookie(name, ticket, attributes))
  else {
    if (present[name] !== undefined) headers.push(clearCookie(name, attributes.secure))
    chunks.forEach((chunk, i) => headers.push(setCookie(`${name}.${i + 1}`, chunk, attributes)))
  }
  // Clear chunks left over from a longer, older ticket.
  for (let i = chunks.length === 1 ? 1 : chunks.length + 1; i <= MAX_CHUNKS; i++) {
    if (present[`${name}.${i}`] !== undefined) headers.push(clearCookie(`${name}.${i}`, attributes.secure))
  }
  return headers
}

export function clearSessionCookies(
  config: SessionCookieConfig,
  context: CookieContext,
  present: Record<string, string | undefined>,
): string[] {
  const secure = isSecure(config, context)
  const name = config.sessionCookieName
  const names = [name, ...Array.from({ length: MAX_CHUNKS }, (_, i) => `${name}.${i + 1}`)]
  // Always clear the main cookie (the dashboard may hold it); chunks only when present.
  return names.filter((cookie, i) => i === 0 || present[cookie] !== undefined).map((cookie) => clearCookie(cookie, secure))
}
