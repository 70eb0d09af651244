/**
 * The hand-written token path (oidc/token-verifier.ts, the key set's imports in oidc/key-set.ts,
 * the signatures of oidc/jws-signature.ts) against the reference: jose's `jwtVerify` with the same
 * keys (a local JWKS of the same JWKs), algorithms, issuer, audience and clock tolerance (issue 15).
 *
 * fast-check generates thousands of tokens per run over a fixed pool of keys made once (RSA key
 * generation per case would take minutes): valid ones, expired, not yet valid, issued in the
 * future, for other audiences and issuers, with several audiences with and without `azp`, `crit`,
 * `alg: none`, HS256 keyed with a published public key, keys of the wrong type or curve, a short
 * RSA key, keys not meant for signatures, truncated, extended and re-encoded signatures, duplicate
 * JSON members, non-canonical base64url, invalid UTF-8, byte-order marks and tokens over the size
 * limit. For every token:
 *
 * - whatever we accept, jose accepts, with the same claims (we are never more lenient);
 * - whatever jose accepts and we refuse is explained by one of the STRICTER rules below, and our
 *   refusal carries that rule's code (we are stricter only where we mean to be);
 * - a token a STRICTER rule applies to is refused by us, whatever jose says;
 * - every refusal is a TokenRejectedError with a code, never another exception.
 *
 * The seed is printed (and on failure with the counterexample); rerun one with
 * `DIFF_SEED=<seed> npx tap test/differential/token-verifier.test.ts`; `DIFF_RUNS` sets the count.
 * The clock is on a whole second: jose floors the current time to seconds and we do not, so a
 * fractional "now" would make the two differ by design at the edge of a second.
 */
import assert from 'node:assert/strict'
import { isUtf8 } from 'node:buffer'
import { constants, createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import fc from 'fast-check'
import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose'
import t from 'tap'
import { TokenRejectedError } from '../../src/errors.js'
import type { Issuer } from '../../src/oidc/issuer.js'
import { createKeySet, type KeySet } from '../../src/oidc/key-set.js'
import { createTokenVerifier, verifyToken } from '../../src/oidc/token-verifier.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const CLIENT_ID = 'kubeflow-oidc-authservice'
const SECOND_AUDIENCE = 'pipelines.kubeflow.org'
const OTHER = 'peer-client'
const NOW_S = 1_750_000_000
const NOW_MS = NOW_S * 1000
const RUNS = Number(process.env.DIFF_RUNS ?? 5_000)
const SEED = Number(process.env.DIFF_SEED ?? randomBytes(4).readInt32LE())

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
const HEADER_ALGS = [...ASYMMETRIC, 'HS256', 'none', 'rs256', ''] as const

// --- The key pool: made once, published (or not) as a JWKS both verifiers read. ---

interface PoolKey {
  readonly name: string
  readonly privateKey: KeyObject
  readonly publicJwk: JWK
  /** SPKI PEM: what a key-confusion attacker uses as an HMAC secret. */
  readonly publicPem: string
  /** As published in the JWKS; undefined for a key of the attacker's, never published. */
  readonly jwk: JWK | undefined
  /** The algorithm this key normally signs with. */
  readonly alg: (typeof ASYMMETRIC)[number]
}

function poolKey(name: string, alg: PoolKey['alg'], generate: () => { privateKey: KeyObject; publicKey: KeyObject }, publish: Partial<JWK> | undefined): PoolKey {
  const { privateKey, publicKey } = generate()
  const publicJwk = publicKey.export({ format: 'jwk' })
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' }) as string
  const jwk = publish === undefined ? undefined : { ...publicJwk, kid: name, ...publish }
  return { name, privateKey, publicJwk, publicPem, jwk, alg }
}

const rsa = (modulusLength = 2048) => () => generateKeyPairSync('rsa', { modulusLength })
const ec = (namedCurve: string) => () => generateKeyPairSync('ec', { namedCurve })

function makePool(): PoolKey[] {
  return [
    poolKey('rsa-rs256', 'RS256', rsa(), { use: 'sig', alg: 'RS256' }),
    poolKey('rsa-any', 'PS256', rsa(), {}), // no alg, no use: any RS*/PS* algorithm
    poolKey('rsa-ps384', 'PS384', rsa(), { use: 'sig', alg: 'PS384' }),
    poolKey('rsa-1024', 'RS256', rsa(1024), { use: 'sig', alg: 'RS256' }), // too short (RFC 7518 §3.3)
    poolKey('rsa-enc', 'RS256', rsa(), { use: 'enc' }), // not a signing key
    poolKey('rsa-sign-ops', 'RS512', rsa(), { key_ops: ['sign'] }), // key_ops without verify
    poolKey('rsa-verify-ops', 'RS384', rsa(), { key_ops: ['verify'] }),
    poolKey('ec-p256', 'ES256', ec('prime256v1'), { use: 'sig', alg: 'ES256' }),
    poolKey('ec-p384', 'ES384', ec('secp384r1'), {}),
    poolKey('ec-p521', 'ES512', ec('secp521r1'), { alg: 'ES512' }),
    poolKey('ed25519', 'EdDSA', () => generateKeyPairSync('ed25519'), { use: 'sig', alg: 'EdDSA' }),
    poolKey('attacker-rsa', 'RS256', rsa(), undefined),
    poolKey('attacker-ec', 'ES256', ec('prime256v1'), undefined),
  ]
}

// --- The generated case: a valid token and up to two changes to it (data only, so fast-check
// can shrink and print it). One change at a time shows which rule decides; two, how they interact.

type PartEncoding = 'canonical' | 'stray-bits' | 'padded' | 'whitespace' | 'standard-alphabet' | 'bom'
type SignatureChange = 'none' | 'truncated' | 'halved' | 'extended' | 'flipped' | 'stray-bits' | 'padded' | 'whitespace' | 'standard-alphabet' | 'empty' | 'another-token'

/** The token and the verifier's settings a case ends up with. */
interface Resolved {
  algorithms: readonly string[]
  audiences: readonly string[]
  skew: number
  maxTokenBytes: number
  signer: string
  alg: string
  kid: 'signer' | 'other' | 'unknown' | 'absent' | 'empty' | 'number'
  hmacSecret: 'pem' | 'jwk'
  typ: string | undefined
  crit: 'b64' | 'unknown' | 'empty' | undefined
  foreignKeyHints: boolean
  headerDuplicate: 'none' | 'alg-none-first' | 'alg-none-last' | 'kid-unknown-last'
  iss: unknown
  sub: unknown
  audience: { readonly aud?: unknown; readonly azp?: unknown }
  exp: unknown
  nbf: unknown
  iat: unknown
  claimsDuplicate: 'none' | 'aud-other-first' | 'aud-other-last' | 'exp-past-last'
  paddingBytes: number
  invalidUtf8: boolean
  headerEncoding: PartEncoding
  payloadEncoding: PartEncoding
  signature: SignatureChange
  parts: 'three' | 'four' | 'two'
}

const pick = <T>(...weighted: Array<[weight: number, value: T]>): fc.Arbitrary<T> =>
  fc.oneof(...weighted.map(([weight, value]) => ({ weight, arbitrary: fc.constant(value) })))

/** Times around the edges: now, the skew either side, far past and future, fractions, not numbers. */
const OFFSETS = [-100_000, -301, -300, -31, -30, -29, -1, -0.5, 0, 0.5, 1, 29, 30, 31, 299, 300, 301, 3_600]
const edgeTimes = [...OFFSETS.map((offset) => NOW_S + offset), String(NOW_S + 60), null, Infinity, -Infinity, [NOW_S]]

/** What each change may set (the valid token has none of these). */
const CHANGES: { readonly [K in keyof Resolved]?: { readonly weight: number; readonly values: readonly Resolved[K][] } } = {
  algorithms: { weight: 2, values: [['RS256'], ['ES256', 'EdDSA'], ['PS256', 'PS384', 'PS512'], ['RS384', 'RS512'], ['ES384', 'ES512'], ['RS256', 'HS256']] },
  maxTokenBytes: { weight: 1, values: [1_024, 2_048] },
  signer: { weight: 2, values: ['rsa-1024', 'rsa-enc', 'rsa-sign-ops', 'attacker-rsa', 'attacker-ec'] },
  alg: { weight: 3, values: [...HEADER_ALGS] },
  kid: { weight: 2, values: ['other', 'unknown', 'absent', 'empty', 'number'] },
  typ: { weight: 1, values: ['JWT', 'at+jwt'] },
  crit: { weight: 1, values: ['b64', 'unknown', 'empty'] },
  foreignKeyHints: { weight: 1, values: [true] },
  headerDuplicate: { weight: 1, values: ['alg-none-first', 'alg-none-last', 'kid-unknown-last'] },
  iss: { weight: 2, values: [`${ISSUER}/`, 'https://evil.example/dex', undefined, [ISSUER]] },
  sub: { weight: 1, values: ['', undefined, 42] },
  audience: {
    weight: 5,
    values: [
      { aud: SECOND_AUDIENCE }, { aud: OTHER }, { aud: [CLIENT_ID] }, { aud: [OTHER, CLIENT_ID], azp: CLIENT_ID }, { aud: [OTHER, CLIENT_ID] },
      { aud: [OTHER, CLIENT_ID], azp: OTHER }, { aud: [OTHER, 'another-peer'], azp: CLIENT_ID }, { aud: [OTHER, 'another-peer'] },
      { aud: [CLIENT_ID, SECOND_AUDIENCE], azp: SECOND_AUDIENCE }, { aud: [CLIENT_ID, CLIENT_ID] }, { aud: CLIENT_ID, azp: CLIENT_ID },
      { aud: CLIENT_ID, azp: OTHER }, { aud: CLIENT_ID, azp: SECOND_AUDIENCE }, {}, { aud: 42 }, { aud: [42] }, { aud: [42, CLIENT_ID], azp: CLIENT_ID },
    ],
  },
  exp: { weight: 3, values: [...edgeTimes, undefined] },
  nbf: { weight: 2, values: edgeTimes },
  iat: { weight: 2, values: [...edgeTimes, undefined] },
  claimsDuplicate: { weight: 1, values: ['aud-other-first', 'aud-other-last', 'exp-past-last'] },
  paddingBytes: { weight: 1, values: [2_000, 20_000] },
  invalidUtf8: { weight: 1, values: [true] },
  headerEncoding: { weight: 1, values: ['stray-bits', 'padded', 'whitespace', 'standard-alphabet', 'bom'] },
  payloadEncoding: { weight: 1, values: ['stray-bits', 'padded', 'whitespace', 'standard-alphabet', 'bom'] },
  signature: { weight: 2, values: ['truncated', 'halved', 'extended', 'flipped', 'stray-bits', 'padded', 'whitespace', 'standard-alphabet', 'empty', 'another-token'] },
  parts: { weight: 1, values: ['four', 'two'] },
}

const change = fc.oneof(
  ...Object.entries(CHANGES).map(([field, { weight, values }]) => ({
    weight,
    arbitrary: fc.record({ field: fc.constant(field as keyof Resolved), value: fc.constantFrom(...(values as readonly unknown[])) }),
  })),
)

/** Pool keys whose tokens can verify (published, for signatures, long enough). */
const USABLE = ['rsa-rs256', 'rsa-any', 'rsa-ps384', 'rsa-verify-ops', 'ec-p256', 'ec-p384', 'ec-p521', 'ed25519']

const caseArbitrary = fc.record({
  signer: fc.constantFrom(...USABLE),
  audiences: pick<readonly string[]>([3, [CLIENT_ID]], [1, [CLIENT_ID, SECOND_AUDIENCE]]),
  skew: fc.constantFrom(0, 30, 300),
  hmacSecret: pick<'pem' | 'jwk'>([1, 'pem'], [1, 'jwk']),
  changes: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 5, arbitrary: fc.tuple(change) }, { weight: 2, arbitrary: fc.tuple(change, change) }),
})
type Case = typeof caseArbitrary extends fc.Arbitrary<infer C> ? C : never

function resolve(c: Case, pool: readonly PoolKey[]): Resolved {
  const signer = pool.find((key) => key.name === c.signer) as PoolKey
  const valid: Resolved = {
    algorithms: ASYMMETRIC, audiences: c.audiences, skew: c.skew, maxTokenBytes: 16_384,
    signer: c.signer, alg: signer.alg, kid: 'signer', hmacSecret: c.hmacSecret, typ: undefined, crit: undefined, foreignKeyHints: false, headerDuplicate: 'none',
    iss: ISSUER, sub: 'Cg4xNTg0MTE4NTY0MTc4NBIFbG9jYWw', audience: { aud: CLIENT_ID }, exp: NOW_S + 600, nbf: undefined, iat: NOW_S - 10,
    claimsDuplicate: 'none', paddingBytes: 0, invalidUtf8: false, headerEncoding: 'canonical', payloadEncoding: 'canonical', signature: 'none', parts: 'three',
  }
  const resolved = { ...valid }
  for (const { field, value } of c.changes) (resolved as Record<string, unknown>)[field] = value
  // A changed signer signs with its own algorithm unless the algorithm changed too.
  if (!c.changes.some(({ field }) => field === 'alg')) resolved.alg = (pool.find((key) => key.name === resolved.signer) as PoolKey).alg
  return resolved
}

// --- Building the token a case describes. ---

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The same bytes spelled another way (or, for `bom`, the bytes behind a byte-order mark). */
function encodePart(bytes: Buffer, how: PartEncoding | SignatureChange): string {
  const canonical = (how === 'bom' ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]) : bytes).toString('base64url')
  switch (how) {
    case 'stray-bits': {
      // Set the unused low bits of the last character: decoders ignore them.
      const rest = canonical.length % 4
      if (rest < 2) return canonical
      const last = BASE64URL.indexOf(canonical.at(-1) as string) | (rest === 2 ? 0b1111 : 0b11)
      return canonical.slice(0, -1) + BASE64URL[last]
    }
    case 'padded':
      return canonical + '='.repeat((4 - (canonical.length % 4)) % 4 || 2)
    case 'whitespace':
      return `${canonical.slice(0, 8)} ${canonical.slice(8, 16)}\n${canonical.slice(16)}`
    case 'standard-alphabet':
      return bytes.toString('base64').replace(/=+$/, '')
    default:
      return canonical
  }
}

const DIGEST: Record<string, string> = { 256: 'sha256', 384: 'sha384', 512: 'sha512' }

/** A signature of `input` as `alg` by `key` — or, where the key cannot make one, bytes that look like one. */
function signatureOf(alg: string, key: PoolKey, secret: Buffer, input: Buffer): Buffer {
  const type = key.privateKey.asymmetricKeyType
  const digest = DIGEST[alg.slice(2)]
  if (alg === 'none' || alg === '') return Buffer.alloc(0)
  if (alg === 'HS256') return createHmac('sha256', secret).update(input).digest()
  if (alg.startsWith('RS') && type === 'rsa') return sign(digest as string, input, key.privateKey)
  // PS512 with its 64-byte salt needs a modulus of at least 1040 bits (RFC 8017 §9.1.1): a 1024-bit
  // key cannot make one ("data too large for key size") and falls through to its own algorithm.
  const pssFits = (key.privateKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 8 * (2 * Number(alg.slice(2)) / 8 + 2)
  if (alg.startsWith('PS') && type === 'rsa' && pssFits) {
    return sign(digest as string, input, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST })
  }
  if (alg.startsWith('ES') && type === 'ec') return sign(digest as string, input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  if (alg === 'EdDSA' && type === 'ed25519') return sign(null, input, key.privateKey)
  // The key type does not fit the algorithm: a signature the key's own algorithm would make.
  return signatureOf(key.alg, key, secret, input)
}

function changeSignature(signature: Buffer, change: SignatureChange, another: Buffer): string {
  switch (change) {
    case 'truncated':
      return signature.subarray(0, -1).toString('base64url')
    case 'halved':
      return signature.subarray(0, signature.length >> 1).toString('base64url')
    case 'extended':
      return Buffer.concat([signature, Buffer.from([0])]).toString('base64url')
    case 'flipped': {
      const flipped = Buffer.from(signature)
      if (flipped.length > 0) flipped[flipped.length >> 1]! ^= 0x01
      return flipped.toString('base64url')
    }
    case 'empty':
      return ''
    case 'another-token':
      return another.toString('base64url')
    default:
      return encodePart(signature, change)
  }
}

function headerJson(r: Resolved, signer: PoolKey, pool: readonly PoolKey[]): string {
  const other = pool.find((key) => key.jwk !== undefined && key.name !== signer.name) as PoolKey
  const kid = { signer: signer.name, other: other.name, unknown: 'f'.repeat(40), absent: undefined, empty: '', number: 42 }[r.kid]
  const attacker = pool.find((key) => key.name === 'attacker-rsa') as PoolKey
  const header: Record<string, unknown> = { alg: r.alg, kid, typ: r.typ }
  if (r.crit === 'b64') Object.assign(header, { crit: ['b64'], b64: true })
  if (r.crit === 'unknown') Object.assign(header, { crit: ['urn:example:ext'], 'urn:example:ext': 1 })
  if (r.crit === 'empty') header.crit = []
  if (r.foreignKeyHints) Object.assign(header, { jku: 'https://evil.example/keys', x5u: 'https://evil.example/cert.pem', jwk: attacker.publicJwk })
  const json = JSON.stringify(header)
  if (r.headerDuplicate === 'alg-none-first') return `{"alg":"none",${json.slice(1)}`
  if (r.headerDuplicate === 'alg-none-last') return `${json.slice(0, -1)},"alg":"none"}`
  if (r.headerDuplicate === 'kid-unknown-last') return `${json.slice(0, -1)},"kid":"unknown"}`
  return json
}

const INVALID_UTF8_MARK = '@@not-utf-8@@'

function payloadBytes(r: Resolved): Buffer {
  const claims: Record<string, unknown> = {
    iss: r.iss, sub: r.sub, ...r.audience, exp: r.exp, nbf: r.nbf, iat: r.iat,
    email: 'user@example.com', email_verified: true, groups: ['team-a'],
    name: r.invalidUtf8 ? INVALID_UTF8_MARK : 'User',
  }
  if (r.paddingBytes > 0) claims.padding = 'x'.repeat(r.paddingBytes)
  // JSON has no Infinity, but 1e400 parses to it.
  let json = JSON.stringify(claims, (_key, value: unknown) => (value === Infinity ? '@@inf@@' : value === -Infinity ? '@@-inf@@' : value))
  json = json.replaceAll('"@@inf@@"', '1e400').replaceAll('"@@-inf@@"', '-1e400')
  if (r.claimsDuplicate === 'aud-other-first') json = `{"aud":"${OTHER}",${json.slice(1)}`
  if (r.claimsDuplicate === 'aud-other-last') json = `${json.slice(0, -1)},"aud":"${OTHER}"}`
  if (r.claimsDuplicate === 'exp-past-last') json = `${json.slice(0, -1)},"exp":${NOW_S - 100_000}}`
  const [before, after] = json.split(INVALID_UTF8_MARK) as [string, string | undefined]
  return after === undefined ? Buffer.from(json) : Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(after)])
}

function tokenOf(r: Resolved, pool: readonly PoolKey[]): string {
  const signer = pool.find((key) => key.name === r.signer) as PoolKey
  // Key confusion: HS256 keyed with the signer's public key as a verifier might hold it (PEM or JWK text).
  const secret = Buffer.from(r.hmacSecret === 'pem' ? signer.publicPem : JSON.stringify(signer.jwk ?? signer.publicJwk))
  const input = `${encodePart(Buffer.from(headerJson(r, signer, pool)), r.headerEncoding)}.${encodePart(payloadBytes(r), r.payloadEncoding)}`
  const signature = signatureOf(r.alg, signer, secret, Buffer.from(input, 'latin1'))
  const another = signatureOf(r.alg, signer, secret, Buffer.from(`${input}x`, 'latin1'))
  const token = `${input}.${changeSignature(signature, r.signature, another)}`
  if (r.parts === 'four') return `${token}.${input.split('.')[1]}`
  if (r.parts === 'two') return input
  return token
}

// --- The rules by which we are deliberately stricter than jose. ---

interface Facts {
  readonly token: string
  readonly header: Record<string, unknown> | undefined
  readonly claims: Record<string, unknown> | undefined
  readonly bom: boolean
}

interface Stricter {
  readonly rule: string
  readonly code: string
  applies(facts: Facts, r: Resolved): boolean
}

/** A part as both verifiers read it: base64url bytes, UTF-8, JSON with the last duplicate winning. */
function readPart(part: string | undefined): { json: Record<string, unknown> | undefined; bom: boolean } {
  const bytes = Buffer.from((part ?? '').replace(/\s/g, ''), 'base64url')
  const bom = bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))
  try {
    const value: unknown = isUtf8(bytes) ? JSON.parse(bytes.subarray(bom ? 3 : 0).toString('utf8')) : undefined
    return { json: typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined, bom }
  } catch {
    return { json: undefined, bom }
  }
}

function factsOf(token: string): Facts {
  const [header, payload] = token.split('.')
  const h = readPart(header)
  const p = readPart(payload)
  return { token, header: h.json, claims: p.json, bom: h.bom || p.bom }
}

const STRICTER: readonly Stricter[] = [
  {
    rule: 'MAX_TOKEN_BYTES: a token over the limit is refused unread',
    code: 'ERR_TOKEN_TOO_LARGE',
    applies: ({ token }, r) => token.length > r.maxTokenBytes,
  },
  {
    rule: 'compact serialization: three parts of the base64url alphabet, no padding or whitespace (RFC 7515 §2, §7.1; jose decodes padded or spaced parts)',
    code: 'ERR_TOKEN_MALFORMED',
    applies: ({ token }) => !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token),
  },
  {
    rule: 'no byte-order mark before the header or claims JSON (RFC 8259 §8.1; jose strips one)',
    code: 'ERR_TOKEN_MALFORMED',
    applies: ({ bom }) => bom,
  },
  {
    rule: 'crit is refused whatever it lists (RFC 7515 §4.1.11: we support no extension; jose supports b64)',
    code: 'ERR_TOKEN_MALFORMED',
    applies: ({ header }) => header?.crit !== undefined,
  },
  {
    rule: 'kid: a non-empty string, always (jose takes the only key of a kind when kid is missing)',
    code: 'ERR_TOKEN_UNKNOWN_KEY',
    applies: ({ header }) => header !== undefined && (typeof header.kid !== 'string' || header.kid === ''),
  },
  {
    rule: 'exp is required (RFC 7519 §4.1.4; OIDC Core §2)',
    code: 'ERR_TOKEN_CLAIM_INVALID',
    applies: ({ claims }) => claims !== undefined && claims.exp === undefined,
  },
  {
    rule: 'iat is required, and not after now + skew (OIDC Core §2, §3.1.3.7 item 10)',
    code: 'ERR_TOKEN_CLAIM_INVALID',
    applies: ({ claims }, r) => claims !== undefined && !(typeof claims.iat === 'number' && claims.iat <= NOW_S + r.skew),
  },
  {
    rule: 'sub is required, a non-empty string (OIDC Core §2)',
    code: 'ERR_TOKEN_CLAIM_INVALID',
    applies: ({ claims }) => claims !== undefined && !(typeof claims.sub === 'string' && claims.sub !== ''),
  },
  {
    rule: 'azp names one of our audiences when present, or when there are several audiences (OIDC Core §3.1.3.7 items 4-5)',
    code: 'ERR_TOKEN_CLAIM_INVALID',
    applies: ({ claims }, r) =>
      claims !== undefined &&
      ((Array.isArray(claims.aud) && claims.aud.length > 1) || claims.azp !== undefined) &&
      !r.audiences.includes(claims.azp as string),
  },
]

// --- The two verifiers. ---

type Verdict = { readonly accepted: true; readonly claims: JWTPayload } | { readonly accepted: false; readonly code: string }

function issuerWith(keys: KeySet): Issuer {
  return { issuer: ISSUER, keys, isReady: () => true, metadata: () => undefined, start: async () => undefined, close: () => undefined }
}

async function ours(token: string, r: Resolved, issuer: Issuer): Promise<Verdict> {
  const verifier = createTokenVerifier({
    issuers: [{ issuer, audience: r.audiences, primary: true }],
    algorithms: r.algorithms,
    clockSkewSeconds: r.skew,
    maxTokenBytes: r.maxTokenBytes,
    clock: { now: () => NOW_MS },
  })
  try {
    return { accepted: true, claims: (await verifyToken(verifier, token)).claims }
  } catch (error) {
    assert.ok(error instanceof TokenRejectedError, `our verifier threw something else than a refusal: ${String(error)}`)
    assert.match(error.code, /^ERR_TOKEN_/)
    return { accepted: false, code: error.code }
  }
}

async function reference(token: string, r: Resolved, jwks: ReturnType<typeof createLocalJWKSet>): Promise<Verdict> {
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience: [...r.audiences],
      algorithms: [...r.algorithms],
      clockTolerance: r.skew,
      currentDate: new Date(NOW_MS),
    })
    return { accepted: true, claims: payload }
  } catch (error) {
    return { accepted: false, code: (error as { code?: string }).code ?? (error as Error).name }
  }
}

// --- The property. ---

t.test(`our token verifier accepts exactly what jose.jwtVerify accepts, but for the named rules (${RUNS} cases, seed ${SEED})`, async (t) => {
  const started = Date.now()
  const pool = makePool()
  const jwks = { keys: pool.flatMap((key) => (key.jwk ? [key.jwk] : [])) }
  const keys = createKeySet({ jwksUri: () => `${ISSUER}/keys`, fetch: async () => new Response(JSON.stringify(jwks)), clock: { now: () => NOW_MS } })
  await keys.refresh()
  const issuer = issuerWith(keys)
  const localJwks = createLocalJWKSet(jwks)
  t.comment(`key pool made in ${Date.now() - started} ms`)

  const tally = { bothAccept: 0, bothRefuse: 0, stricter: new Map<string, number>() }
  const property = fc.asyncProperty(caseArbitrary, async (c) => {
    const r = resolve(c, pool)
    const token = tokenOf(r, pool)
    const facts = factsOf(token)
    const applying = STRICTER.filter((stricter) => stricter.applies(facts, r))
    const [our, jose] = await Promise.all([ours(token, r, issuer), reference(token, r, localJwks)])
    if (our.accepted) {
      assert.ok(jose.accepted, `we accepted a token jose refuses (${jose.accepted ? '' : jose.code}): ${token.slice(0, 400)}`)
      assert.deepEqual(our.claims, jose.claims, 'we accepted it with other claims than jose')
      assert.deepEqual(applying.map((stricter) => stricter.rule), [], 'we accepted a token one of our stricter rules refuses')
      tally.bothAccept++
      return
    }
    if (!jose.accepted) {
      tally.bothRefuse++
      return
    }
    const rule = applying.find((stricter) => stricter.code === our.code)?.rule
    assert.ok(rule, `jose accepts, we refuse (${our.code}) and no stricter rule with that code explains it (${applying.map((stricter) => stricter.rule).join('; ') || 'none applies'}): ${token.slice(0, 400)}`)
    tally.stricter.set(rule, (tally.stricter.get(rule) ?? 0) + 1)
  })

  try {
    await fc.assert(property, { numRuns: RUNS, seed: SEED, endOnFailure: false })
  } catch (error) {
    const cause = (error as Error).cause instanceof Error ? `\n${((error as Error).cause as Error).message}` : ''
    t.fail(`the token path and jose disagree (seed ${SEED}; rerun: DIFF_SEED=${SEED} npx tap test/differential/token-verifier.test.ts)\n${(error as Error).message}${cause}`)
    return
  }
  const stricter = [...tally.stricter.values()].reduce((sum, count) => sum + count, 0)
  t.comment(`${RUNS} cases in ${Date.now() - started} ms: both accept ${tally.bothAccept}, both refuse ${tally.bothRefuse}, we are stricter by a named rule ${stricter}`)
  for (const [rule, count] of tally.stricter) t.comment(`  ${count} × ${rule}`)
  t.ok(tally.bothAccept >= RUNS * 0.1, `at least a tenth of the cases are tokens both accept (${tally.bothAccept})`)
  t.ok(tally.bothRefuse >= RUNS * 0.1, `at least a tenth are tokens both refuse (${tally.bothRefuse})`)
  t.ok(stricter >= RUNS * 0.02, `the stricter rules are exercised (${stricter})`)
})
