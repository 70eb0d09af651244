/**
 * The signature of a compact JWS (RFC 7515 §5.2 steps 8–9), checked with node:crypto on a key
 * already imported for its algorithm (oidc/key-set.ts).
 *
 * Why not jose's jwtVerify here: jose verifies through WebCrypto, whose per-token overhead makes
 * the same RS256 check cost about twice the CPU of node:crypto's one-shot `verify` (≈38 against
 * ≈21 µs per token on the benchmark machine, 50 in flight), and on a cache miss it is most of the
 * check. jose still imports the keys (JWK → key, with its checks that a key fits its algorithm).
 *
 * Why the callback form of `verify` (the libuv thread pool) rather than the synchronous one: a
 * cache miss then does not hold the event loop for the ~21 µs of RSA arithmetic, so cached checks
 * keep flowing during a burst of new tokens, a pod with more than one core verifies in parallel,
 * and answers leave in batches — `npm run bench` A/B runs measured the cache miss at 64–71 µs of
 * CPU per check against 70–79 µs with the synchronous call, on one core.
 */
import { constants, verify, type AsymmetricKeyDetails, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto'

interface AlgorithmSpec {
  /** node:crypto digest name, or null for EdDSA (the hash is part of the algorithm). */
  readonly digest: string | null
  /** The key types (KeyObject.asymmetricKeyType) the algorithm may be used with. */
  readonly keyTypes: readonly string[]
  /** ES*: the named curve (RFC 7518 §3.4). */
  readonly curve?: string
  readonly options?: Omit<VerifyKeyObjectInput, 'key'>
}

const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
/** JWS ECDSA signatures are R || S, fixed width (RFC 7518 §3.4), not DER. */
const P1363 = { dsaEncoding: 'ieee-p1363' } as const

const ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = {
  RS256: { digest: 'sha256', keyTypes: ['rsa'] },
  RS384: { digest: 'sha384', keyTypes: ['rsa'] },
  RS512: { digest: 'sha512', keyTypes: ['rsa'] },
  PS256: { digest: 'sha256', keyTypes: ['rsa', 'rsa-pss'], options: PSS },
  PS384: { digest: 'sha384', keyTypes: ['rsa', 'rsa-pss'], options: PSS },
  PS512: { digest: 'sha512', keyTypes: ['rsa', 'rsa-pss'], options: PSS },
  ES256: { digest: 'sha256', keyTypes: ['ec'], curve: 'prime256v1', options: P1363 },
  ES384: { digest: 'sha384', keyTypes: ['ec'], curve: 'secp384r1', options: P1363 },
  ES512: { digest: 'sha512', keyTypes: ['ec'], curve: 'secp521r1', options: P1363 },
  EdDSA: { digest: null, keyTypes: ['ed25519', 'ed448'] },
}

/** RFC 7518 §3.3 and §3.5: RSA keys of at least 2048 bits. */
const MIN_RSA_BITS = 2048

/** True when `key` may verify `alg` signatures: the right key type, curve and size. */
export function keyFitsAlgorithm(key: KeyObject, alg: string): boolean {
  const spec = ALGORITHMS[alg]
  // A public key always has a type and details (only secret keys lack them, and type rules those out).
  if (spec === undefined || key.type !== 'public' || !spec.keyTypes.includes(key.asymmetricKeyType as string)) return false
  const details = key.asymmetricKeyDetails as AsymmetricKeyDetails
  if (spec.curve !== undefined) return details.namedCurve === spec.curve
  if (spec.keyTypes[0] === 'rsa') return (details.modulusLength as number) >= MIN_RSA_BITS
  return true
}

/**
 * Resolves true when `token` (a compact JWS whose shape the caller checked) carries a valid `alg`
 * signature by `key`. The caller has checked keyFitsAlgorithm (once per imported key); a malformed
 * signature is simply not valid, and so is one node:crypto reports an error for.
 */
export function hasValidSignature(token: string, alg: string, key: KeyObject): Promise<boolean> {
  const spec = ALGORITHMS[alg]
  const dot = token.lastIndexOf('.')
  if (spec === undefined || dot === -1) return Promise.resolve(false)
  const signingInput = Buffer.from(token.slice(0, dot), 'latin1')
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  // A signature of the wrong length (ECDSA's R || S included) is simply not valid: verify is false.
  return new Promise((resolve) => {
    verify(spec.digest, signingInput, spec.options ? { key, ...spec.options } : key, signature, (error, valid) => resolve(error === null && valid))
  })
}
