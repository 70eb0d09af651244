/**
 * The check pipeline, transport-free: the request Envoy forwarded → facts (skip path? API call?
 * which credential source established whom?) → the pure decision. check/handle.ts calls it and
 * hands the decision to check/respond.ts.
 *
 * It runs with side effects (the service: a due refresh happens, a dead session is removed) or as
 * a dry run (a replay of a request: nothing changes anywhere), and can return a trace of what each
 * credential source established.
 */
import type { Config } from '../config/types.js'
import type { AuthServiceErrorCode } from '../errors.js'
import type { CredentialSource, Established, SourceName } from '../credentials/ports.js'
import { createCredentialSources, type SourcesDependencies } from '../credentials/sources.js'
import { parseCookies } from '../session/cookies.js'
import { decide, type CredentialOutcome, type Decision } from './decision.js'
import { createPrefixMatcher, normalizePath, splitTarget } from './path.js'
import { stripCheckPathPrefix, type CheckRequest } from './request.js'
import { createRequestClassifier } from './request-kind.js'

export type { CheckRequest } from './request.js'

/** What one credential source found and established, in the order the sources were tried. */
export interface SourceStep {
  readonly source: SourceName
  readonly result: Established
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
  /** Every source that carried a credential and what it established (only when asked for). */
  readonly trace?: readonly SourceStep[]
}

export interface CheckOptions {
  /** No side effects: no refresh, no token-endpoint call, no session-store write or delete. */
  readonly dryRun?: boolean
  /** Return the per-source trace. */
  readonly trace?: boolean
}

export interface CheckerDependencies extends SourcesDependencies {
  readonly config: Config
  readonly providerReady: () => boolean
  /** The credential sources; default: the configured ones (credentials/sources.ts). */
  readonly sources?: readonly CredentialSource[]
}

interface Authenticated {
  readonly credential: CredentialOutcome
  readonly renewed?: { readonly ticket: string; readonly expiresAt: number }
  readonly sessionEnded?: boolean
  readonly trace?: SourceStep[]
}

const NONE: Authenticated = { credential: { status: 'none' } }
const SERVICE_RUN: CheckOptions = { dryRun: false, trace: false }

/**
 * Tries each source that carries a credential, in order, until one establishes an identity. A
 * refused credential does not stop the others (an application's stale cookie must not hide a valid
 * token); an unreachable session store does, since every later answer would be a guess.
 */
async function authenticate(sources: readonly CredentialSource[], request: { headers: CheckRequest['headers']; cookies: Record<string, string | undefined> }, options: CheckOptions): Promise<Authenticated> {
  const establishOptions = { dryRun: options.dryRun === true }
  const trace: SourceStep[] | undefined = options.trace ? [] : undefined
  let codes: AuthServiceErrorCode[] | undefined
  let providerUnavailable = false
  let sessionEnded = false
  for (const source of sources) {
    const credential = source.carried(request)
    if (credential === undefined) continue
    const result = await source.establish(credential, establishOptions)
    trace?.push({ source: source.name, result })
    if (result.status === 'valid') {
      const credential: CredentialOutcome = { status: 'valid', identity: result.identity, via: source.name }
      return result.renewed ? { credential, renewed: result.renewed, trace } : { credential, trace }
    }
    if (result.status === 'unavailable') {
      if (result.what === 'session-store') return { credential: { status: 'unavailable', what: 'session-store' }, trace }
      providerUnavailable = true
      continue
    }
    ;(codes ??= []).push(result.code)
    if (result.sessionEnded) sessionEnded = true
  }
  if (providerUnavailable) return { credential: { status: 'unavailable' }, sessionEnded, trace }
  return { credential: codes ? { status: 'rejected', codes } : { status: 'none' }, sessionEnded, trace }
}

export function createChecker(deps: CheckerDependencies): (request: CheckRequest, options?: CheckOptions) => Promise<CheckResult> {
  const { config } = deps
  // The service's own endpoints under AUTHSERVICE_URL_PREFIX are answered before the check
  // (check/endpoints.ts); any other path under the prefix is checked like every path, never passed
  // upstream unauthenticated (oidc-authservice skipped the whole prefix).
  const isSkipPath = createPrefixMatcher(config.skipAuthUrls)
  const classify = createRequestClassifier(config.apiRoutes)
  const sources = deps.sources ?? createCredentialSources(config, deps)
  const policy = { groupsAllowlist: config.groupsAllowlist, allowedEmailDomains: config.allowedEmailDomains }

  return async (request, options = SERVICE_RUN) => {
    const normalized = request.normalized ?? normalizePath(splitTarget(stripCheckPathPrefix(request.target, config.checkPathPrefix)).path)
    const kind = classify({ method: request.method, path: normalized, headers: request.headers })
    const skip = isSkipPath(normalized)
    const authenticated = skip
      ? options.trace ? { ...NONE, trace: [] } : NONE
      : await authenticate(sources, { headers: request.headers, cookies: request.cookies ?? parseCookies(request.headers.cookie) }, options)
    const decision = decide({ skip, kind, credential: authenticated.credential, providerReady: deps.providerReady() }, policy)
    return {
      decision,
      path: normalized.path,
      ...(authenticated.renewed === undefined ? {} : { renewedTicket: authenticated.renewed.ticket, renewedExpiresAt: authenticated.renewed.expiresAt }),
      ...(authenticated.sessionEnded ? { sessionEnded: true } : {}),
      ...(authenticated.trace === undefined ? {} : { trace: authenticated.trace }),
    }
  }
}
