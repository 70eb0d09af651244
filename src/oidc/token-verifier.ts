/**
 * Verifies a bearer JWT from Dex (OIDC_PROVIDER) or an EXTRA_JWT_ISSUERS issuer.
 *
 * Cheap checks run first and refuse junk before any key lookup or cryptography (issue #17: a refusal
 * must cost less than an allow), cheapest first: size, three base64url parts, a header that is a JSON
 * object (tested by its first and last bytes before JSON.parse, whose exception would cost more than
 * the whole check), `alg` on the allowlist (never `none`, never HMAC: RFC 8725 §3.1-3.2), no `crit`,
 * a `kid` some trusted issuer publishes or may still fetch, then the claims' JSON and an `iss` we
 * know. Only then a key lookup and the signature (oidc/jws-signature.ts), each counted (`counts`), and the
 * claims (RFC 7519 §4.1, OIDC Core §3.1.3.7): exact `iss`, `aud` containing our audience, `azp`
 * equal to it when present, `exp` and `iat` present, `exp`/`nbf`/`iat` within the clock skew, `sub`
 * present.
 *
 * test/differential/token-verifier.test.ts holds this against jose's `jwtVerify` on thousands of
 * generated tokens a run: we accept exactly what jose accepts, except where a rule named there
 * makes us stricter.
 */
import { isUtf8 } from 'node:buffer'
import type { JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import { TokenRejectedError } from '../errors.js'
import type { Issuer } from './issuer.js'
import { compactJwsDots } from './compact-jws.js'
import { hasValidSignature, keyFitsAlgorithm } from './jws-signature.js'
import type { Refetch, VerificationKey } from './key-set.js'

export interface VerifiedToken {
  readonly token: string
  readonly issuer: string
  /** True for OIDC_PROVIDER (Dex) tokens, false for EXTRA_JWT_ISSUERS tokens. */
  readonly primary: boolean
  readonly claims: JWTPayload
  /** `exp` in milliseconds. */
  readonly expiresAtMs: number
  /** The `kid` of the key that verified it (so the cache can drop it when that key is replaced). */
  readonly kid?: string
}

export interface TokenVerifier {
  /**
   * The verified token, or the refusal as a value: on the check path a refused credential is an
   * answer, and a rejected promise through each async layer (with Node's unhandled-rejection
   * bookkeeping) cost junk more than a cached valid token (issue #17). verifyToken() throws it instead.
   * @throws ProviderUnavailableError (keys unavailable)
   */
  check(token: string): Promise<VerifiedToken | TokenRejectedError>
}

/** The verified token; a refusal thrown (login and refresh, where a refused ID token ends the operation). */
export async function verifyToken(verifier: TokenVerifier, token: string): Promise<VerifiedToken> {
  const checked = await verifier.check(token)
  if (checked instanceof TokenRejectedError) throw checked
  return checked
}

export interface TrustedIssuer {
  readonly issuer: Issuer
  /** The audience (or any of the audiences) a token must carry. */
  readonly audience: string | readonly string[]
  readonly primary: boolean
  /**
   * Legacy secret-based Kubernetes service-account tokens (issuer `kubernetes/serviceaccount`): no
   * `exp`, `iat` or `aud`, only a `sub` naming the service account. Signature checked as any other.
   */
  readonly legacyServiceAccount?: boolean
}

/**
 * How often verification reached its costly steps: plain numbers on the hot path, read when
 * Prometheus scrapes (ops/metrics.ts). Owned by whoever creates the verifiers; several may share one.
 */
export interface VerificationCounts {
  /** A key found for a token's kid (an unknown kid's rate-limited refetch shows in the JWKS fetch count instead). */
  keyLookups: number
  /** Signatures checked with node:crypto. */
  signatureChecks: number
}

export interface TokenVerifierOptions {
  issuers: readonly TrustedIssuer[]
  algorithms: readonly string[]
  clockSkewSeconds: number
  maxTokenBytes: number
  clock: Clock
  /**
   * How a key problem may wait for the provider (oidc/key-set.ts Refetch). `rate-limited` (bearer
   * checks, the default): an unknown kid refetches at most every few seconds, and a signature that
   * fails under a known kid starts that refetch in the background and is refused now, so no check
   * waits on a refetch that a forged token provoked. `now` (ID tokens straight from the token
   * endpoint: the callback and refresh): both wait for one shared refetch, and a failed signature is
   * checked once more against the key then published under its kid, so logins keep working right
   * after the provider re-keys.
   */
  keyRefetch?: Refetch
  counts?: VerificationCounts
}

/** The base64url alphabet without padding (RFC 7515 §2, RFC 4648 §5), checked part by part as each is needed. */
const BASE64URL = /^[A-Za-z0-9_-]*$/

const reject = (code: ConstructorParameters<typeof TokenRejectedError>[0], message: string, claim?: string) =>
  TokenRejectedError.refusal(code, message, claim === undefined ? undefined : { claim })

/** JSON's insignificant whitespace (RFC 8259 §2): space, tab, line feed, carriage return. */
const isJsonSpace = (byte: number | undefined) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d

/**
 * True when `bytes` may be a JSON object: `{` and `}` are its first and last bytes besides
 * whitespace. Refuses most junk without JSON.parse, whose SyntaxError (a stack captured per throw)
 * made `x.y.z` the dearest refusal of all: ~2.5× a cached valid token (npm run bench, issue #17).
 */
function bracesAnObject(bytes: Buffer): boolean {
  let first = 0
  let last = bytes.length - 1
  while (isJsonSpace(bytes[first])) first++
  while (last > first && isJsonSpace(bytes[last])) last--
  return last > first && bytes[first] === 0x7b && bytes[last] === 0x7d
}

/** A base64url part as a JSON object, else the refusal; its bytes must be UTF-8 (RFC 7515 §5.2, as jose decodes them), with no byte-order mark. */
function decodeJson(part: string): Record<string, unknown> | TokenRejectedError {
  const bytes = Buffer.from(part, 'base64url')
  if (!bracesAnObject(bytes) || !isUtf8(bytes)) return reject('ERR_TOKEN_MALFORMED', 'token is not a JWT')
  try {
    // Text that parses between a leading `{` and a trailing `}` is an object: never null, an array or a scalar.
    return JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
  } catch {
    return reject('ERR_TOKEN_MALFORMED', 'token is not a JWT')
  }
}

/** What the key-free checks established: the header's alg and kid, the claims and their trusted issuer. */
interface Screened {
  readonly alg: string
  readonly kid: string
  readonly claims: JWTPayload
  readonly trusted: TrustedIssuer & { readonly audiences: readonly string[] }
}

const SERVICE_ACCOUNT_SUBJECT = /^system:serviceaccount:[^:]+:[^:]+$/

/** A legacy service-account token never expires (only a TokenReview sees its secret deleted). */
function legacyServiceAccountToken(token: string, issuer: string, claims: JWTPayload, kid: string): VerifiedToken {
  for (const claim of ['exp', 'iat', 'nbf', 'aud'] as const) {
    if (claims[claim] !== undefined) throw reject('ERR_TOKEN_CLAIM_INVALID', 'not a legacy service-account token', claim)
  }
  if (typeof claims.sub !== 'string' || !SERVICE_ACCOUNT_SUBJECT.test(claims.sub)) {
    throw reject('ERR_TOKEN_CLAIM_INVALID', 'token names no service account', 'sub')
  }
  return { token, issuer, primary: false, claims, expiresAtMs: Number.POSITIVE_INFINITY, kid }
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = new Set(options.algorithms)
  const refetch = options.keyRefetch ?? 'rate-limited'
  const counts = options.counts ?? { keyLookups: 0, signatureChecks: 0 }

  /** The signature checked with `key`, which must fit `alg` (the key set imports per algorithm; checked again so no path can mix them). */
  async function signedBy(token: string, alg: string, key: VerificationKey): Promise<boolean> {
    if (!keyFitsAlgorithm(key, alg)) throw reject('ERR_TOKEN_MALFORMED', 'token algorithm does not fit its key')
    counts.signatureChecks++
    return hasValidSignature(token, alg, key)
  }
  const byIssuer = new Map(
    options.issuers.map((trusted) => [trusted.issuer.issuer, { ...trusted, audiences: [trusted.audience].flat() }]),
  )
  const keySets = [...new Set(options.issuers.map((trusted) => trusted.issuer.keys))]
  /** No trusted issuer publishes `kid` nor may fetch its keys now: whatever the claims say, the lookup would refuse. */
  const unknownEverywhere = (kid: string) => keySets.every((keys) => keys.refusesNow(kid, refetch))

  /**
   * The checks that need no key, cheapest first, as a value: the refusal, or what the key lookup and
   * the claims' checks go on with. No promise, no throw: most junk ends here.
   */
  function screen(token: string): Screened | TokenRejectedError {
    if (token.length > options.maxTokenBytes) return reject('ERR_TOKEN_TOO_LARGE', 'token too large')
    const dots = compactJwsDots(token)
    if (dots === undefined) return reject('ERR_TOKEN_MALFORMED', 'token is not a signed JWT')
    // The header is a few dozen characters: its alphabet first; the claims' and the signature's
    // (most of the token) only once the header has not refused it.
    const headerPart = token.slice(0, dots.first)
    if (!BASE64URL.test(headerPart)) return reject('ERR_TOKEN_MALFORMED', 'token is not a signed JWT')
    const header = decodeJson(headerPart)
    if (header instanceof TokenRejectedError) return header
    if (typeof header.alg !== 'string' || !algorithms.has(header.alg)) {
      return reject('ERR_TOKEN_ALG_NOT_ALLOWED', 'token algorithm not allowed')
    }
    if (header.crit !== undefined) return reject('ERR_TOKEN_MALFORMED', 'token has critical extensions', 'crit')
    if (typeof header.kid !== 'string' || header.kid === '') {
      return reject('ERR_TOKEN_UNKNOWN_KEY', 'token names no key', 'kid')
    }
    // Before the claims are decoded: a kid no issuer knows is refused for the price of a map lookup.
    if (unknownEverywhere(header.kid)) return reject('ERR_TOKEN_UNKNOWN_KEY', 'token signed by an unknown key', 'kid')
    const payloadPart = token.slice(dots.first + 1, dots.last)
    if (!BASE64URL.test(payloadPart) || !BASE64URL.test(token.slice(dots.last + 1))) {
      return reject('ERR_TOKEN_MALFORMED', 'token is not a signed JWT')
    }
    const payload = decodeJson(payloadPart)
    if (payload instanceof TokenRejectedError) return payload
    const trusted = typeof payload.iss === 'string' ? byIssuer.get(payload.iss) : undefined
    if (!trusted) return reject('ERR_TOKEN_UNKNOWN_ISSUER', 'token issuer not trusted', 'iss')
    return { alg: header.alg, kid: header.kid, claims: payload as JWTPayload, trusted }
  }

  /** The key, the signature and the claims of a token the screen let through; a refusal is thrown here, after the costly part. */
  async function confirm(token: string, { alg, kid, claims, trusted }: Screened): Promise<VerifiedToken> {
    const keys = trusted.issuer.keys
    const key = await keys.keyFor(kid, alg, refetch)
    counts.keyLookups++
    if (!(await signedBy(token, alg, key))) {
      // The provider may have put new material under this kid: look again (see keyRefetch).
      const rechecked = keys.recheck(kid, alg, refetch)
      const replaced = refetch === 'now' ? await rechecked : undefined
      if (replaced === undefined || !(await signedBy(token, alg, replaced))) {
        throw reject('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid')
      }
    }

    if (trusted.legacyServiceAccount) return legacyServiceAccountToken(token, trusted.issuer.issuer, claims, kid)
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
    return { token, issuer: trusted.issuer.issuer, primary: trusted.primary, claims, expiresAtMs: (claims.exp as number) * 1000, kid }
  }

  return {
    async check(token) {
      const screened = screen(token)
      if (screened instanceof TokenRejectedError) return screened
      try {
        return await confirm(token, screened)
      } catch (error) {
        if (error instanceof TokenRejectedError) return error
        throw error
      }
    },
  }
}
