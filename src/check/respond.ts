/**
 * The one place a verdict becomes an answer for Envoy, independent of the transport: a decision
 * of the check (check/decision.ts) or the result of one of the service's own endpoints
 * (login/results.ts) becomes a CheckReply, which http/check-route.ts and grpc/check-response.ts
 * only translate onto the wire.
 *
 * Envoy contract (envoy-ext-authz.md §1.2): exactly 200 allows and our allow-listed headers
 * overwrite the client's; any other non-5xx status is a deny whose status, body and allow-listed
 * headers reach the client. Never a 5xx: Envoy would turn it into an empty 403. Every deny is
 * `Cache-Control: no-store` and `Referrer-Policy: no-referrer`, and every page or JSON body carries
 * a Content-Security-Policy (pages/html.ts: nothing loads from elsewhere, never framed). The user
 * page answers 203 (RFC 9110 §15.3.4): a success for the browser, a deny for Envoy.
 */
import { identityHeaderNames, identityHeaderTable, type IdentityHeaderSettings } from '../identity/headers.js'
import type { LoginAnswer, LoginResult } from '../login/results.js'
import { forbiddenBody, jsonBody, unauthenticatedBody, unavailableBody, type DenyBody } from '../pages/deny-pages.js'
import { contentSecurityPolicy } from '../pages/html.js'
import { afterLogoutBody, crossSiteSignOutBody, loginFailedBody } from '../pages/login-pages.js'
import { userInfoBody, userPageBody, userTokenBody } from '../pages/user-page.js'
import type { Decision } from './decision.js'
import type { UserPageAnswer, UserPageResult } from './user-page.js'

export type HeaderList = ReadonlyArray<readonly [string, string]>

export type CheckReply =
  | {
      readonly kind: 'allow'
      /** Set on the upstream request (overwriting client values). */
      readonly upstreamHeaders: HeaderList
      /** Removed from the upstream request; never a header `upstreamHeaders` sets (Envoy removes after it adds). */
      readonly removeHeaders: readonly string[]
      /** Added to the client's response (a refreshed session cookie). */
      readonly responseHeaders: HeaderList
    }
  | { readonly kind: 'deny'; readonly status: number; readonly headers: HeaderList; readonly body: string }

/** What the check answers: a decision, or what one of the service's own endpoints did. */
export type Verdict = Decision | LoginResult | UserPageResult

export interface ReplyOptions extends IdentityHeaderSettings {
  readonly retryAfterSeconds: number
}

/** Set-Cookie values to add to an allow (a renewed session cookie). */
export interface ReplyExtras {
  readonly setCookies?: readonly string[]
}

const NO_STORE: HeaderList = [
  ['cache-control', 'no-store'],
  ['referrer-policy', 'no-referrer'],
]

const BEARER_CHALLENGE = ['www-authenticate', 'Bearer realm="authservice"'] as const
const INVALID_TOKEN_CHALLENGE = ['www-authenticate', 'Bearer realm="authservice", error="invalid_token"'] as const

const DEFAULT_POLICY = contentSecurityPolicy()

/** 203 Non-Authoritative Information: the user page's success, which Envoy does not forward. */
const USER_PAGE_STATUS = 203

const cookieHeaders = (cookies: readonly string[]): Array<[string, string]> => cookies.map((cookie) => ['set-cookie', cookie])

/** A 302 to a configured URL or a safe relative path, setting `cookies`; the body is empty. */
export function redirect(location: string, cookies: readonly string[]): CheckReply {
  return { kind: 'deny', status: 302, headers: [['location', location], ...NO_STORE, ...cookieHeaders(cookies)], body: '' }
}

/** A page (or JSON) with `status`; `extra` headers (Retry-After, WWW-Authenticate) precede the cookies. */
export function pageReply(status: number, body: DenyBody, cookies: readonly string[] = [], extra: HeaderList = []): CheckReply {
  const policy: [string, string] = ['content-security-policy', body.contentSecurityPolicy ?? DEFAULT_POLICY]
  return { kind: 'deny', status, headers: [['content-type', body.contentType], ...NO_STORE, policy, ...extra, ...cookieHeaders(cookies)], body: body.body }
}

/**
 * What a check that failed inside authservice answers (a bug, not a decision), in both transports:
 * a 401, never a 5xx (Envoy's bare 403) and never an allow.
 */
export const CHECK_FAILED_REPLY: CheckReply = pageReply(401, jsonBody({ error: 'unauthenticated', message: 'The request could not be checked.' }), [], [BEARER_CHALLENGE])

/** A 401 (no credential, or one refused) for an API call or a navigation. */
const unauthenticatedReply = (kind: 'api' | 'navigation', rejected: boolean): CheckReply =>
  pageReply(401, unauthenticatedBody(kind, rejected), [], [rejected ? INVALID_TOKEN_CHALLENGE : BEARER_CHALLENGE])
/** The same four answers for every request, built once: junk pays for no reply of its own (issue #17). */
const UNAUTHENTICATED_REPLIES = {
  api: { rejected: unauthenticatedReply('api', true), missing: unauthenticatedReply('api', false) },
  navigation: { rejected: unauthenticatedReply('navigation', true), missing: unauthenticatedReply('navigation', false) },
} as const

export function createResponder(options: ReplyOptions): (verdict: Verdict, extras?: ReplyExtras) => CheckReply {
  const rows = identityHeaderTable(options)
  const skipReply: CheckReply = { kind: 'allow', upstreamHeaders: [], removeHeaders: identityHeaderNames(rows), responseHeaders: [] }
  const retryAfter = ['retry-after', String(options.retryAfterSeconds)] as const

  function unavailable(kind: 'api' | 'navigation', cookies: readonly string[], extra: HeaderList = []): CheckReply {
    return pageReply(401, unavailableBody(kind, options.retryAfterSeconds), cookies, [retryAfter, ...extra])
  }

  function answerLogin(answer: LoginAnswer): CheckReply {
    switch (answer.kind) {
      case 'redirect':
        return redirect(answer.location, answer.cookies)
      case 'login-failed':
        return pageReply(answer.status, loginFailedBody(answer.message), answer.cookies)
      case 'unavailable':
        return unavailable(answer.requestKind, answer.cookies)
      case 'logged-out':
        // 201, not 200: a 200 would make Envoy forward the request upstream (oidc-authservice server.go).
        return pageReply(201, jsonBody({ afterLogoutURL: answer.afterLogoutUrl }), answer.cookies)
      case 'no-session':
        return pageReply(401, jsonBody({ error: 'unauthenticated', message: 'No session to log out of.' }), [], [BEARER_CHALLENGE])
      case 'cross-site':
        return pageReply(403, crossSiteSignOutBody())
      case 'signed-out':
        return pageReply(401, afterLogoutBody())
    }
  }

  function answerUserPage(answer: UserPageAnswer, cookies: readonly string[]): CheckReply {
    switch (answer.kind) {
      case 'user-info':
        return pageReply(USER_PAGE_STATUS, answer.format === 'html' ? userPageBody(answer.view) : userInfoBody(answer.view), cookies)
      case 'user-token':
        return pageReply(USER_PAGE_STATUS, userTokenBody(answer.token, answer.expiresAt), cookies)
      case 'no-token':
        return pageReply(404, jsonBody({ error: 'not_found', message: answer.message }), cookies)
      case 'cross-origin':
        return pageReply(403, jsonBody({ error: 'forbidden', message: 'The token is only handed to a page of this site.' }))
    }
  }

  return (verdict, extras) => {
    if ('answer' in verdict) return answerLogin(verdict.answer)
    if ('userPage' in verdict) return answerUserPage(verdict.userPage, verdict.cookies)
    switch (verdict.outcome) {
      case 'skip':
        // No identity: make sure a client-sent identity header cannot reach the upstream.
        return skipReply
      case 'allow': {
        const { identity } = verdict
        const upstreamHeaders: Array<[string, string]> = []
        const removeHeaders: string[] = []
        for (const row of rows) {
          const value = row.value(identity)
          if (value !== undefined) upstreamHeaders.push([row.header, value])
          else if (row.absent === 'remove') removeHeaders.push(row.header)
        }
        const responseHeaders = extras?.setCookies ? cookieHeaders(extras.setCookies) : []
        return { kind: 'allow', upstreamHeaders, removeHeaders, responseHeaders }
      }
      case 'forbidden':
        return pageReply(403, forbiddenBody(verdict.kind, verdict.identity.userId, verdict.reason))
      case 'unavailable':
        return unavailable(verdict.kind, [], [BEARER_CHALLENGE])
      case 'login': // the login handler answers these; without one, a sign-in page
      case 'unauthenticated':
        return UNAUTHENTICATED_REPLIES[verdict.kind][verdict.reason === 'CREDENTIAL_REJECTED' ? 'rejected' : 'missing']
    }
  }
}
