/**
 * Logout (the Kubeflow UI's POST), sign-out (a browser GET with `?rd=`) and the after-logout page,
 * each producing a CheckReply (never a 200: a 200 would let Envoy forward the request upstream).
 * Ending a session removes it from the store and revokes its refresh token; errors are 4xx, never
 * a 5xx (Envoy's bare 403).
 */
import { SessionStoreUnavailableError } from '../errors.js'
import { afterLogoutBody, crossSiteSignOutBody } from '../pages/login-pages.js'
import { unavailableBody, type DenyBody } from '../pages/deny-pages.js'
import type { Session } from '../session/session.js'
import { pageReply, redirect, withQuery, type FlowRequest, type HandlerResult, type LoginHandlerOptions } from './handler-replies.js'
import { safeRelativeTarget } from './safe-target.js'
import { clearSessionCookies } from './session-cookie.js'
import { sessionTickets } from './session-tickets.js'

export function createLogout(options: LoginHandlerOptions) {
  const { config, clock, store } = options

  /** The session this request carries, as stored, or undefined. */
  async function findSession(request: FlowRequest, allowCookie: boolean): Promise<{ ticket: string; session: Session } | undefined> {
    for (const candidate of sessionTickets(request.headers, request.cookies, config)) {
      if (candidate.from === 'session-cookie' && !allowCookie) continue
      const session = await store.load(candidate.ticket, clock.now())
      if (session) return { ticket: candidate.ticket, session }
    }
    return undefined
  }

  /** With SameSite=None a cross-site POST would carry the cookie: require a same-origin signal (RFC 9700 §4.7 spirit). */
  function sameOrigin(request: FlowRequest): boolean {
    if (config.sessionSameSite !== 'None') return true
    if (request.headers['sec-fetch-site'] === 'same-origin') return true
    const origin = request.headers.origin
    const host = request.headers.host
    if (!origin || !host) return false
    try {
      return new URL(origin).host === host
    } catch {
      return false
    }
  }

  async function endSession(found: { ticket: string; session: Session }): Promise<void> {
    await store.remove(found.ticket)
    if (found.session.refreshToken) await options.tokens.revoke(found.session.refreshToken)
  }

  async function logout(request: FlowRequest): Promise<HandlerResult> {
    let found
    try {
      found = await findSession(request, sameOrigin(request))
      if (found) await endSession(found)
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) throw error
      return { reply: pageReply(401, unavailableBody('api', 5), [], [['retry-after', '5']]), outcome: 'unavailable', reason: 'SESSION_STORE_UNAVAILABLE' }
    }
    if (!found) {
      const body: DenyBody = { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ error: 'unauthenticated', message: 'No session to log out of.' }) }
      return { reply: pageReply(401, body, [], [['www-authenticate', 'Bearer realm="authservice"']]), outcome: 'logout-refused', reason: 'NO_SESSION' }
    }
    // 201, not 200: a 200 would make Envoy forward the request upstream (oidc-authservice server.go).
    const body: DenyBody = { contentType: 'application/json; charset=utf-8', body: JSON.stringify({ afterLogoutURL: config.afterLogoutUrl }) }
    return { reply: pageReply(201, body, clearSessionCookies(config, request, request.cookies)), outcome: 'logout', reason: 'LOGOUT' }
  }

  async function signOut(request: FlowRequest): Promise<HandlerResult> {
    if (request.headers['sec-fetch-site'] === 'cross-site') {
      return { reply: pageReply(403, crossSiteSignOutBody()), outcome: 'logout-refused', reason: 'CROSS_SITE' }
    }
    let found
    try {
      found = await findSession(request, true)
      if (found) await endSession(found)
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) throw error
      return { reply: pageReply(401, unavailableBody('navigation', 5), [], [['retry-after', '5']]), outcome: 'unavailable', reason: 'SESSION_STORE_UNAVAILABLE' }
    }
    const rd = new URLSearchParams(request.query).get('rd') ?? undefined
    const afterLogout = config.afterLogoutUrl
    let location = safeRelativeTarget(rd, afterLogout)
    const endSessionEndpoint = options.endpoints.endSession()
    if (endSessionEndpoint && found) {
      // RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2); the return URL must be absolute and registered.
      const params: Record<string, string> = { id_token_hint: found.session.idToken, client_id: config.clientId }
      if (/^https?:\/\//.test(afterLogout)) params.post_logout_redirect_uri = afterLogout
      location = withQuery(endSessionEndpoint, params)
    }
    return { reply: redirect(location, clearSessionCookies(config, request, request.cookies)), outcome: 'logout', reason: 'SIGN_OUT' }
  }

  function afterLogout(): HandlerResult {
    return { reply: pageReply(401, afterLogoutBody()), outcome: 'after-logout', reason: 'AFTER_LOGOUT' }
  }

  return { logout, signOut, afterLogout }
}
