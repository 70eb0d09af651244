/**
 * The check pipeline, transport-free: the request Envoy forwarded → facts (skip path? API call?
 * which credential verified?) → the pure decision. HTTP and gRPC adapters call this and hand the
 * decision to authz/reply.ts.
 */
import type { Config } from '../config/types.js'
import { AuthServiceError, ProviderUnavailableError, type AuthServiceErrorCode } from '../errors.js'
import type { TokenVerifier } from '../oidc/token-verifier.js'
import { bearerCandidates } from './credentials.js'
import { decide, type CredentialOutcome, type Decision } from './decision.js'
import { identityFromClaims } from './identity.js'
import { createPrefixMatcher, normalizePath, splitTarget } from './path.js'
import { createRequestClassifier } from './request-kind.js'

/** What the check needs of the request Envoy forwarded (header names lower-case). */
export interface CheckRequest {
  readonly method: string
  /** The original request target: path and query, as the client sent it. */
  readonly target: string
  readonly headers: Readonly<Record<string, string | undefined>>
}

export interface CheckResult {
  readonly decision: Decision
  /** The normalised path without its query (what logs may show). */
  readonly path: string
}

export interface CheckerDependencies {
  readonly config: Config
  readonly verifier: TokenVerifier
  readonly providerReady: () => boolean
  /** Told about credentials that failed for an unexpected reason (a bug, not a bad token). */
  readonly onUnexpectedError?: (error: unknown) => void
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

  async function authenticate(headers: CheckRequest['headers']): Promise<CredentialOutcome> {
    const codes: AuthServiceErrorCode[] = []
    let unavailable = false
    for (const candidate of bearerCandidates(headers, sources)) {
      try {
        const verified = await verifier.verify(candidate.token)
        const identity = identityFromClaims(verified.claims, identityRules, verified)
        return { status: 'valid', identity, via: candidate.from }
      } catch (error) {
        if (error instanceof ProviderUnavailableError) unavailable = true
        else if (error instanceof AuthServiceError) codes.push(error.code)
        else {
          deps.onUnexpectedError?.(error)
          codes.push('ERR_TOKEN_MALFORMED') // fail closed
        }
      }
    }
    if (unavailable) return { status: 'unavailable' }
    return codes.length > 0 ? { status: 'rejected', codes } : { status: 'none' }
  }

  return async (request) => {
    let target = request.target
    if (stripPrefix !== '' && target.startsWith(stripPrefix)) target = target.slice(stripPrefix.length) || '/'
    const normalized = normalizePath(splitTarget(target).path)
    const kind = classify({ method: request.method, path: normalized, headers: request.headers })
    const skip = isSkipPath(normalized)
    const credential: CredentialOutcome = skip ? { status: 'none' } : await authenticate(request.headers)
    const decision = decide({ skip, kind, credential, providerReady: deps.providerReady() }, policy)
    return { decision, path: normalized.path }
  }
}
