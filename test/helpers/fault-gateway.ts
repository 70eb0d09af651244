/**
 * What the fault and hostile-input tests share: the in-process service behind real Envoy in either
 * transport (HTTP `http_service`, or gRPC through our own gRPC server, as server.ts serves it),
 * a login driven hop by hop up to the callback (so a test can break a peer before the code is
 * exchanged), and tokens signed by a key the provider never published (an unknown `kid` makes the
 * service go back to the provider for keys).
 */
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { createGrpcServer } from '../../src/grpc/server.js'
import { createLogger } from '../../src/log/logger.js'
import { kubeflowEnv, type RunningAuthservice } from './authservice.js'
import { startEnvoy, type Envoy } from './envoy.js'
import type { RawResponse } from './raw-request.js'
import { CookieJar, scriptedLogin } from './scripted-login.js'
import { createTestKey, signCompact } from './test-issuer.js'
import { send, type Answer } from './traffic.js'

/** A session key of this test process (SESSION_SECRETS: base64 of 32 random bytes). */
export const SESSION_SECRET = randomBytes(32).toString('base64')

/** kubeflowEnv with this process's SESSION_SECRETS (Kubeflow's published CLIENT_SECRET alone is refused). */
export function faultEnv(dex: { issuer: string; clientId: string; clientSecret: string }, extra: Record<string, string> = {}): Record<string, string> {
  return { ...kubeflowEnv(dex), SESSION_SECRETS: SESSION_SECRET, ...extra }
}

export type Mode = 'http' | 'grpc'
export const MODES: readonly Mode[] = ['http', 'grpc']

export interface FaultGateway {
  readonly envoy: Envoy
  /** The port Envoy calls (the service's check port, or the gRPC server's). */
  readonly checkPort: number
  /** What the gRPC server logged (empty in HTTP mode). */
  transportLogs(): string
}

/** Serves `authservice` to a new Envoy in `mode`; everything is stopped on `t`'s teardown. */
export async function startFaultGateway(
  t: Test,
  mode: Mode,
  authservice: RunningAuthservice,
  options: { upstreamPort: number; dexPort?: number },
): Promise<FaultGateway> {
  let logs = ''
  let checkPort = authservice.checkPort
  if (mode === 'grpc') {
    const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => ((logs += chunk.toString()), done()) }))
    const server = createGrpcServer({ handle: authservice.service.handle, logger, isReady: () => authservice.service.isReady(), shutdownTimeoutMs: 2_000 })
    checkPort = await server.listen('127.0.0.1', 0)
    t.teardown(() => server.close())
  }
  const envoy = await startEnvoy({
    authz: { mode, port: checkPort },
    upstreamPort: options.upstreamPort,
    ...(options.dexPort === undefined ? {} : { dexPort: options.dexPort }),
  })
  t.teardown(() => envoy.stop())
  return { envoy, checkPort, transportLogs: () => logs }
}

export const API = { accept: 'application/json' }
export const NAVIGATE = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
}

export interface PendingCallback {
  readonly jar: CookieJar
  /** The callback path and query Dex redirected to (with the real authorization code). */
  readonly callbackPath: string
  readonly code: string
  readonly state: string
  readonly hops: RawResponse[]
}

/**
 * A scripted Dex login through `gateway` that stops right before the callback: the browser holds
 * its flow cookie and Dex has issued a real code, not yet exchanged.
 */
export async function loginUntilCallback(gateway: string, startPath: string, email: string, password: string, jar = new CookieJar()): Promise<PendingCallback> {
  const login = await scriptedLogin(gateway, startPath, email, password, jar, {
    stopBefore: (next) => next.pathname === '/authservice/oidc/callback',
  })
  const next = login.stoppedBefore
  if (!next) throw new Error(`login stopped at ${login.finalUrl}: ${login.final.status} ${login.final.body.slice(0, 200)}`)
  return { jar, callbackPath: next.pathname + next.search, code: next.searchParams.get('code') ?? '', state: next.searchParams.get('state') ?? '', hops: login.hops }
}

/** The callback hop: the browser following Dex's redirect back, with its cookies. */
export function completeCallback(gateway: string, pending: PendingCallback, timeoutMs = 10_000): Promise<Answer> {
  return send(`${gateway}${pending.callbackPath}`, { headers: { ...NAVIGATE, cookie: pending.jar.header() }, timeoutMs, label: 'callback' })
}

/** A well-formed token for `issuer` and `audience`, signed by a key nobody published (unknown kid). */
export async function tokenWithUnknownKid(issuer: string, audience: string): Promise<string> {
  const key = await createTestKey()
  const now = Math.floor(Date.now() / 1000)
  return signCompact({ alg: 'RS256', kid: key.kid }, { iss: issuer, aud: audience, sub: 'someone', email: 'someone@example.com', email_verified: true, iat: now, exp: now + 600 }, key)
}

/** The `kid` of a compact JWS. */
export function kidOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
}
