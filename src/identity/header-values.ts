/**
 * What a claim may carry into an identity header. The headers carry the claim's UTF-8 octets
 * (README, "Identity headers"; each transport writes them), so any Unicode name gets through, but:
 * - a C0 control character or DEL (RFC 9110 §5.5: not field-value text; CR, LF and NUL are refused by
 *   every HTTP stack on the way, the others read differently by each), or a lone surrogate (not
 *   Unicode text), refuses the credential: it cannot be forwarded as it is, and forwarding anything
 *   else would name someone else;
 * - a group containing `,` is set aside: `kubeflow-groups` is a comma-joined list (RFC 9110 §5.3),
 *   so `a,b` would reach the upstream, and Envoy's jwt_authn, as the two groups `a` and `b`. It never
 *   reaches a header nor matches GROUPS_ALLOWLIST, and the identity notes ERR_GROUP_NAME_INVALID.
 */
import { TokenRejectedError, type AuthServiceErrorCode } from '../errors.js'

/**
 * C0 controls and DEL; and a lone surrogate (a JSON `\ud800` escape), which has no UTF-8 octets:
 * Buffer would send U+FFFD in its place (two such names, one header) and protobufjs invalid UTF-8.
 */
const NOT_HEADER_TEXT = /[\u0000-\u001f\u007f]|\p{Cs}/u

/** What of an identity (identity.ts) becomes a header; structural, so this file imports none of it. */
export interface HeaderBoundValues {
  readonly userId: string
  readonly groups: readonly string[]
  readonly email: string | undefined
  readonly codes?: readonly AuthServiceErrorCode[]
}

/** The claims an identity's values came from, to name the one at fault. */
export interface IdentityClaimNames {
  readonly userId: string
  readonly groups: string
}

/**
 * The identity as it may be sent in headers.
 * @throws TokenRejectedError ERR_CLAIM_HEADER_UNSAFE when the user id, a group or the email holds a
 *   control character, DEL or a lone surrogate.
 */
export function headerSafeIdentity<T extends HeaderBoundValues>(identity: T, claims: IdentityClaimNames = { userId: 'sub', groups: 'groups' }): T {
  const refuse = (claim: string) => TokenRejectedError.refusal('ERR_CLAIM_HEADER_UNSAFE', 'a claim that becomes a header holds a control character or a lone surrogate', { claim })
  if (NOT_HEADER_TEXT.test(identity.userId)) throw refuse(claims.userId)
  if (identity.groups.some((group) => NOT_HEADER_TEXT.test(group))) throw refuse(claims.groups)
  if (identity.email !== undefined && NOT_HEADER_TEXT.test(identity.email)) throw refuse('email')
  const groups = identity.groups.filter((group) => !group.includes(','))
  if (groups.length === identity.groups.length) return identity
  return { ...identity, groups, codes: [...(identity.codes ?? []), 'ERR_GROUP_NAME_INVALID'] }
}
