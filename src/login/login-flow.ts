/**
 * Login start and callback: the OIDC authorization code flow with PKCE (S256), state and nonce —
 * the protocol by openid-client (oidc/front-channel.ts, oidc/token-client.ts) — each step
 * producing a LoginResult (never an allow: a 200 would let Envoy forward the request upstream).
 * Errors become readable 4xx pages with a "log in again" link — never a 5xx (Envoy's bare 403),
 * never a redirect loop.
 */
import { randomBytes } from 'node:crypto'
import { AuthServiceError, ProviderUnavailableError, SessionStoreUnavailableError, type AuthServiceErrorCode } from '../errors.js'
import { identityFromClaims } from '../identity/identity.js'
import { authorizationUrl } from '../oidc/front-channel.js'
import { verifyToken } from '../oidc/token-verifier.js'
import { claimsForSession } from '../session/claims.js'
import type { Session } from '../session/session.js'
import { clearCookie, isSecure, setCookie, type CookieContext } from '../session/cookies.js'
import { FLOW_TTL_SECONDS, MAX_EVICTIONS, MAX_FLOWS, flowCookieName, newFlow, openFlow, presentFlowCookies, sealFlow } from './flow.js'
import { withQuery, type FlowRequest, type LoginHandlerOptions, type LoginResult } from './results.js'
import { safeRelativeTarget } from './safe-target.js'
import { writeSessionCookies } from '../session/session-cookie.js'
import { sessionTickets } from '../session/tickets.js'

export function createLoginFlow(options: LoginHandlerOptions) {
  const { config, clock, store } = options
  const secureFor = (request: CookieContext) => isSecure(config, request)

  async function start(request: FlowRequest, extraCookies: readonly string[] = []): Promise<LoginResult> {
    const authorization = options.endpoints.authorization()
    if (!authorization) {
      return { answer: { kind: 'unavailable', requestKind: 'navigation', cookies: [] }, outcome: 'unavailable', reason: 'PROVIDER_UNAVAILABLE' }
    }
    const flow = newFlow(safeRelativeTarget(request.target), clock.now())
    const cookies = [...extraCookies]
    // At most MAX_FLOWS logins at once: evict the oldest so a state-cookie flood stays bounded, and
    // clear at most MAX_EVICTIONS per answer (Envoy refuses a reply with more than 100 headers).
    const present = presentFlowCookies(request.cookies)
    const evict = present.slice(0, Math.max(0, present.length - (MAX_FLOWS - 1))).slice(0, MAX_EVICTIONS)
    for (const name of evict) cookies.push(clearCookie(name, secureFor(request)))
    cookies.push(
      setCookie(flowCookieName(flow.state), await sealFlow(flow, options.flowRing), {
        maxAgeSeconds: FLOW_TTL_SECONDS,
        httpOnly: true,
        // Lax, whatever SESSION_SAME_SITE says: the IdP's top-level redirect back must carry it.
        sameSite: 'Lax',
        secure: secureFor(request),
      }),
    )
    // OIDC_AUTH_URL (Kubeflow: the relative /dex/auth) or the discovered endpoint, exactly as given.
    const location = await authorizationUrl(authorization, {
      clientId: config.clientId,
      redirectUri: config.redirectUrl,
      scope: config.scopes.join(' '),
      state: flow.state,
      nonce: flow.nonce,
      codeVerifier: flow.codeVerifier,
    })
    return { answer: { kind: 'redirect', location, cookies }, outcome: 'login', reason: 'LOGIN_REQUIRED' }
  }

  function failed(status: 400 | 403, code: AuthServiceErrorCode, message: string, cookies: readonly string[] = []): LoginResult {
    return { answer: { kind: 'login-failed', status, message, cookies }, outcome: 'callback-failed', reason: code, codes: [code] }
  }

  async function callback(request: FlowRequest): Promise<LoginResult> {
    const params = new URLSearchParams(request.query)
    const state = params.get('state') ?? ''
    const flowCookie = state ? flowCookieName(state) : undefined
    const clearFlow = flowCookie && request.cookies[flowCookie] !== undefined ? [clearCookie(flowCookie, secureFor(request))] : []
    const idpError = params.get('error')
    if (idpError !== null) {
      // RFC 6749 §4.1.2.1; the value is the IdP's, shown escaped, never reflected unescaped.
      return failed(idpError === 'access_denied' ? 403 : 400, 'ERR_LOGIN_PROVIDER_ERROR', `The identity provider refused the sign-in (${idpError.slice(0, 64)}).`, clearFlow)
    }
    if (!state) return failed(400, 'ERR_LOGIN_STATE_MISSING', 'The sign-in response is incomplete.')
    const flow = await openFlow(flowCookie && request.cookies[flowCookie], state, options.flowRing, clock.now())
    if (!flow) {
      return failed(400, 'ERR_LOGIN_STATE_MISMATCH', 'This sign-in has expired or was started in another browser.', clearFlow)
    }
    const code = params.get('code')
    if (!code) return failed(400, 'ERR_LOGIN_STATE_MISSING', 'The sign-in response is incomplete.', clearFlow)

    let session: Session
    try {
      // openid-client checks the callback's state and the ID token's claims (nonce included) and
      // sends the PKCE verifier; it does not check the signature.
      const tokens = await options.tokens.exchangeCode({
        callbackQuery: request.query,
        redirectUri: config.redirectUrl,
        state: flow.state,
        nonce: flow.nonce,
        codeVerifier: flow.codeVerifier,
      })
      // Our verifier, with the key set every credential uses: the signature even over plain http
      // (Kubeflow's in-cluster Dex), then iss, aud, exp — and the nonce again, bound to this flow
      // whatever the token client did (login-flow.test.ts 'the ID token's nonce is not this login's').
      const verified = await verifyToken(options.verifier, tokens.idToken)
      if (verified.claims.nonce !== flow.nonce) return failed(400, 'ERR_LOGIN_TOKEN_INVALID', 'The sign-in response did not match this sign-in.', clearFlow)
      identityFromClaims(verified.claims, options.identityRules, { primary: true, token: tokens.idToken })
      const now = clock.now()
      session = {
        id: randomBytes(32).toString('base64url'),
        claims: claimsForSession(verified.claims, options.identityClaims),
        idToken: tokens.idToken,
        refreshToken: tokens.refreshToken,
        idTokenExpiresAt: verified.expiresAtMs,
        createdAt: now,
        expiresAt: now + config.sessionMaxAgeSeconds * 1000,
      }
    } catch (error) {
      if (error instanceof ProviderUnavailableError) {
        return failed(400, 'ERR_LOGIN_EXCHANGE_FAILED', 'The identity provider is unavailable. Try again shortly.', clearFlow)
      }
      const code = error instanceof AuthServiceError ? error.code : 'ERR_LOGIN_EXCHANGE_FAILED'
      const exchange = code === 'ERR_LOGIN_EXCHANGE_FAILED'
      return failed(exchange ? 400 : 403, exchange ? code : 'ERR_LOGIN_TOKEN_INVALID', exchange ? 'The sign-in could not be completed.' : 'Your account cannot be used to sign in here.', clearFlow)
    }
    let ticket: string
    try {
      ticket = await store.save(session, clock.now())
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) throw error
      return { answer: { kind: 'unavailable', requestKind: 'navigation', cookies: clearFlow }, outcome: 'unavailable', reason: 'SESSION_STORE_UNAVAILABLE' }
    }
    // The session that this login replaces (if any) ends server-side: no fixation, no leftovers.
    for (const candidate of sessionTickets(request.headers, request.cookies, config)) {
      if (candidate.from === 'session-cookie') await store.remove(candidate.ticket).catch(() => undefined)
    }
    const target = config.afterLoginUrl ? withQuery(config.afterLoginUrl, { next: flow.target }) : safeRelativeTarget(flow.target)
    let sessionCookies: string[]
    try {
      sessionCookies = writeSessionCookies(config, ticket, config.sessionMaxAgeSeconds, request, request.cookies)
    } catch {
      // More than 8 cookies' worth (a token with very many groups): say so instead of a login loop.
      return failed(400, 'ERR_SESSION_TOO_LARGE', 'Your sign-in is too large to keep in a cookie (very many groups?). Ask the administrator to use the redis session store.', clearFlow)
    }
    const cookies = [...sessionCookies, ...clearFlow]
    const user = identityFromClaims(session.claims, options.identityRules, { primary: true, token: session.idToken }).userId
    return { answer: { kind: 'redirect', location: target, cookies }, outcome: 'login-complete', reason: 'LOGIN_COMPLETE', user }
  }

  return { start, callback }
}
