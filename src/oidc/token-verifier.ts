/**
 * Verifies a bearer JWT from Dex (OIDC_PROVIDER) or an EXTRA_JWT_ISSUERS issuer.
 *
 * Cheap shape checks run before any cryptography, so junk cannot burn CPU: size, three base64url
 * parts, a JSON header whose `alg` is on the allowlist (never `none`, never HMAC: RFC 8725 §3.1-3.2)
 * with a `kid`, no `crit`, and an `iss` we know. Then the signature (oidc/jws-signature.ts) and the
 * claims (RFC 7519 §4.1, OIDC Core §3.1.3.7): exact `iss`, `aud` containing our audience, `azp`
 * equal to it when present, `exp` and `iat` present, `exp`/`nbf`/`iat` within the clock skew, `sub`
 * present.
 */
import type { JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import { TokenRejectedError } from '../errors.js'
import type { Issuer } from './issuer.js'
import { hasValidSignature, keyFitsAlgorithm } from './jws-signature.js'

export interface VerifiedToken {
  readonly token: string
  readonly issuer: string
  /** True for OIDC_PROVIDER (Dex) tokens, false for EXTRA_JWT_ISSUERS tokens. */
  readonly primary: boolean
  readonly claims: JWTPayload
  /** `exp` in milliseconds. */
  readonly expiresAtMs: number
}

export interface TokenVerifier {
  /** @throws TokenRejectedError (refused credential) or ProviderUnavailableError (keys unavailable). */
  verify(token: string): Promise<VerifiedToken>
}

export interface TrustedIssuer {
  readonly issuer: Issuer
  /** The audience (or any of the audiences) a token must carry. */
  readonly audience: string | readonly string[]
  readonly primary: boolean
}

export interface TokenVerifierOptions {
  issuers: readonly TrustedIssuer[]
  algorithms: readonly string[]
  clockSkewSeconds: number
  maxTokenBytes: number
  clock: Clock
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

const reject = (code: ConstructorParameters<typeof TokenRejectedError>[0], message: string, claim?: string) =>
  new TokenRejectedError(code, message, claim === undefined ? undefined : { claim })

function decodeJson(part: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    throw reject('ERR_TOKEN_MALFORMED', 'token is not a JWT')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw reject('ERR_TOKEN_MALFORMED', 'token is not a JWT')
  }
  return value as Record<string, unknown>
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = new Set(options.algorithms)
  const byIssuer = new Map(
    options.issuers.map((trusted) => [trusted.issuer.issuer, { ...trusted, audiences: [trusted.audience].flat() }]),
  )

  return {
    async verify(token) {
      if (token.length > options.maxTokenBytes) throw reject('ERR_TOKEN_TOO_LARGE', 'token too large')
      if (!COMPACT_JWS.test(token)) throw reject('ERR_TOKEN_MALFORMED', 'token is not a signed JWT')
      const [headerPart, payloadPart] = token.split('.', 2) as [string, string]
      const header = decodeJson(headerPart)
      if (typeof header.alg !== 'string' || !algorithms.has(header.alg)) {
        throw reject('ERR_TOKEN_ALG_NOT_ALLOWED', 'token algorithm not allowed')
      }
      if (header.crit !== undefined) throw reject('ERR_TOKEN_MALFORMED', 'token has critical extensions', 'crit')
      if (typeof header.kid !== 'string' || header.kid === '') {
        throw reject('ERR_TOKEN_UNKNOWN_KEY', 'token names no key', 'kid')
      }
      const payload = decodeJson(payloadPart)
      const trusted = typeof payload.iss === 'string' ? byIssuer.get(payload.iss) : undefined
      if (!trusted) throw reject('ERR_TOKEN_UNKNOWN_ISSUER', 'token issuer not trusted', 'iss')

      const key = await trusted.issuer.keys.keyFor(header.kid, header.alg)
      // The key set only hands out keys imported for `alg`; checked again so no path can mix them.
      if (!keyFitsAlgorithm(key, header.alg)) throw reject('ERR_TOKEN_MALFORMED', 'token algorithm does not fit its key')
      if (!(await hasValidSignature(token, header.alg, key))) throw reject('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid')

      const claims = payload as JWTPayload
      const now = options.clock.now()
      const skewMs = options.clockSkewSeconds * 1000
      if (typeof claims.exp !== 'number') throw reject('ERR_TOKEN_CLAIM_INVALID', 'token has no valid exp', 'exp')
      if (claims.exp * 1000 <= now - skewMs) throw reject('ERR_TOKEN_EXPIRED', 'token expired', 'exp')
      if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf * 1000 > now + skewMs)) {
        throw reject('ERR_TOKEN_CLAIM_INVALID', 'token not valid yet', 'nbf')
      }
      const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : []
      if (!audiences.some((audience) => trusted.audiences.includes(audience))) {
        throw reject('ERR_TOKEN_CLAIM_INVALID', 'token is for another audience', 'aud')
      }
      if (typeof claims.sub !== 'string' || claims.sub === '') throw reject('ERR_TOKEN_CLAIM_INVALID', 'token has no subject', 'sub')
      if (typeof claims.iat !== 'number' || claims.iat * 1000 > now + skewMs) {
        throw reject('ERR_TOKEN_CLAIM_INVALID', 'token has no valid iat, or one in the future', 'iat')
      }
      // With several audiences, the token must have been issued to us (azp), not to a peer client.
      const severalAudiences = Array.isArray(claims.aud) && claims.aud.length > 1
      if ((severalAudiences || claims.azp !== undefined) && !trusted.audiences.includes(claims.azp as string)) {
        throw reject('ERR_TOKEN_CLAIM_INVALID', 'token authorized party is another client', 'azp')
      }
      return { token, issuer: trusted.issuer.issuer, primary: trusted.primary, claims, expiresAtMs: (claims.exp as number) * 1000 }
    },
  }
}
