/**
 * Set-Cookie values for the session and login-flow cookies, and reading them back. Cookie
 * attributes follow the config: HttpOnly (SESSION_COOKIE_HTTPONLY), SameSite (SESSION_SAME_SITE;
 * flow cookies are always Lax so the IdP's top-level redirect back carries them), Secure per
 * SECURE_COOKIES (`auto`: when Envoy says the request came over https).
 */
import { parseCookie, stringifySetCookie } from 'cookie'
import type { Config } from '../config/types.js'

export interface CookieContext {
  /** The scheme the client used (Envoy's x-forwarded-proto, or gRPC's scheme). */
  readonly scheme: string | undefined
}

/** A browser accepts ~4096 bytes per cookie; keep name, value and attributes under it. */
export const MAX_COOKIE_VALUE = 3800

export function isSecure(config: Pick<Config, 'secureCookies'>, context: CookieContext): boolean {
  return config.secureCookies === 'true' || (config.secureCookies === 'auto' && context.scheme === 'https')
}

/** A DQUOTE-wrapped cookie value stands for what is inside the quotes (RFC 6265 §4.1.1 cookie-value). */
function unquoted(value: string): string {
  return value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22 ? value.slice(1, -1) : value
}

/** Percent-decoding as the cookie package does it, kept only where a `%` is present. */
function decodeValue(value: string): string {
  const inner = unquoted(value)
  if (!inner.includes('%')) return inner
  try {
    return decodeURIComponent(inner)
  } catch {
    return inner
  }
}

/**
 * The one parser of the Cookie header for a whole request (RFC 6265 §5.4): every credential source,
 * the login flow and logout read the same parsed object. Names are case-sensitive; the first of two
 * same-named cookies wins.
 */
export function parseCookies(header: string | undefined): Record<string, string | undefined> {
  return header === undefined ? {} : parseCookie(header, { decode: decodeValue })
}

export interface CookieAttributes {
  readonly maxAgeSeconds: number
  readonly httpOnly: boolean
  readonly sameSite: 'Lax' | 'Strict' | 'None'
  readonly secure: boolean
}

export function setCookie(name: string, value: string, attributes: CookieAttributes): string {
  return stringifySetCookie({
    name,
    value,
    path: '/',
    maxAge: attributes.maxAgeSeconds,
    httpOnly: attributes.httpOnly,
    sameSite: attributes.sameSite.toLowerCase() as 'lax' | 'strict' | 'none',
    secure: attributes.secure,
  })
}

export function clearCookie(name: string, secure: boolean): string {
  return stringifySetCookie({ name, value: '', path: '/', maxAge: 0, expires: new Date(0), httpOnly: true, sameSite: 'lax', secure })
}
