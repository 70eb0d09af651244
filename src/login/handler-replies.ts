/**
 * What the login handlers share: the request they see, the result they return, their options, and
 * the replies they build. Every reply is a CheckReply deny (never a 200: a 200 would let Envoy
 * forward the request upstream) and carries `Cache-Control: no-store` and
 * `Referrer-Policy: no-referrer`; a Location is only ever a configured URL or the original path,
 * never built from `Host` or `X-Forwarded-Host`.
 */
import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import type { AuthServiceErrorCode } from '../errors.js'
import type { CheckReply, HeaderList } from '../authz/reply.js'
import type { IdentityRules } from '../authz/identity.js'
import type { TokenVerifier } from '../oidc/token-verifier.js'
import type { DenyBody } from '../pages/deny-pages.js'
import type { KeyRing } from '../session/keys.js'
import type { SessionStore } from '../session/store.js'
import type { CookieContext } from './cookies.js'
import type { TokenClient } from './token-client.js'

/** What the handlers need to know about the request. */
export interface FlowRequest extends CookieContext {
  readonly method: string
  readonly target: string
  readonly query: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly cookies: Record<string, string | undefined>
}

export interface HandlerResult {
  readonly reply: CheckReply
  readonly outcome: string
  readonly reason: string
  readonly codes?: readonly AuthServiceErrorCode[]
  readonly user?: string
}

export interface ProviderEndpoints {
  authorization(): string | undefined
  endSession(): string | undefined
}

export interface LoginHandlerOptions {
  readonly config: Config
  readonly clock: Clock
  readonly flowRing: KeyRing
  readonly store: SessionStore
  readonly tokens: TokenClient
  readonly verifier: TokenVerifier
  readonly identityRules: IdentityRules
  readonly identityClaims: readonly string[]
  readonly endpoints: ProviderEndpoints
}

const NO_STORE: HeaderList = [
  ['cache-control', 'no-store'],
  ['referrer-policy', 'no-referrer'],
]

const cookieHeaders = (cookies: readonly string[]): Array<[string, string]> => cookies.map((cookie) => ['set-cookie', cookie])

/** A 302 to a configured URL or a safe relative path, setting `cookies`; the body is empty. */
export function redirect(location: string, cookies: readonly string[]): CheckReply {
  return { kind: 'deny', status: 302, headers: [['location', location], ...NO_STORE, ...cookieHeaders(cookies)], body: '' }
}

/** A page (or JSON) with `status`; `extra` headers (Retry-After, WWW-Authenticate) precede the cookies. */
export function pageReply(status: number, body: DenyBody, cookies: readonly string[] = [], extra: HeaderList = []): CheckReply {
  return { kind: 'deny', status, headers: [['content-type', body.contentType], ...NO_STORE, ...extra, ...cookieHeaders(cookies)], body: body.body }
}

/** `params` appended to a configured URL that may already carry a query (an IdP's `?tenant=`). */
export function withQuery(base: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString()
  return `${base}${base.includes('?') ? '&' : '?'}${query}`
}
