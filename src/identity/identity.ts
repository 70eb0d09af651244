/**
 * Who the caller is, derived from verified claims exactly as oidc-authservice did:
 * user id = USERID_PREFIX + transformed USERID_CLAIM, groups = GROUPS_CLAIM (an array of strings).
 * Tokens from EXTRA_JWT_ISSUERS fall back to `sub` (Kubernetes service accounts have no email:
 * `system:serviceaccount:<ns>:<name>`), and service accounts get the groups Kubernetes gives them.
 */
import type { JWTPayload } from 'jose'
import type { UserIdTransformer } from '../config/types.js'
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
}

export interface IdentityRules {
  readonly userIdClaim: string
  readonly userIdPrefix: string
  readonly userIdTransformers: readonly UserIdTransformer[]
  readonly groupsClaim: string
  /** REQUIRE_EMAIL_VERIFIED: a user id taken from `email` needs `email_verified: true`. */
  readonly requireEmailVerified: boolean
}

const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]+):[^:]+$/

export function transformUserId(userId: string, transformers: readonly UserIdTransformer[]): string {
  for (const rule of transformers) {
    // search() ignores the global flag's lastIndex, so the shared RegExp stays stateless.
    if (userId.search(rule.matches) !== -1) return userId.replace(rule.matches, rule.replaces)
  }
  return userId
}

function groupsOf(claims: JWTPayload, claim: string, subject: string, primary: boolean): string[] {
  const value = claims[claim]
  if (Array.isArray(value)) return value.filter((group): group is string => typeof group === 'string')
  // Only an extra issuer (the cluster's) speaks for Kubernetes service accounts, never Dex.
  const serviceAccount = primary ? null : SERVICE_ACCOUNT.exec(subject)
  if (serviceAccount) {
    return ['system:serviceaccounts', `system:serviceaccounts:${serviceAccount[1]}`, 'system:authenticated']
  }
  return []
}

/**
 * @throws TokenRejectedError ERR_IDENTITY_CLAIM_MISSING when the user-id claim is absent or not a
 *   string, ERR_TOKEN_EMAIL_UNVERIFIED when the user id is an email the provider has not verified:
 *   with REQUIRE_EMAIL_VERIFIED only `email_verified: true` (the JSON boolean, OIDC Core §5.1)
 *   counts; a missing claim, `"true"`, `"False"` or `1` do not; ERR_CLAIM_HEADER_UNSAFE when a value
 *   that becomes a header holds a control character (header-values.ts).
 */
export function identityFromClaims(
  claims: JWTPayload,
  rules: IdentityRules,
  source: { primary: boolean; token: string },
): Identity {
  const subject = typeof claims.sub === 'string' ? claims.sub : ''
  const claimed = claims[rules.userIdClaim]
  let userId: string
  if (typeof claimed === 'string' && claimed !== '') userId = claimed
  else if (!source.primary && subject !== '') userId = subject
  else throw TokenRejectedError.refusal('ERR_IDENTITY_CLAIM_MISSING', 'token lacks the user id claim', { claim: rules.userIdClaim })
  if (rules.requireEmailVerified && rules.userIdClaim === 'email' && userId === claimed && claims.email_verified !== true) {
    throw TokenRejectedError.refusal('ERR_TOKEN_EMAIL_UNVERIFIED', 'email not verified', { claim: 'email_verified' })
  }
  const identity: Identity = {
    userId: rules.userIdPrefix + transformUserId(userId, rules.userIdTransformers),
    groups: groupsOf(claims, rules.groupsClaim, subject, source.primary),
    email: typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined,
    idToken: source.primary ? source.token : undefined,
  }
  return headerSafeIdentity(identity, { userId: userId === claimed ? rules.userIdClaim : 'sub', groups: rules.groupsClaim })
}
