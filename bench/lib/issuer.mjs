/**
 * A Dex-shaped OpenID provider for the benchmark: discovery and JWKS on 127.0.0.1:<ephemeral>/dex,
 * one RS256 key (2048 bits, a 40-hex-character kid, as Dex publishes), and ID tokens signed with it
 * in Dex's shape ({"alg":"RS256","kid":…}, string `aud`, email, email_verified, groups).
 *
 * Signing uses node:crypto's callback form, which runs on libuv's thread pool, so pre-generating
 * tens of thousands of distinct tokens (the cache-miss and memory runs) takes seconds, not minutes.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { createServer } from 'node:http'

export const CLIENT_ID = 'kubeflow-oidc-authservice'
/** Dex's `sub` for Kubeflow's static user. */
export const USER_SUB = 'Cg4xNTg0MTE4NTY0MTc4NBIFbG9jYWw'

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')

export async function startIssuer() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = randomBytes(20).toString('hex')
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' }
  let jwksRequests = 0
  let issuer = ''
  const server = createServer((request, response) => {
    const send = (body) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(JSON.stringify(body))
    }
    if (request.url === '/dex/.well-known/openid-configuration') {
      return send({
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
      })
    }
    if (request.url === '/dex/keys') {
      jwksRequests++
      return send({ keys: [jwk] })
    }
    response.writeHead(404).end()
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  issuer = `http://127.0.0.1:${server.address().port}/dex`

  /** Dex ID-token claims for Kubeflow's user; `exp` an hour away so a whole run stays valid. */
  const claims = (overrides = {}) => {
    const now = Math.floor(Date.now() / 1000)
    return {
      iss: issuer,
      sub: USER_SUB,
      aud: CLIENT_ID,
      exp: now + 3600,
      iat: now,
      email: 'user@example.com',
      email_verified: true,
      groups: ['kubeflow-users', 'team-a'],
      name: 'user',
      ...overrides,
    }
  }

  /** A compact JWS with exactly this header and payload, RS256-signed with the published key. */
  const signCompact = (header, payload) =>
    new Promise((resolve, reject) => {
      const input = `${b64(header)}.${b64(payload)}`
      sign('sha256', Buffer.from(input), privateKey, (error, signature) =>
        error ? reject(error) : resolve(`${input}.${signature.toString('base64url')}`),
      )
    })

  return {
    issuer,
    kid,
    /** The public key as SPKI PEM (for peers that take a key file instead of a JWKS URL). */
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
    claims,
    jwksRequests: () => jwksRequests,
    /** A valid Dex-shaped ID token (claims overridable). */
    token: (overrides = {}) => signCompact({ alg: 'RS256', kid }, claims(overrides)),
    signCompact,
    /**
     * `count` distinct valid tokens (distinct `jti` and `iat` spread), signed in parallel batches.
     * `onProgress(done)` is told every few thousand.
     */
    async distinctTokens(count, onProgress) {
      const tokens = new Array(count)
      const batch = 512
      for (let start = 0; start < count; start += batch) {
        const end = Math.min(count, start + batch)
        const signed = []
        for (let i = start; i < end; i++) signed.push(signCompact({ alg: 'RS256', kid }, claims({ jti: `bench-${i}` })))
        const done = await Promise.all(signed)
        for (let i = start; i < end; i++) tokens[i] = done[i - start]
        if (onProgress && (end % 4096 < batch || end === count)) onProgress(end)
      }
      return tokens
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
