/**
 * Logout (the Kubeflow UI's POST), sign-out (a browser GET with `?rd=`) and the after-logout page,
 * each producing a LoginResult (never an allow: a 200 would let Envoy forward the request upstream).
 * Ending a session removes it from the store and revokes its refresh token; errors are 4xx, never
 * a 5xx (Envoy's bare 403).
 */
import { SessionStoreUnavailableError } from '../errors.js'
import { endSessionUrl } from '../oidc/front-channel.js'
import type { Session } from '../session/session.js'
import { clearSessionCookies } from '../session/session-cookie.js'
import { sessionTickets } from '../session/tickets.js'
import type { FlowRequest, LoginHandlerOptions, LoginResult } from './results.js'
import { safeRelativeTarget } from './safe-target.js'
import { fromSameOrigin } from './same-origin.js'

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
    return config.sessionSameSite !== 'None' || fromSameOrigin(request.headers)
  }

  async function endSession(found: { ticket: string; session: Session }): Promise<void> {
    await store.remove(found.ticket)
    if (found.session.refreshToken) await options.tokens.revoke(found.session.refreshToken)
  }

  async function logout(request: FlowRequest): Promise<LoginResult> {
    let found
    try {
      found = await findSession(request, sameOrigin(request))
      if (found) await endSession(found)
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) throw error
      return { answer: { kind: 'unavailable', requestKind: 'api', cookies: [] }, outcome: 'unavailable', reason: 'SESSION_STORE_UNAVAILABLE' }
    }
    if (!found) {
      return { answer: { kind: 'no-session' }, outcome: 'logout-refused', reason: 'NO_SESSION' }
    }
    const cookies = clearSessionCookies(config, request, request.cookies)
    return { answer: { kind: 'logged-out', afterLogoutUrl: config.afterLogoutUrl, cookies }, outcome: 'logout', reason: 'LOGOUT' }
  }

  async function signOut(request: FlowRequest): Promise<LoginResult> {
    if (request.headers['sec-fetch-site'] === 'cross-site') {
      return { answer: { kind: 'cross-site' }, outcome: 'logout-refused', reason: 'CROSS_SITE' }
    }
    let found
    try {
      found = await findSession(request, true)
      if (found) await endSession(found)
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) throw error
      return { answer: { kind: 'unavailable', requestKind: 'navigation', cookies: [] }, outcome: 'unavailable', reason: 'SESSION_STORE_UNAVAILABLE' }
    }
    const rd = new URLSearchParams(request.query).get('rd') ?? undefined
    const afterLogout = config.afterLogoutUrl
    let location = safeRelativeTarget(rd, afterLogout)
    const endSessionEndpoint = options.endpoints.endSession()
    if (endSessionEndpoint && found) {
      // RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2); the return URL must be absolute and registered.
      location = endSessionUrl(endSessionEndpoint, {
        clientId: config.clientId,
        idTokenHint: found.session.idToken,
        postLogoutRedirectUri: /^https?:\/\//.test(afterLogout) ? afterLogout : undefined,
      })
    }
    return { answer: { kind: 'redirect', location, cookies: clearSessionCookies(config, request, request.cookies) }, outcome: 'logout', reason: 'SIGN_OUT' }
  }

  function afterLogout(): LoginResult {
    return { answer: { kind: 'signed-out' }, outcome: 'after-logout', reason: 'AFTER_LOGOUT' }
  }

  return { logout, signOut, afterLogout }
}
