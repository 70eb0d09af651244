/**
 * The one place a Decision becomes an answer for Envoy, independent of the transport: the HTTP
 * check (http/check-route.ts) and, later, gRPC both translate this CheckReply.
 *
 * Envoy contract (envoy-ext-authz.md §1.2): exactly 200 allows and our allow-listed headers
 * overwrite the client's; any other non-5xx status is a deny whose status, body and allow-listed
 * headers reach the client. Never a 5xx: Envoy would turn it into an empty 403.
 */
import type { Decision } from './decision.js'
import { forbiddenBody, unauthenticatedBody, unavailableBody, type DenyBody } from '../pages/deny-pages.js'

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

export interface ReplyOptions {
  readonly userIdHeader: string
  readonly groupsHeader: string
  readonly setAuthorizationHeader: boolean
  readonly retryAfterSeconds: number
}

const NO_STORE: HeaderList = [
  ['cache-control', 'no-store'],
  ['referrer-policy', 'no-referrer'],
]

function deny(status: number, body: DenyBody, extra: HeaderList = []): CheckReply {
  return { kind: 'deny', status, headers: [['content-type', body.contentType], ...NO_STORE, ...extra], body: body.body }
}

/** Set-Cookie values to add to an allow (a renewed session cookie). */
export interface ReplyExtras {
  readonly setCookies?: readonly string[]
}

export function createReplyBuilder(options: ReplyOptions): (decision: Decision, extras?: ReplyExtras) => CheckReply {
  const identityHeaders = [options.userIdHeader, options.groupsHeader]
  const skipReply: CheckReply = { kind: 'allow', upstreamHeaders: [], removeHeaders: identityHeaders, responseHeaders: [] }
  const bearerChallenge = ['www-authenticate', 'Bearer realm="authservice"'] as const
  const invalidTokenChallenge = ['www-authenticate', 'Bearer realm="authservice", error="invalid_token"'] as const

  return (decision, extras) => {
    switch (decision.outcome) {
      case 'skip':
        // No identity: make sure a client-sent identity header cannot reach the upstream.
        return skipReply
      case 'allow': {
        const { identity } = decision
        const upstreamHeaders: Array<[string, string]> = [[options.userIdHeader, identity.userId]]
        const removeHeaders: string[] = []
        // An empty header value may be dropped on the way; remove the client's instead.
        if (identity.groups.length > 0) upstreamHeaders.push([options.groupsHeader, identity.groups.join(',')])
        else removeHeaders.push(options.groupsHeader)
        if (options.setAuthorizationHeader && identity.idToken !== undefined) {
          upstreamHeaders.push(['authorization', `Bearer ${identity.idToken}`])
        }
        const responseHeaders = (extras?.setCookies ?? []).map((cookie) => ['set-cookie', cookie] as const)
        return { kind: 'allow', upstreamHeaders, removeHeaders, responseHeaders }
      }
      case 'forbidden':
        return deny(403, forbiddenBody(decision.kind, decision.identity.userId, decision.reason))
      case 'unavailable':
        return deny(401, unavailableBody(decision.kind, options.retryAfterSeconds), [
          ['retry-after', String(options.retryAfterSeconds)],
          bearerChallenge,
        ])
      case 'login': // the login handler answers these; without one, a sign-in page
      case 'unauthenticated': {
        const rejected = decision.reason === 'CREDENTIAL_REJECTED'
        return deny(401, unauthenticatedBody(decision.kind, rejected), [rejected ? invalidTokenChallenge : bearerChallenge])
      }
    }
  }
}
