/**
 * The check pipeline, transport-free: the request Envoy forwarded → facts (skip path? API call?
 * which credential source established whom?) → the pure decision. check/handle.ts calls it and
 * hands the decision to check/respond.ts.
 *
 * It runs with side effects (the service: a due refresh happens, a dead session is removed) or as
 * a dry run (a replay of a request: nothing changes anywhere), and can return a trace of what each
 * credential source established.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose'
import type { Config } from '../config/types.js'
import type { Sha256 } from '../digest.js'
import type { AuthServiceErrorCode } from '../errors.js'
import type { CredentialSource, Established, SourceName } from '../credentials/ports.js'
import { createCredentialSources, type SourcesDependencies } from '../credentials/sources.js'
import { parseCookies } from '../session/cookies.js'
import { decide, type CredentialOutcome, type Decision } from './decision.js'
import { credentialFingerprint } from './fingerprint.js'
import { createPrefixFinder, normalizePath, splitTarget } from './path.js'
import { stripCheckPathPrefix, type CheckRequest } from './request.js'
import { createKindSignal, type KindSignal } from './request-kind.js'

export type { CheckRequest } from './request.js'

/** What one credential source found and established, in the order the sources were tried. */
export interface SourceStep {
  readonly source: SourceName
  readonly result: Established
  /** credentialFingerprint() of what it found: never the credential itself. */
  readonly fingerprint: string
  /** A JWS's header and claims as they read before any verification (explain says why with them). */
  readonly unverified?: UnverifiedJws
}

export interface UnverifiedJws {
  readonly header: Readonly<Record<string, unknown>>
  readonly claims: Readonly<Record<string, unknown>>
}

/** The header and claims of a compact JWS, unverified; undefined for anything else (a session ticket). */
function readUnverified(credential: string): UnverifiedJws | undefined {
  try {
    return { header: decodeProtectedHeader(credential), claims: decodeJwt(credential) }
  } catch {
    return undefined
  }
}

/** The credential that decided: the one that established the identity, else the first one refused. */
export interface PresentedCredential {
  readonly source: SourceName
  /** credentialFingerprint() of the credential: never the credential itself. */
  readonly fingerprint: string
}

/** Why the check saw the request as it did (only with `trace`). */
export interface CheckWhy {
  /** The SKIP_AUTH_URLS entry the normalised path matched, as configured. */
  readonly skipRule?: string
  /** What made it an API call; none makes it a navigation. */
  readonly kindSignal?: KindSignal
  /** The path may be read differently upstream (path.ts), so it matches no skip path or API route. */
  readonly ambiguousPath: boolean
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
  /** The credential that decided, for the decision log. */
  readonly presented?: PresentedCredential
  /** Every source that carried a credential and what it established (only when asked for). */
  readonly trace?: readonly SourceStep[]
  /** The skip rule and the request-kind signal (only when the trace is asked for). */
  readonly why?: CheckWhy
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
  /** The SHA-256 the decision log's fingerprint takes (the service shares the token cache's). */
  readonly digest?: Sha256
  /** The credential sources; default: the configured ones (credentials/sources.ts). */
  readonly sources?: readonly CredentialSource[]
}

interface Authenticated {
  readonly credential: CredentialOutcome
  readonly renewed?: { readonly ticket: string; readonly expiresAt: number }
  readonly sessionEnded?: boolean
  readonly presented?: PresentedCredential
  readonly trace?: SourceStep[]
}

const NONE: Authenticated = { credential: { status: 'none' } }
const SERVICE_RUN: CheckOptions = { dryRun: false, trace: false }

/**
 * Tries each source that carries a credential, in order, until one establishes an identity. A
 * refused credential does not stop the others (an application's stale cookie must not hide a valid
 * token); an unreachable session store does, since every later answer would be a guess.
 */
/**
 * The credential a source read, by source and fingerprint. The fingerprint (a SHA-256 of the whole
 * credential) is computed when first read: a decision line that LOG_ALLOW_DECISIONS leaves out never
 * hashes it. The credential stays in the closure, never a property of the result.
 */
function presentedBy(source: SourceName, credential: string, digest: Sha256 | undefined): PresentedCredential {
  let fingerprint: string | undefined
  return {
    source,
    get fingerprint() {
      return (fingerprint ??= credentialFingerprint(credential, digest))
    },
  }
}

async function authenticate(sources: readonly CredentialSource[], digest: Sha256 | undefined, request: { headers: CheckRequest['headers']; cookies: Record<string, string | undefined> }, options: CheckOptions): Promise<Authenticated> {
  const establishOptions = { dryRun: options.dryRun === true }
  const trace: SourceStep[] | undefined = options.trace ? [] : undefined
  let codes: AuthServiceErrorCode[] | undefined
  let providerUnavailable = false
  let sessionEnded = false
  let first: PresentedCredential | undefined
  for (const source of sources) {
    const carried = source.carried(request)
    if (carried === undefined) continue
    const result = await source.establish(carried, establishOptions)
    if (trace) {
      const unverified = readUnverified(carried)
      trace.push({ source: source.name, result, fingerprint: credentialFingerprint(carried), ...(unverified ? { unverified } : {}) })
    }
    if (result.status === 'valid') {
      const credential: CredentialOutcome = { status: 'valid', identity: result.identity, via: source.name }
      const presented = presentedBy(source.name, carried, digest)
      return result.renewed ? { credential, renewed: result.renewed, presented, trace } : { credential, presented, trace }
    }
    first ??= presentedBy(source.name, carried, digest)
    if (result.status === 'unavailable') {
      if (result.what === 'session-store') return { credential: { status: 'unavailable', what: 'session-store' }, presented: first, trace }
      providerUnavailable = true
      continue
    }
    ;(codes ??= []).push(result.code)
    if (result.sessionEnded) sessionEnded = true
  }
  if (providerUnavailable) return { credential: { status: 'unavailable' }, sessionEnded, presented: first, trace }
  return { credential: codes ? { status: 'rejected', codes } : { status: 'none' }, sessionEnded, presented: first, trace }
}

export function createChecker(deps: CheckerDependencies): (request: CheckRequest, options?: CheckOptions) => Promise<CheckResult> {
  const { config } = deps
  // The service's own endpoints under AUTHSERVICE_URL_PREFIX are answered before the check
  // (check/endpoints.ts); any other path under the prefix is checked like every path, never passed
  // upstream unauthenticated (oidc-authservice skipped the whole prefix).
  const skipRule = createPrefixFinder(config.skipAuthUrls)
  const kindSignal = createKindSignal(config.apiRoutes)
  const sources = deps.sources ?? createCredentialSources(config, deps)
  const policy = { groupsAllowlist: config.groupsAllowlist, allowedEmailDomains: config.allowedEmailDomains }

  return async (request, options = SERVICE_RUN) => {
    const normalized = request.normalized ?? normalizePath(splitTarget(stripCheckPathPrefix(request.target, config.checkPathPrefix)).path)
    const signal = kindSignal({ method: request.method, path: normalized, headers: request.headers })
    const kind = signal === undefined ? 'navigation' : 'api'
    const rule = skipRule(normalized)
    const skip = rule !== undefined
    const authenticated = skip
      ? options.trace ? { ...NONE, trace: [] } : NONE
      : await authenticate(sources, deps.digest, { headers: request.headers, cookies: request.cookies ?? parseCookies(request.headers.cookie) }, options)
    const decision = decide({ skip, kind, credential: authenticated.credential, providerReady: deps.providerReady() }, policy)
    return {
      decision,
      path: normalized.path,
      ...(authenticated.renewed === undefined ? {} : { renewedTicket: authenticated.renewed.ticket, renewedExpiresAt: authenticated.renewed.expiresAt }),
      ...(authenticated.sessionEnded ? { sessionEnded: true } : {}),
      ...(authenticated.presented === undefined ? {} : { presented: authenticated.presented }),
      ...(authenticated.trace === undefined ? {} : { trace: authenticated.trace, why: { skipRule: rule, kindSignal: signal, ambiguousPath: normalized.ambiguous } }),
    }
  }
}
