/**
 * Why a credential source established what it did, in words: the refusal code of the pipeline's dry
 * run (check/pipeline.ts trace) with the values that explain it, read from the token's unverified
 * header and claims (expired at …, audience …, key id …, issuer …). The verdict is the pipeline's;
 * this only says why. Never prints the credential: only its fingerprint.
 */
import type { SourceStep } from '../check/pipeline.js'
import type { Config } from '../config/types.js'

export interface CredentialReason {
  readonly source: string
  /** sha256 prefix of the credential (the decision log's `credential`). */
  readonly fingerprint: string
  readonly status: 'valid' | 'rejected' | 'unavailable'
  readonly code?: string
  readonly why: string
}

export interface CredentialContext {
  readonly config: Config
  readonly nowMs: number
  /** Where the primary issuer publishes its keys, once discovered. */
  readonly jwksUri: string | undefined
}

const WHERE: Record<string, string> = {
  kubernetes: 'Authorization: Bearer (a Kubernetes service-account token)',
  authorization: 'Authorization: Bearer',
  'id-token-header': 'the ID_TOKEN_HEADER header',
  'id-token-cookie': 'the ID_TOKEN_COOKIE cookie',
  'session-header': 'the AUTH_HEADER session ticket',
  'session-cookie': 'the session cookie',
}

export function whereFound(source: string): string {
  return WHERE[source] ?? source
}

const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value) ?? 'none')
const time = (seconds: unknown): string => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : `${text(seconds)} (not a time)`)

/** The audiences a token of `iss` must carry, as service.ts gives them to the verifier. */
function audiencesFor(config: Config, iss: unknown): readonly string[] | undefined {
  if (iss === config.issuer) return [config.clientId, ...config.primaryExtraAudiences]
  const extra = config.extraIssuers.find((entry) => entry.issuer === iss)
  if (extra) return extra.audience === '' ? config.audiences : [extra.audience]
  if (config.kubernetesTokens && iss === config.kubernetesTokens.issuer) return config.kubernetesTokens.audiences
  return undefined
}

function trustedIssuers(config: Config): string {
  const issuers = [`${config.issuer} (OIDC_PROVIDER)`, ...config.extraIssuers.map((extra) => `${extra.issuer} (EXTRA_JWT_ISSUERS)`)]
  if (config.kubernetesTokens) issuers.push(`${config.kubernetesTokens.issuer} (KUBERNETES_TOKEN_ISSUER)`)
  return issuers.join(', ')
}

/** Why a token's claims were refused: the first rule of oidc/token-verifier.ts it breaks, with its values. */
function claimWhy(claims: Readonly<Record<string, unknown>>, context: CredentialContext): string {
  const { config, nowMs } = context
  const skewMs = config.clockSkewSeconds * 1000
  const needed = audiencesFor(config, claims.iss) ?? []
  const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : []
  if (typeof claims.exp !== 'number') return 'the token has no valid exp'
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf * 1000 > nowMs + skewMs)) return `not valid before ${time(claims.nbf)}`
  if (!aud.some((audience) => needed.includes(audience as string))) {
    return `audience ${text(claims.aud ?? 'none')}, but ${text(claims.iss)} tokens must be for one of ${needed.join(', ')}`
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') return 'the token has no subject (sub)'
  if (typeof claims.iat !== 'number' || claims.iat * 1000 > nowMs + skewMs) return `issued at ${time(claims.iat)}: missing or in the future`
  return `authorized party (azp) ${text(claims.azp ?? 'none')} is another client than ${needed.join(', ')}`
}

function tokenWhy(code: string, step: SourceStep, context: CredentialContext): string {
  const { config } = context
  const header = step.unverified?.header ?? {}
  const claims = step.unverified?.claims ?? {}
  switch (code) {
    case 'ERR_TOKEN_EXPIRED': {
      const ago = Math.round((context.nowMs - (claims.exp as number) * 1000) / 1000)
      return `expired at ${time(claims.exp)} (${ago} s ago; JWT_CLOCK_SKEW_SECONDS allows ${config.clockSkewSeconds} s)`
    }
    case 'ERR_TOKEN_CLAIM_INVALID':
      return claimWhy(claims, context)
    case 'ERR_TOKEN_UNKNOWN_KEY':
      if (typeof header.kid !== 'string' || header.kid === '') return 'the token names no key id (kid)'
      return `unknown key id ${header.kid}: ${text(claims.iss)} publishes no such key${claims.iss === config.issuer && context.jwksUri ? ` at ${context.jwksUri}` : ''} (signed by another provider, or a key it has withdrawn)`
    case 'ERR_TOKEN_SIGNATURE_INVALID':
      return `signature does not verify with key ${text(header.kid)} of ${text(claims.iss)} (altered, or signed by someone else under that key id)`
    case 'ERR_TOKEN_UNKNOWN_ISSUER':
      return `issuer ${text(claims.iss ?? 'none')} is not configured; trusted: ${trustedIssuers(config)}`
    case 'ERR_TOKEN_ALG_NOT_ALLOWED':
      return `algorithm ${text(header.alg ?? 'none')} is not in JWT_ALGORITHMS (${config.jwtAlgorithms.join(', ')})`
    case 'ERR_TOKEN_TOO_LARGE':
      return `longer than MAX_TOKEN_BYTES (${config.maxTokenBytes})`
    case 'ERR_TOKEN_MALFORMED':
      return step.unverified ? 'malformed (critical header extensions, or an algorithm that does not fit its key)' : 'not a signed JWT (three base64url parts with a JSON header and claims)'
    case 'ERR_TOKEN_EMAIL_UNVERIFIED':
      return 'email_verified is not true (REQUIRE_EMAIL_VERIFIED)'
    case 'ERR_IDENTITY_CLAIM_MISSING':
      return `the claim USERID_CLAIM names (${config.userIdClaim}) is missing`
    case 'ERR_CLAIM_HEADER_UNSAFE':
      return 'the user id, a group or the email holds a control character, DEL or a lone surrogate, which no header may carry'
    case 'ERR_IDENTITY_SERVICE_ACCOUNT':
      return 'it names a Kubernetes service account (a kubernetes.io claim or a system:serviceaccount subject): only the Kubernetes source (KUBERNETES_TOKENS) takes those'
    case 'ERR_TOKEN_REVIEW_REFUSED':
      return 'the Kubernetes TokenReview refused it (service account or pod deleted, or the token revoked)'
    case 'ERR_SESSION_INVALID':
      return 'no session for this ticket: unknown to the session store, not sealed with the session keys, or ended'
    case 'ERR_REFRESH_REJECTED':
      return 'the session ended: the provider refused its refresh token'
    default:
      return code
  }
}

export function credentialReason(step: SourceStep, context: CredentialContext): CredentialReason {
  const { result } = step
  const base = { source: step.source, fingerprint: step.fingerprint }
  switch (result.status) {
    case 'valid':
      return { ...base, status: 'valid', why: `establishes ${result.identity.userId}` }
    case 'unavailable':
      return {
        ...base,
        status: 'unavailable',
        why: result.what === 'session-store' ? 'the session store cannot be reached' : 'the identity provider (discovery or keys) cannot be reached',
      }
    case 'rejected':
      return { ...base, status: 'rejected', code: result.code, why: tokenWhy(result.code, step, context) }
  }
}
