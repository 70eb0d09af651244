/**
 * oauth2-proxy (v7.15.6, built by test/peers/install.sh from test/oauth2-proxy/go.mod) on an
 * ephemeral loopback port, configured the way Kubeflow >= 1.9 runs it as Istio's ext_authz
 * (kubeflow/manifests common/oauth2-proxy/base: oauth2_proxy.cfg, the Deployment's env and the
 * `oauth2-proxy-parameters` ConfigMap): provider oidc with discovery skipped and the login, token and
 * keys URLs given, `static://200` as upstream (a check, not a proxy), the API routes answered with
 * 401, `/dex/` skipped, the `oauth2_proxy_kubeflow` cookie for 24 h without refresh, PKCE, and
 * `skip_jwt_bearer_tokens` (ENABLE_M2M_TOKENS=true): a bearer ID token of the issuer with the client
 * id as audience is verified by the provider's own verifier. EXTRA_JWT_ISSUERS is empty in Kubeflow's
 * default (it names Kubernetes service-account issuers), so it is left out here too.
 *
 * Written here from those settings, not copied: the login URL is absolute (Kubeflow's `/dex/auth`
 * is relative because Dex sits behind the same gateway; here it is a separate port), and the cookie
 * is not Secure (Kubeflow's FORCE_HTTPS=false). GOMAXPROCS=1 by default: one core, like the service.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installedPeer } from './peer-manifest.js'
import { startPeerProcess, type PeerProcess } from './peer-process.js'
import { freePort } from './ports.js'
import { KUBEFLOW_CLIENT_ID } from './test-issuer.js'
import { answers, waitUntil } from './wait.js'

/** Kubeflow's cookie_name. */
export const OAUTH2_PROXY_COOKIE = 'oauth2_proxy_kubeflow'
/** Kubeflow's redirect_url (relative, with relative_redirect_url): Dex must list it as is. */
export const OAUTH2_PROXY_CALLBACK = '/oauth2/callback'

export interface OAuth2ProxyOptions {
  /** The OIDC issuer URL (test-issuer.ts or real Dex, dex.ts). */
  issuer: string
  clientId?: string
  /** Only used to redeem a code at `<issuer>/token` (a login against real Dex). */
  clientSecret?: string
  /** A command that execs it, e.g. `taskset -c 0` (the pid stays oauth2-proxy's own). */
  prefix?: readonly string[]
  /** GOMAXPROCS (default 1). */
  gomaxprocs?: number
  /** As startPeerProcess: 'keep' (default), 'ignore', or a file. It logs one line per request. */
  output?: string
}

export interface OAuth2Proxy {
  readonly url: string
  readonly port: number
  readonly peer: PeerProcess
  stop(): Promise<void>
}

/** A TOML string (oauth2-proxy reads its config file as TOML); JSON's escaping is valid TOML for these values. */
const toml = (value: string | string[] | boolean | number): string =>
  Array.isArray(value) ? `[ ${value.map((item) => JSON.stringify(item)).join(', ')} ]` : JSON.stringify(value)

export async function startOAuth2Proxy(options: OAuth2ProxyOptions): Promise<OAuth2Proxy> {
  const binary = installedPeer('oauth2-proxy')
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const issuer = options.issuer.replace(/\/+$/, '')
  const settings: Record<string, string | string[] | boolean | number> = {
    http_address: `127.0.0.1:${port}`,
    provider: 'oidc',
    oidc_issuer_url: issuer,
    scope: 'profile email groups openid',
    email_domains: ['*'],
    upstreams: ['static://200'],
    skip_auth_routes: ['^/dex/'],
    api_routes: ['/api/', '/apis/', '^/ml_metadata'],
    skip_oidc_discovery: true,
    login_url: `${issuer}/auth`,
    redeem_url: `${issuer}/token`,
    oidc_jwks_url: `${issuer}/keys`,
    skip_provider_button: false,
    prompt: 'none',
    set_authorization_header: true,
    set_xauthrequest: true,
    cookie_name: OAUTH2_PROXY_COOKIE,
    cookie_expire: '24h',
    cookie_refresh: 0,
    cookie_secure: false,
    code_challenge_method: 'S256',
    redirect_url: OAUTH2_PROXY_CALLBACK,
    relative_redirect_url: true,
    skip_jwt_bearer_tokens: true,
  }
  const dir = mkdtempSync(join(tmpdir(), 'authservice-oauth2-proxy-'))
  const configPath = join(dir, 'oauth2_proxy.cfg')
  writeFileSync(configPath, Object.entries(settings).map(([key, value]) => `${key} = ${toml(value)}\n`).join(''))

  // The secrets come from the environment, as Kubeflow's Deployment passes them (OAUTH2_PROXY_*).
  const env = {
    GOMAXPROCS: String(options.gomaxprocs ?? 1),
    OAUTH2_PROXY_CLIENT_ID: options.clientId ?? KUBEFLOW_CLIENT_ID,
    OAUTH2_PROXY_CLIENT_SECRET: options.clientSecret ?? randomBytes(24).toString('base64url'),
    // 32 characters: an AES-256 key, like Kubeflow's 32-hex-character cookie-secret.
    OAUTH2_PROXY_COOKIE_SECRET: randomBytes(16).toString('hex'),
  }
  const peer = startPeerProcess('oauth2-proxy', binary, [`--config=${configPath}`], {
    env,
    prefix: options.prefix,
    output: options.output,
  })
  const stop = async () => {
    await peer.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    // Kubeflow's liveness and readiness probes: GET /ping.
    await waitUntil(`oauth2-proxy /ping at ${url}`, () => answers(`${url}/ping`), {
      giveUpIf: () => (peer.alive() ? undefined : 'oauth2-proxy exited'),
    })
  } catch (error) {
    const output = peer.output()
    await stop()
    throw new Error(`oauth2-proxy did not start:\n${output.slice(-4000)}`, { cause: error })
  }
  return { url, port, peer, stop }
}
