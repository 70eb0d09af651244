/**
 * The check pipeline, transport-free: the request Envoy forwarded → facts (skip path? API call?
 * which credential verified?) → the pure decision. HTTP and gRPC adapters call this and hand the
 * decision to authz/reply.ts.
 */
import type { Config } from '../config/types.js'
import { AuthServiceError, ProviderUnavailableError, type AuthServiceErrorCode } from '../errors.js'
import type { TokenVerifier } from '../oidc/token-verifier.js'
import { parseCookies } from '../login/cookies.js'
import { sessionTickets } from '../login/session-tickets.js'
import type { SessionAuthenticator } from '../session/session-auth.js'
import { bearerCandidates } from './credentials.js'
import { decide, type CredentialOutcome, type Decision } from './decision.js'
import { identityFromClaims } from './identity.js'
import { createPrefixMatcher, normalizePath, splitTarget, type NormalizedPath } from './path.js'
import { createRequestClassifier } from './request-kind.js'

/** What the check needs of the request Envoy forwarded (header names lower-case). */
export interface CheckRequest {
  readonly method: string
  /** The original request target: path and query, as the client sent it. */
  readonly target: string
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The Cookie header parsed (the caller may have parsed it already). */
  readonly cookies?: Record<string, string | undefined>
  /** The target's path, CHECK_PATH_PREFIX stripped and normalised (the caller may have done it already). */
  readonly normalized?: NormalizedPath
}

export interface CheckResult {
  readonly decision: Decision
  /** The normalised path without its query (what logs may show). */
  readonly path: string
  /** A renewed session ticket to send back on the allow (cookie store refresh), and its session's end (ms). */
  readonly renewedTicket?: string
  readonly renewedExpiresAt?: number
  /** A session cookie was presented but its session has ended (clear it). */
  readonly sessionEnded?: boolean
}

export interface CheckerDependencies {
  readonly config: Config
  readonly verifier: TokenVerifier
  readonly providerReady: () => boolean
  /** Session tickets (cookie or AUTH_HEADER) → sessions; absent = bearer JWTs only. */
  readonly sessions?: SessionAuthenticator
  /** Told about credentials that failed for an unexpected reason (a bug, not a bad token). */
  readonly onUnexpectedError?: (error: unknown) => void
}

/** The original target without CHECK_PATH_PREFIX (what Envoy's `path_prefix` added). */
export function stripCheckPathPrefix(target: string, prefix: string): string {
  return prefix !== '' && target.startsWith(prefix) ? target.slice(prefix.length) || '/' : target
}

/** The path part of AUTHSERVICE_URL_PREFIX, which may be an absolute URL. */
export function prefixPath(urlPrefix: string): string {
  return urlPrefix.startsWith('/') ? urlPrefix : new URL(urlPrefix).pathname
}

export function createChecker(deps: CheckerDependencies): (request: CheckRequest) => Promise<CheckResult> {
  const { config, verifier } = deps
  // oidc-authservice always skipped its own prefix (its pages); the callback and logout that live
  // under it are answered before this matcher is consulted.
  const isSkipPath = createPrefixMatcher([...config.skipAuthUrls, prefixPath(config.urlPrefix)])
  const classify = createRequestClassifier(config.apiRoutes)
  const identityRules = config
  const sources = { idTokenHeader: config.idTokenHeader, idTokenCookie: config.idTokenCookie }
  const policy = { groupsAllowlist: config.groupsAllowlist, allowedEmailDomains: config.allowedEmailDomains }
  const stripPrefix = config.checkPathPrefix

  interface Authenticated {
    credential: CredentialOutcome
    renewedTicket?: string
    renewedExpiresAt?: number
    sessionEnded?: boolean
  }

  async function authenticate(headers: CheckRequest['headers'], cookies: Record<string, string | undefined>): Promise<Authenticated> {
    const codes: AuthServiceErrorCode[] = []
    let unavailable = false
    let sessionEnded = false
    const tickets = deps.sessions ? sessionTickets(headers, cookies, config) : []
    // A session value sent as `Authorization: Bearer` is not a JWT: leave it to the session store.
    const jwts = bearerCandidates(headers, sources).filter((candidate) => !tickets.some((t) => t.ticket === candidate.token))
    for (const candidate of jwts) {
      try {
        const verified = await verifier.verify(candidate.token)
        const identity = identityFromClaims(verified.claims, identityRules, verified)
        return { credential: { status: 'valid', identity, via: candidate.from } }
      } catch (error) {
        if (error instanceof ProviderUnavailableError) unavailable = true
        else if (error instanceof AuthServiceError) codes.push(error.code)
        else {
          deps.onUnexpectedError?.(error)
          codes.push('ERR_TOKEN_MALFORMED') // fail closed
        }
      }
    }
    for (const candidate of tickets) {
      const outcome = await deps.sessions!(candidate.ticket)
      if (outcome.status === 'unavailable') return { credential: { status: 'unavailable', what: 'session-store' } }
      if (outcome.status === 'ended') {
        sessionEnded = true
        codes.push(outcome.code)
      }
      // An unknown, expired or tampered ticket is a refused credential, like a bad token.
      if (outcome.status === 'none') codes.push('ERR_SESSION_INVALID')
      if (outcome.status !== 'valid') continue
      try {
        const identity = identityFromClaims(outcome.session.claims, identityRules, { primary: true, token: outcome.session.idToken })
        const renewedTicket = outcome.renewed && candidate.from === 'session-cookie' ? outcome.ticket : undefined
        return renewedTicket === undefined
          ? { credential: { status: 'valid', identity, via: candidate.from } }
          : { credential: { status: 'valid', identity, via: candidate.from }, renewedTicket, renewedExpiresAt: outcome.session.expiresAt }
      } catch (error) {
        codes.push(error instanceof AuthServiceError ? error.code : 'ERR_IDENTITY_CLAIM_MISSING')
      }
    }
    if (unavailable) return { credential: { status: 'unavailable' }, sessionEnded }
    return { credential: codes.length > 0 ? { status: 'rejected', codes } : { status: 'none' }, sessionEnded }
  }

  return async (request) => {
    const normalized = request.normalized ?? normalizePath(splitTarget(stripCheckPathPrefix(request.target, stripPrefix)).path)
    const kind = classify({ method: request.method, path: normalized, headers: request.headers })
    const skip = isSkipPath(normalized)
    const authenticated: Authenticated = skip
      ? { credential: { status: 'none' } }
      : await authenticate(request.headers, request.cookies ?? parseCookies(request.headers.cookie))
    const decision = decide({ skip, kind, credential: authenticated.credential, providerReady: deps.providerReady() }, policy)
    return {
      decision,
      path: normalized.path,
      ...(authenticated.renewedTicket === undefined
        ? {}
        : { renewedTicket: authenticated.renewedTicket, renewedExpiresAt: authenticated.renewedExpiresAt as number }),
      ...(authenticated.sessionEnded ? { sessionEnded: true } : {}),
    }
  }
}
