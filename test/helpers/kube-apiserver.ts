/**
 * A small Kubernetes API server of our own, for service-account (m2m) tokens: there is no real API
 * server on the test machines. It listens on http://127.0.0.1:<ephemeral> and answers only what the
 * service calls, each as the Kubernetes documentation says:
 *
 * - `GET /.well-known/openid-configuration` — service-account issuer discovery
 *   (https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#service-account-issuer-discovery,
 *   KEP-1393): `issuer`, `jwks_uri` (`<issuer>/openid/v1/jwks`, deliberately a host the service
 *   must never call), `response_types_supported: ["id_token"]`, `subject_types_supported: ["public"]`,
 *   `id_token_signing_alg_values_supported: ["RS256"]`. Authenticated callers only (the default
 *   `system:service-account-issuer-discovery` binding covers authenticated users).
 * - `GET /openid/v1/jwks` — the same page: a JWK Set of the RS256 signing keys, `use: "sig"`, `kid`.
 * - `POST /apis/authentication.k8s.io/v1/tokenreviews` — TokenReview v1
 *   (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-review-v1/):
 *   201 with the TokenReview echoed and `status.authenticated`, `status.user` (username
 *   `system:serviceaccount:<ns>:<name>`, uid, groups `system:serviceaccounts`,
 *   `system:serviceaccounts:<ns>`, `system:authenticated`) and `status.audiences`; a token whose
 *   service account was deleted (or re-created: another uid) gets `authenticated: false` with an
 *   `error`. `spec.audiences` must intersect the token's `aud`; without it the API server's own
 *   audience (the issuer) applies, and legacy tokens (no `aud`) pass. The caller needs a bearer token
 *   (401 without one, as for any API request; 403 when it is not allowed to create TokenReviews,
 *   i.e. lacks `system:auth-delegator`).
 *
 * Tokens are real JWS (jose, RS256), shaped as `kubectl create token` makes them (bound tokens,
 * https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume:
 * `aud`, `exp`, `iat`, `nbf`, `iss`, `jti`, `sub`, `kubernetes.io: {namespace, serviceaccount}`)
 * or as a legacy token Secret held them (`iss: kubernetes/serviceaccount`, the
 * `kubernetes.io/serviceaccount/*` claims, no `exp`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose'

export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local'
export const LEGACY_ISSUER = 'kubernetes/serviceaccount'
export const GATEWAY_AUDIENCE = 'istio-ingressgateway.istio-system.svc.cluster.local'

export interface KubeApiServer {
  /** http://127.0.0.1:<port> */
  readonly url: string
  readonly issuer: string
  /** The service's own (pod) token, which the server requires on every call. */
  readonly podToken: string
  /** What the service takes as `deps.kubernetes`. */
  readonly credentials: { token: () => string; ca: undefined; apiServer: string }
  /** TokenReviews answered so far. */
  reviews(): number
  /** Requests by path so far. */
  requests(): readonly string[]
  /** Creates a service account (`default-editor` style); a new uid each time. */
  createServiceAccount(namespace: string, name: string): void
  deleteServiceAccount(namespace: string, name: string): void
  /** A token as `kubectl -n <ns> create token <name> --audience … --duration …` prints it. */
  createToken(namespace: string, name: string, options?: { audience?: string | string[]; durationSeconds?: number; issuedAt?: number }): Promise<string>
  /** A legacy secret-based token (kubernetes.io/service-account-token Secret). */
  legacyToken(namespace: string, name: string): Promise<string>
  close(): Promise<void>
}

export async function startKubeApiServer(options: { issuer?: string; podAllowedToReview?: boolean } = {}): Promise<KubeApiServer> {
  const issuer = options.issuer ?? DEFAULT_ISSUER
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  const kid = randomUUID().replaceAll('-', '')
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' }
  const accounts = new Map<string, string>() // "<ns>/<name>" → uid
  const podToken = `pod-${randomUUID()}`
  const log: string[] = []
  let reviews = 0

  const send = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body))
  }
  const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })

  async function review(token: string, audiences: string[] | undefined) {
    try {
      const payload = decodeJwt(token)
      const legacy = payload.iss === LEGACY_ISSUER
      await jwtVerify(token, publicKey, legacy ? { algorithms: ['RS256'] } : { algorithms: ['RS256'], issuer })
      const wanted = audiences ?? [issuer]
      const carried = legacy ? wanted : [payload.aud ?? []].flat()
      const granted = wanted.filter((audience) => carried.includes(audience))
      if (granted.length === 0) return { authenticated: false, error: 'token audiences are invalid for the target audiences' }
      const claims = payload as Record<string, any>
      const namespace: string = legacy ? claims['kubernetes.io/serviceaccount/namespace'] : claims['kubernetes.io']?.namespace
      const name: string = legacy ? claims['kubernetes.io/serviceaccount/service-account.name'] : claims['kubernetes.io']?.serviceaccount?.name
      const uid: string = legacy ? claims['kubernetes.io/serviceaccount/service-account.uid'] : claims['kubernetes.io']?.serviceaccount?.uid
      if (accounts.get(`${namespace}/${name}`) !== uid) {
        return { authenticated: false, error: `serviceaccounts "${name}" not found` }
      }
      return {
        authenticated: true,
        user: { username: `system:serviceaccount:${namespace}:${name}`, uid, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] },
        audiences: granted,
      }
    } catch {
      return { authenticated: false, error: 'invalid bearer token' }
    }
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://x').pathname
    log.push(`${request.method} ${path}`)
    if (request.headers.authorization !== `Bearer ${podToken}`) return send(response, 401, status(401, 'Unauthorized', 'Unauthorized'))
    if (request.method === 'GET' && path === '/.well-known/openid-configuration') {
      return send(response, 200, {
        issuer,
        jwks_uri: `${issuer}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      })
    }
    if (request.method === 'GET' && path === '/openid/v1/jwks') return send(response, 200, { keys: [jwk] })
    if (request.method === 'POST' && path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      if (options.podAllowedToReview === false) {
        return send(response, 403, status(403, 'Forbidden', 'tokenreviews.authentication.k8s.io is forbidden'))
      }
      const chunks: Buffer[] = []
      for await (const chunk of request) chunks.push(chunk as Buffer)
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: { token?: string; audiences?: string[] } }
      reviews += 1
      const spec = body.spec ?? {}
      return send(response, 201, {
        kind: 'TokenReview',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec,
        status: await review(spec.token ?? '', spec.audiences),
      })
    }
    send(response, 404, status(404, 'NotFound', 'the server could not find the requested resource'))
  }

  const server = createServer((request, response) => void handle(request, response))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url,
    issuer,
    podToken,
    credentials: { token: () => podToken, ca: undefined, apiServer: url },
    reviews: () => reviews,
    requests: () => [...log],
    createServiceAccount: (namespace, name) => void accounts.set(`${namespace}/${name}`, randomUUID()),
    deleteServiceAccount: (namespace, name) => void accounts.delete(`${namespace}/${name}`),
    async createToken(namespace, name, tokenOptions = {}) {
      const uid = accounts.get(`${namespace}/${name}`)
      if (uid === undefined) throw new Error(`serviceaccounts "${name}" not found`)
      const iat = tokenOptions.issuedAt ?? Math.floor(Date.now() / 1000)
      return new SignJWT({ 'kubernetes.io': { namespace, serviceaccount: { name, uid } } })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(issuer)
        .setSubject(`system:serviceaccount:${namespace}:${name}`)
        .setAudience(tokenOptions.audience ?? GATEWAY_AUDIENCE)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + (tokenOptions.durationSeconds ?? 3600))
        .setJti(randomUUID())
        .sign(privateKey)
    },
    async legacyToken(namespace, name) {
      const uid = accounts.get(`${namespace}/${name}`)
      if (uid === undefined) throw new Error(`serviceaccounts "${name}" not found`)
      return new SignJWT({
        'kubernetes.io/serviceaccount/namespace': namespace,
        'kubernetes.io/serviceaccount/secret.name': `${name}-token-x7k2p`,
        'kubernetes.io/serviceaccount/service-account.name': name,
        'kubernetes.io/serviceaccount/service-account.uid': uid,
      })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(LEGACY_ISSUER)
        .setSubject(`system:serviceaccount:${namespace}:${name}`)
        .sign(privateKey)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
