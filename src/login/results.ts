/**
 * What the login handlers share: the request they see, their options, and what they return — a
 * LoginResult that says what happened (outcome, reason, codes) and what the user must be answered
 * (a LoginAnswer). They build no HTTP answer themselves: check/respond.ts turns a LoginAnswer into
 * the answer Envoy gets, next to the decisions, so the headers every answer carries are written once.
 */
import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import type { AuthServiceErrorCode } from '../errors.js'
import type { IdentityRules } from '../identity/identity.js'
import type { TokenClient } from '../oidc/token-client.js'
import type { TokenVerifier } from '../oidc/token-verifier.js'
import type { CookieContext } from '../session/cookies.js'
import type { KeyRing } from '../session/keys.js'
import type { SessionStore } from '../session/store.js'

/** What the handlers need to know about the request. */
export interface FlowRequest extends CookieContext {
  readonly method: string
  readonly target: string
  readonly query: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly cookies: Record<string, string | undefined>
}

/**
 * What a login endpoint answers, described rather than rendered. Never an allow: a 200 would let
 * Envoy forward the request upstream. A `location` is only ever a configured URL or a safe
 * relative path, never built from `Host` or `X-Forwarded-Host`.
 */
export type LoginAnswer =
  /** 302 to `location`, setting `cookies`. */
  | { readonly kind: 'redirect'; readonly location: string; readonly cookies: readonly string[] }
  /** A login that could not finish: a readable page with a "log in again" link, never a loop. */
  | { readonly kind: 'login-failed'; readonly status: 400 | 403; readonly message: string; readonly cookies: readonly string[] }
  /** The provider or the session store cannot be reached: the retrying "unavailable" answer. */
  | { readonly kind: 'unavailable'; readonly requestKind: 'api' | 'navigation'; readonly cookies: readonly string[] }
  /** oidc-authservice's logout answer: 201 `{"afterLogoutURL": …}`. */
  | { readonly kind: 'logged-out'; readonly afterLogoutUrl: string; readonly cookies: readonly string[] }
  /** A logout without a session to end. */
  | { readonly kind: 'no-session' }
  /** A sign-out that did not start from a page of this site. */
  | { readonly kind: 'cross-site' }
  /** The after-logout page. */
  | { readonly kind: 'signed-out' }

export interface LoginResult {
  readonly outcome: string
  readonly reason: string
  readonly codes?: readonly AuthServiceErrorCode[]
  readonly user?: string
  readonly answer: LoginAnswer
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

/** `params` appended to a configured URL that may already carry a query (an IdP's `?tenant=`). */
export function withQuery(base: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString()
  return `${base}${base.includes('?') ? '&' : '?'}${query}`
}
