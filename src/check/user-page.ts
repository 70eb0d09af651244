/**
 * The user's own page (`<prefix>me`, `<prefix>userinfo`) and its token endpoint (`POST
 * <prefix>me/token`), answered inside the check once the check has decided. Only an allowed request
 * gets them; anything else is answered as the check would answer it (a login redirect for a
 * navigation, 401 for an API call, 403 for a group not allowed). The answers are 203, never 200: a
 * 200 tells Envoy to forward the request upstream.
 *
 * The token endpoint hands out the ID token the session holds, so it is the one answer a
 * cross-site request must never get (a page elsewhere cannot read the answer, but never let it try):
 * it needs USER_PAGE_API_TOKEN, a request from a page of this site (login/same-origin.ts) and a
 * custom header (X-Requested-With), which no cross-origin page sends without a CORS preflight —
 * and a preflight (an OPTIONS without credentials) is refused by the check.
 */
import type { Config } from '../config/types.js'
import type { Identity } from '../identity/identity.js'
import { fromSameOrigin } from '../login/same-origin.js'
import type { UserView } from '../pages/user-page.js'
import type { Endpoint } from './endpoints.js'
import { prefixPath } from './request.js'

export type UserPageEndpoint = Extract<Endpoint, 'user-page' | 'user-token'>

export type UserPageAnswer =
  | { readonly kind: 'user-info'; readonly format: 'json' | 'html'; readonly view: UserView }
  | { readonly kind: 'user-token'; readonly token: string; readonly expiresAt: number | undefined }
  /** 404: the token endpoint is off, or this sign-in has no ID token to hand out. */
  | { readonly kind: 'no-token'; readonly message: string }
  /** 403: the token was not asked for by a page of this site. */
  | { readonly kind: 'cross-origin' }

export interface UserPageResult {
  readonly outcome: 'user-page' | 'user-page-refused'
  readonly reason: 'USER_INFO' | 'USER_TOKEN' | 'TOKEN_DISABLED' | 'NO_ID_TOKEN' | 'CROSS_ORIGIN'
  readonly user?: string
  readonly userPage: UserPageAnswer
  /** A renewed session cookie to send back. */
  readonly cookies: readonly string[]
}

type Headers = Readonly<Record<string, string | undefined>>

export const isUserPageEndpoint = (which: Endpoint | undefined): which is UserPageEndpoint => which === 'user-page' || which === 'user-token'

export function createUserPage(config: Pick<Config, 'urlPrefix' | 'userPageApiToken'>) {
  const prefix = prefixPath(config.urlPrefix)

  /** What is answered before any credential is looked at: the token endpoint off (404) or asked cross-site (403). */
  function gate(which: UserPageEndpoint, headers: Headers): UserPageResult | undefined {
    if (which !== 'user-token') return undefined
    if (!config.userPageApiToken) {
      return { outcome: 'user-page-refused', reason: 'TOKEN_DISABLED', userPage: { kind: 'no-token', message: 'API tokens are not handed out here.' }, cookies: [] }
    }
    if (headers['x-requested-with'] === undefined || !fromSameOrigin(headers)) {
      return { outcome: 'user-page-refused', reason: 'CROSS_ORIGIN', userPage: { kind: 'cross-origin' }, cookies: [] }
    }
    return undefined
  }

  /** The answer for an allowed request. */
  function answer(which: UserPageEndpoint, identity: Identity, headers: Headers, cookies: readonly string[]): UserPageResult {
    const user = identity.userId
    if (which === 'user-token') {
      if (identity.idToken === undefined) {
        return { outcome: 'user-page-refused', reason: 'NO_ID_TOKEN', user, userPage: { kind: 'no-token', message: 'This sign-in has no ID token to hand out.' }, cookies }
      }
      return { outcome: 'user-page', reason: 'USER_TOKEN', user, userPage: { kind: 'user-token', token: identity.idToken, expiresAt: identity.idTokenExpiresAt }, cookies }
    }
    const view: UserView = {
      user,
      email: identity.email,
      preferredUsername: identity.preferredUsername,
      groups: identity.groups,
      expiresAt: identity.expiresAt,
      prefix,
      apiToken: config.userPageApiToken,
    }
    // A browser asks for HTML; anything else (a script, `Accept: application/json`) gets oauth2-proxy's JSON.
    const format = /\btext\/html\b/i.test(headers.accept ?? '') ? 'html' : 'json'
    return { outcome: 'user-page', reason: 'USER_INFO', user, userPage: { kind: 'user-info', format, view }, cookies }
  }

  return { gate, answer }
}

export type UserPage = ReturnType<typeof createUserPage>
