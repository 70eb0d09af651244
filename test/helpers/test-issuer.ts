/**
 * A small Dex-shaped OpenID provider of our own, for the tokens real Dex never signs: wrong claims,
 * `alg: none`, HMAC, foreign keys, header abuse, key rotation on demand.
 *
 * It serves `<issuer>/.well-known/openid-configuration` and `<issuer>/keys` on 127.0.0.1:<ephemeral>,
 * shaped like Dex v2.45 (dex-rp-conformance-security.md §1.1-1.3): RS256 keys whose `kid` is 40 hex
 * characters, each published with `use: "sig"` and `alg: "RS256"`, the signing key first and the
 * previous keys after it; tokens carry `{"alg":"RS256","kid":…}` and no `typ`, with a string `aud`.
 *
 * Tokens are assembled by hand (base64url header and payload, then WebCrypto or HMAC over them) so
 * that any header can be produced; jose would refuse to sign `alg: none` or an unknown `crit`.
 */
import { createHmac, randomBytes, webcrypto } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose'
import type { Clock } from '../../src/clock.js'

/** Kubeflow's Dex client (kubeflow/manifests common/dex). */
export const KUBEFLOW_CLIENT_ID = 'kubeflow-oidc-authservice'
/** Dex's `sub` for Kubeflow's static user (userID 15841185641784, connector `local`). */
export const KUBEFLOW_USER_SUB = 'Cg4xNTg0MTE4NTY0MTc4NBIFbG9jYWw'

export type KeyAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

export interface TestKey {
  readonly kid: string
  readonly alg: KeyAlgorithm
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  /** The public key as published in a JWKS (kid, use, alg set). */
  readonly publicJwk: JWK
  /** The public key as SPKI PEM (the bytes a key-confusion attack uses as an HMAC secret). */
  readonly publicPem: string
}

/** Which key signs a token. */
export type SigningKey =
  | 'current'
  | 'previous'
  | 'foreign-rsa'
  | 'foreign-ec'
  | 'none'
  | { readonly hmac: string | Uint8Array }
  | TestKey

export interface SignOptions {
  /** The signing key (default: the issuer's current key). */
  key?: SigningKey
  /**
   * Merged over the default header `{ alg, kid }` (alg from the key: RS256, ES256, HS256 or none;
   * kid of the key, none for HMAC and `none`). A member set to `undefined` is left out.
   */
  header?: Record<string, unknown>
}

/** Claims; a member set to `undefined` is left out of the token. */
export type Claims = Record<string, unknown>

/** A Dex-like kid: 40 hex characters. */
export function dexKid(): string {
  return randomBytes(20).toString('hex')
}

export async function createTestKey(alg: KeyAlgorithm = 'RS256', kid: string = dexKid()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return {
    kid,
    alg,
    privateKey,
    publicKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg },
    publicPem: await exportSPKI(publicKey),
  }
}

/** WebCrypto parameters for signing as `alg` (RFC 7518 §3; an RSA key carries its hash from generation). */
function webCryptoSigning(alg: KeyAlgorithm): AlgorithmIdentifier | RsaPssParams | EcdsaParams {
  const bits = alg.slice(2)
  if (alg.startsWith('RS')) return { name: 'RSASSA-PKCS1-v1_5' }
  if (alg.startsWith('PS')) return { name: 'RSA-PSS', saltLength: Number(bits) / 8 }
  if (alg.startsWith('ES')) return { name: 'ECDSA', hash: `SHA-${bits === '512' ? 512 : bits}` }
  return { name: 'Ed25519' }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A compact JWS with exactly this header and payload, signed with `key` (or unsigned for 'none'). */
export async function signCompact(
  header: Record<string, unknown>,
  payload: Claims,
  key: TestKey | 'none' | { readonly hmac: string | Uint8Array },
): Promise<string> {
  const input = `${b64(header)}.${b64(payload)}`
  let signature: string
  if (key === 'none') signature = ''
  else if ('hmac' in key) signature = createHmac('sha256', key.hmac).update(input).digest('base64url')
  else {
    const bytes = await webcrypto.subtle.sign(webCryptoSigning(key.alg), key.privateKey, Buffer.from(input))
    signature = Buffer.from(bytes).toString('base64url')
  }
  return `${input}.${signature}`
}

/**
 * Changes the last character of a compact JWS's signature so that the decoded signature changes.
 * (Flipping an arbitrary last character may only touch base64url padding bits, which decoders ignore.)
 */
export function corruptSignature(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(token.at(-1) as string)
  return token.slice(0, -1) + alphabet[last ^ 0b100000]
}

/** The discovery document Dex v2.45 serves for `issuer` (keys at `<issuer>/keys`). */
export function dexDiscoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/keys`,
    userinfo_endpoint: `${issuer}/userinfo`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'email', 'groups', 'profile', 'offline_access'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'email', 'email_verified', 'locale', 'name', 'preferred_username', 'at_hash'],
  }
}

export interface TestIssuerOptions {
  /** Issuer path, e.g. `/dex` (default: none, the issuer is the origin). */
  path?: string
  /** Time for `iat`/`exp` defaults (default: the system clock). */
  clock?: Clock
  /** Audience of the default claims (default kubeflow-oidc-authservice). */
  audience?: string
  /** `exp` of the default claims, in seconds after `iat` (default 600; the benchmark wants its tokens valid for a whole run). */
  tokenLifetimeSeconds?: number
}

export interface TestIssuer {
  /** `http://127.0.0.1:<port><path>` */
  readonly issuer: string
  readonly discoveryUrl: string
  readonly jwksUri: string
  readonly audience: string
  /** The key `sign` uses by default; changes with `rotateKey`. */
  currentKey(): TestKey
  /** The key the last `rotateKey` retired (still published, as Dex keeps verification keys). */
  previousKey(): TestKey | undefined
  /** An RSA key of an attacker: never published. */
  readonly foreignRsa: TestKey
  /** An EC P-256 key of an attacker: never published. */
  readonly foreignEc: TestKey
  /** The default claims of a valid Dex ID token for `audience`, with `overrides` applied. */
  claims(overrides?: Claims): Claims
  /** A token with the default claims overridden by `claims`. */
  sign(claims?: Claims, options?: SignOptions): Promise<string>
  /** A new signing key with a new kid; the old one stays published as a verification key. */
  rotateKey(): Promise<TestKey>
  /** Publishes another key (not used for signing unless passed as `key`). */
  addKey(key: TestKey): void
  /** Stops publishing the key with this kid. */
  removeKey(kid: string): void
  /** The JWKS document as served. */
  jwks(): { keys: JWK[] }
  /** true: every request answers 503; 'close': connections are dropped without an answer. */
  setDown(down: boolean | 'close'): void
  jwksRequests(): number
  discoveryRequests(): number
  close(): Promise<void>
}

export async function startTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const path = (options.path ?? '').replace(/\/+$/, '')
  const clock = options.clock ?? { now: () => Date.now() }
  const audience = options.audience ?? KUBEFLOW_CLIENT_ID
  const lifetime = options.tokenLifetimeSeconds ?? 600
  let current = await createTestKey()
  let previous: TestKey | undefined
  const retired: TestKey[] = []
  const extra: TestKey[] = []
  const foreignRsa = await createTestKey('RS256')
  const foreignEc = await createTestKey('ES256')
  let down: boolean | 'close' = false
  let jwksCount = 0
  let discoveryCount = 0
  let issuer = ''

  const jwks = () => ({ keys: [current, ...retired, ...extra].map((key) => key.publicJwk) })

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (down === 'close') {
      request.socket.destroy()
      return
    }
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers })
      response.end(JSON.stringify(body))
    }
    if (url.pathname === `${path}/.well-known/openid-configuration`) {
      discoveryCount++
      if (down) return send(503, { error: 'unavailable' })
      return send(200, dexDiscoveryDocument(issuer))
    }
    if (url.pathname === `${path}/keys`) {
      jwksCount++
      if (down) return send(503, { error: 'unavailable' })
      return send(200, jwks(), { 'cache-control': 'max-age=600, must-revalidate' })
    }
    return send(404, { error: 'not found' })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  issuer = `http://127.0.0.1:${port}${path}`

  const claims = (overrides: Claims = {}): Claims => {
    const now = Math.floor(clock.now() / 1000)
    return {
      iss: issuer,
      sub: KUBEFLOW_USER_SUB,
      aud: audience,
      exp: now + lifetime,
      iat: now,
      email: 'user@example.com',
      email_verified: true,
      groups: ['kubeflow-users', 'team-a'],
      name: 'user',
      ...overrides,
    }
  }

  const resolveKey = (key: SigningKey): TestKey | 'none' | { readonly hmac: string | Uint8Array } => {
    switch (key) {
      case 'current':
        return current
      case 'previous':
        if (!previous) throw new Error('no previous key: call rotateKey() first')
        return previous
      case 'foreign-rsa':
        return foreignRsa
      case 'foreign-ec':
        return foreignEc
      default:
        return key
    }
  }

  return {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    jwksUri: `${issuer}/keys`,
    audience,
    currentKey: () => current,
    previousKey: () => previous,
    foreignRsa,
    foreignEc,
    claims,
    async sign(overrides = {}, signOptions = {}) {
      const key = resolveKey(signOptions.key ?? 'current')
      const defaults =
        key === 'none' ? { alg: 'none' } : 'hmac' in key ? { alg: 'HS256' } : { alg: key.alg, kid: key.kid }
      return signCompact({ ...defaults, ...signOptions.header }, claims(overrides), key)
    },
    async rotateKey() {
      previous = current
      retired.unshift(current)
      current = await createTestKey()
      return current
    },
    addKey(key) {
      extra.push(key)
    },
    removeKey(kid) {
      for (const list of [retired, extra]) {
        const index = list.findIndex((key) => key.kid === kid)
        if (index !== -1) list.splice(index, 1)
      }
    },
    jwks,
    setDown(value) {
      down = value
    },
    jwksRequests: () => jwksCount,
    discoveryRequests: () => discoveryCount,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
