/**
 * A real, Kubeflow-shaped Dex (v2.45.1, built by test/peers/install.sh) on an ephemeral loopback
 * port: issuer http://127.0.0.1:<port>/dex, static password users, the static client
 * `kubeflow-oidc-authservice`, skipApprovalScreen, the password grant for browser-less token
 * minting, refresh tokens with a reuseInterval, configurable token lifetime and key rotation.
 * Config facts: ../../../shared/reference/dex-rp-conformance-security.md §1.9, §2.3.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import { installedPeer } from './peer-manifest.js'
import { startPeerProcess, type PeerProcess } from './peer-process.js'
import { freePort } from './ports.js'
import { answers, waitUntil } from './wait.js'

export interface DexUser {
  email: string
  password: string
  username: string
  userID: string
  groups?: string[]
  emailVerified?: boolean
  /** A precomputed bcrypt hash of `password` for staticPasswords (default: hashed here, cost 10). */
  hash?: string
}

/** Kubeflow's default user (no groups, as in kubeflow/manifests) and two users with groups. */
export const DEFAULT_USERS: readonly DexUser[] = [
  { email: 'user@example.com', password: '12341234', username: 'user', userID: '15841185641784' },
  {
    email: 'alice@example.com',
    password: 'alice-password',
    username: 'alice',
    userID: '90000000000001',
    groups: ['kubeflow-admins', 'team-a'],
  },
  {
    email: 'bob@example.org',
    password: 'bob-password',
    username: 'bob',
    userID: '90000000000002',
    groups: ['team-b'],
  },
]

export interface DexOptions {
  clientId?: string
  clientSecret?: string
  /** Exact strings Dex compares redirect_uri against (Kubeflow registers a relative one). */
  redirectURIs?: string[]
  users?: readonly DexUser[]
  /** expiry.idTokens, e.g. "10m" or "20s". */
  idTokenTTL?: string
  /** signer.config.keysRotationPeriod; Dex checks every 30 s, so rotation happens on that tick. */
  keysRotationPeriod?: string
  /** expiry.refreshTokens.reuseInterval; omit for a few seconds, "0s" for Dex's real default. */
  refreshReuseInterval?: string
  /** Use this port instead of a fresh one (to restart Dex at the same issuer). */
  port?: number
}

export interface TokenSet {
  id_token: string
  access_token: string
  refresh_token?: string
  expires_in: number
  token_type: string
}

export interface Dex {
  readonly issuer: string
  readonly origin: string
  readonly port: number
  readonly clientId: string
  readonly clientSecret: string
  readonly users: readonly DexUser[]
  /** Mints real tokens with the password grant (oauth2.passwordConnector: local). */
  passwordGrant(email?: string, scope?: string): Promise<TokenSet>
  refreshGrant(refreshToken: string): Promise<Response>
  output(): string
  stop(): Promise<void>
}

export async function startDex(options: DexOptions = {}): Promise<Dex> {
  const binary = installedPeer('dex')
  const port = options.port ?? (await freePort())
  const origin = `http://127.0.0.1:${port}`
  const issuer = `${origin}/dex`
  const clientId = options.clientId ?? 'kubeflow-oidc-authservice'
  // A fresh secret per Dex: the one Kubeflow publishes is refused by the service for cookie sessions.
  const clientSecret = options.clientSecret ?? randomBytes(24).toString('base64url')
  const users = options.users ?? DEFAULT_USERS
  const dir = mkdtempSync(join(tmpdir(), 'authservice-dex-'))

  const config = {
    issuer,
    storage: { type: 'memory' },
    web: { http: `127.0.0.1:${port}` },
    logger: { level: 'info', format: 'json' },
    oauth2: { skipApprovalScreen: true, passwordConnector: 'local', responseTypes: ['code'] },
    expiry: {
      idTokens: options.idTokenTTL ?? '10m',
      refreshTokens: { reuseInterval: options.refreshReuseInterval ?? '3s' },
    },
    signer: { type: 'local', config: { keysRotationPeriod: options.keysRotationPeriod ?? '6h' } },
    enablePasswordDB: true,
    staticPasswords: users.map((user) => ({
      email: user.email,
      // Cost 10: Dex accepts 10..16, and a low cost keeps the tests fast.
      hash: user.hash ?? bcrypt.hashSync(user.password, 10),
      username: user.username,
      userID: user.userID,
      ...(user.groups ? { groups: user.groups } : {}),
      ...(user.emailVerified === undefined ? {} : { emailVerified: user.emailVerified }),
    })),
    staticClients: [
      {
        id: clientId,
        secret: clientSecret,
        name: 'Kubeflow (authservice tests)',
        redirectURIs: options.redirectURIs ?? ['/authservice/oidc/callback'],
      },
    ],
  }
  // JSON is YAML, so Dex reads it as its config file.
  const configPath = join(dir, 'config.json')
  writeFileSync(configPath, JSON.stringify(config, null, 2))

  const peer: PeerProcess = startPeerProcess('dex', binary, ['serve', configPath])
  try {
    await waitUntil(`Dex discovery at ${issuer}`, () =>
      answers(`${issuer}/.well-known/openid-configuration`),
    )
  } catch (error) {
    await peer.stop()
    throw new Error(`Dex did not start:\n${peer.output()}`, { cause: error })
  }

  const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')
  const tokenRequest = (body: Record<string, string>) =>
    fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body),
    })

  return {
    issuer,
    origin,
    port,
    clientId,
    clientSecret,
    users,
    async passwordGrant(email = 'user@example.com', scope = 'openid email profile groups offline_access') {
      const user = users.find((candidate) => candidate.email === email)
      if (!user) throw new Error(`no Dex user ${email}`)
      const response = await tokenRequest({
        grant_type: 'password',
        username: user.email,
        password: user.password,
        scope,
      })
      if (response.status !== 200) {
        throw new Error(`password grant failed: ${response.status} ${await response.text()}`)
      }
      return (await response.json()) as TokenSet
    },
    refreshGrant: (refreshToken) => tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    output: () => peer.output(),
    async stop() {
      await peer.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
