/**
 * Who the caller is, derived from verified claims as oidc-authservice did for Dex: user id =
 * USERID_PREFIX + transformed USERID_CLAIM, groups = GROUPS_CLAIM (an array of strings).
 *
 * Tokens of an EXTRA_JWT_ISSUERS issuer follow that issuer's EXTRA_JWT_ISSUER_RULES (issue 15,
 * finding 6): the user id is its `useridClaim`, `sub` by default — an issuer's own name for the
 * user (OIDC Core §2: unique within the issuer) — never its `email` unless the operator says so,
 * since a second issuer could otherwise assert any email, an admin's included, as
 * `kubeflow-userid`. No claim stands in for a missing one.
 *
 * Kubernetes service accounts are the Kubernetes source's alone (credentials/kubernetes-token.ts:
 * TokenReview, lifetime cap; finding 9): a JWT carrying the `kubernetes.io` claim that every
 * service-account token has, or a user id that would read as `system:serviceaccount:…` in
 * Kubernetes RBAC, is refused here.
 */
import type { JWTPayload } from 'jose'
import type { ExtraIssuer, ExtraIssuerRules, UserIdTransformer } from '../config/types.js'
import { DEFAULT_EXTRA_ISSUER_RULES } from '../config/parse.js'
import { TokenRejectedError, type AuthServiceErrorCode } from '../errors.js'
import { headerSafeIdentity } from './header-values.js'

export interface Identity {
  /** The value of USERID_HEADER, prefix and transformers applied. */
  readonly userId: string
  readonly groups: readonly string[]
  /** The email claim, when the token has one (for ALLOWED_EMAIL_DOMAINS). */
  readonly email: string | undefined
  /** The Dex ID token, forwarded as `authorization: Bearer` when SET_AUTHORIZATION_HEADER is on. */
  readonly idToken: string | undefined
  /** What was set aside in making it (ERR_GROUP_NAME_INVALID), for the decision log; absent when nothing was. */
  readonly codes?: readonly AuthServiceErrorCode[]
  /**
   * `skip`: ALLOWED_EMAIL_DOMAINS does not govern this identity (Kubernetes service accounts, an
   * extra issuer with `emailDomains: skip`). Absent: it does, and without an email it is refused
   * while the list is set — the safe reading for any identity that does not say otherwise.
   */
  readonly emailDomains?: 'skip'
  /** The `preferred_username` claim, when there is one (oauth2-proxy's userinfo shows it). */
  readonly preferredUsername?: string
  /** ms: when the credential behind this identity ends (a token's `exp`; a session's SESSION_MAX_AGE end). */
  readonly expiresAt?: number
  /** ms: the `exp` of `idToken`. */
  readonly idTokenExpiresAt?: number
}

export interface IdentityRules {
  readonly userIdClaim: string
  readonly userIdPrefix: string
  readonly userIdTransformers: readonly UserIdTransformer[]
  readonly groupsClaim: string
  /** REQUIRE_EMAIL_VERIFIED: a user id taken from `email` needs `email_verified: true`. */
  readonly requireEmailVerified: boolean
  /** EXTRA_JWT_ISSUERS with their EXTRA_JWT_ISSUER_RULES; an issuer not listed (or none given) gets the safe defaults. */
  readonly extraIssuers?: readonly Pick<ExtraIssuer, 'issuer' | 'rules'>[]
}

/** Where the claims come from: the primary issuer (Dex), or the extra issuer that signed them. */
export interface ClaimsSource {
  readonly primary: boolean
  readonly token: string
  /** The verified `iss` (picks an extra issuer's rules). */
  readonly issuer?: string
}

/** Kubernetes RBAC reads a user named so as that service account. */
const SERVICE_ACCOUNT_USER = 'system:serviceaccount:'

export function transformUserId(userId: string, transformers: readonly UserIdTransformer[]): string {
  for (const rule of transformers) {
    // search() ignores the global flag's lastIndex, so the shared RegExp stays stateless.
    if (userId.search(rule.matches) !== -1) return userId.replace(rule.matches, rule.replaces)
  }
  return userId
}

function groupsOf(claims: JWTPayload, claim: string): string[] {
  const value = claims[claim]
  return Array.isArray(value) ? value.filter((group): group is string => typeof group === 'string') : []
}

function rulesOf(rules: IdentityRules, source: ClaimsSource): ExtraIssuerRules {
  return rules.extraIssuers?.find((extra) => extra.issuer === source.issuer)?.rules ?? DEFAULT_EXTRA_ISSUER_RULES
}

/**
 * @throws TokenRejectedError ERR_IDENTITY_CLAIM_MISSING when the user-id claim is absent or not a
 *   string, ERR_TOKEN_EMAIL_UNVERIFIED when the user id is an email the provider has not verified:
 *   with REQUIRE_EMAIL_VERIFIED only `email_verified: true` (the JSON boolean, OIDC Core §5.1)
 *   counts; a missing claim, `"true"`, `"False"` or `1` do not. ERR_IDENTITY_SERVICE_ACCOUNT when
 *   the claims speak for a Kubernetes service account. ERR_CLAIM_HEADER_UNSAFE when a value that
 *   becomes a header holds a control character (header-values.ts).
 */
export function identityFromClaims(claims: JWTPayload, rules: IdentityRules, source: ClaimsSource): Identity {
  const extra = source.primary ? undefined : rulesOf(rules, source)
  if (extra !== undefined && claims['kubernetes.io'] !== undefined) {
    throw TokenRejectedError.refusal('ERR_IDENTITY_SERVICE_ACCOUNT', 'a service-account token is only accepted through KUBERNETES_TOKENS', { claim: 'kubernetes.io' })
  }
  const claim = extra?.useridClaim ?? rules.userIdClaim
  const claimed = claims[claim]
  if (typeof claimed !== 'string' || claimed === '') {
    throw TokenRejectedError.refusal('ERR_IDENTITY_CLAIM_MISSING', 'token lacks the user id claim', { claim })
  }
  if (rules.requireEmailVerified && claim === 'email' && claims.email_verified !== true) {
    throw TokenRejectedError.refusal('ERR_TOKEN_EMAIL_UNVERIFIED', 'email not verified', { claim: 'email_verified' })
  }
  const userId = rules.userIdPrefix + transformUserId(claimed, rules.userIdTransformers)
  if (userId.startsWith(SERVICE_ACCOUNT_USER)) {
    throw TokenRejectedError.refusal('ERR_IDENTITY_SERVICE_ACCOUNT', 'only KUBERNETES_TOKENS speaks for service accounts', { claim })
  }
  const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined
  const identity: Identity = {
    userId,
    groups: groupsOf(claims, rules.groupsClaim),
    email: typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined,
    idToken: source.primary ? source.token : undefined,
    // Only present when known, so an identity without them compares equal to one never given them.
    ...(typeof claims.preferred_username === 'string' ? { preferredUsername: claims.preferred_username } : {}),
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(expiresAt === undefined || !source.primary ? {} : { idTokenExpiresAt: expiresAt }),
  }
  const ruled: Identity = extra?.emailDomains === 'skip' ? { ...identity, emailDomains: 'skip' } : identity
  return headerSafeIdentity(ruled, { userId: claim, groups: rules.groupsClaim })
}
