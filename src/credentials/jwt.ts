/**
 * What every JWT source shares: the token is verified (signature, issuer, audience, lifetime) by the
 * verifier, which picks the one trusted issuer by the token's unverified `iss` — Dex (the primary
 * issuer) or an EXTRA_JWT_ISSUERS entry — and the identity is derived from its claims.
 */
import { AuthServiceError, ProviderUnavailableError, TokenRejectedError } from '../errors.js'
import { identityFromClaims, type IdentityRules } from '../identity/identity.js'
import type { TokenVerifier } from '../oidc/token-verifier.js'
import type { CarryingRequest, CredentialSource, Established, SourceName } from './ports.js'

export interface JwtSourceDependencies {
  readonly verifier: TokenVerifier
  readonly identityRules: IdentityRules
  /** Told about credentials that failed for an unexpected reason (a bug, not a bad token). */
  readonly onUnexpectedError?: (error: unknown) => void
}

export function createJwtSource(
  name: SourceName,
  carried: (request: CarryingRequest) => string | undefined,
  deps: JwtSourceDependencies,
): CredentialSource {
  return {
    name,
    carried,
    // Verifying has no side effect beyond the verified-token cache, so a dry run verifies the same way.
    async establish(token): Promise<Established> {
      try {
        const verified = await deps.verifier.check(token)
        if (verified instanceof TokenRejectedError) return { status: 'rejected', code: verified.code }
        return { status: 'valid', identity: identityFromClaims(verified.claims, deps.identityRules, verified) }
      } catch (error) {
        return verificationFailure(error, deps.onUnexpectedError)
      }
    },
  }
}

/** What a token's verification failure means: keys unavailable, a refusal with its code, or a bug (refused: fail closed). */
export function verificationFailure(error: unknown, onUnexpectedError: ((error: unknown) => void) | undefined): Established {
  if (error instanceof ProviderUnavailableError) return { status: 'unavailable', what: 'provider' }
  if (error instanceof AuthServiceError) return { status: 'rejected', code: error.code }
  onUnexpectedError?.(error)
  return { status: 'rejected', code: 'ERR_TOKEN_MALFORMED' }
}
