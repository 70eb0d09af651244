/**
 * Real Dex (the same v2.45.1 and Kubeflow-shaped config as dex.ts) reached by the service through
 * a delay proxy (delay-proxy.ts): Dex's issuer is the PROXY's address, so discovery, keys and the
 * token endpoint all go through it and can be made slow, silent or unreachable, while the test
 * itself (password grants) and the gateway's /dex route talk to Dex directly. Dex can be stopped
 * and started again behind the same proxy (memory storage: it comes back with new keys).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import { startDelayProxy, type DelayProxy } from './delay-proxy.js'
import { DEFAULT_USERS, type Dex, type DexOptions, type TokenSet } from './dex.js'
import { installedPeer } from './peer-manifest.js'
import { startPeerProcess, type PeerProcess } from './peer-process.js'
import { freePort } from './ports.js'
import { answers, waitUntil } from './wait.js'

export interface ProxiedDex extends Dex {
  /** The proxy the service goes through (its port is the issuer's). */
  readonly proxy: DelayProxy
  /** Where Dex itself listens (route the gateway's /dex here: browsers are not slowed). */
  readonly directPort: number
  /** Starts Dex again after stop(), same ports and config. */
  start(): Promise<void>
  /** Stops Dex and the proxy, removes the config. */
  close(): Promise<void>
}

export async function startDexBehindProxy(options: Omit<DexOptions, 'port'> = {}): Promise<ProxiedDex> {
  const binary = installedPeer('dex')
  const directPort = await freePort()
  const proxy = await startDelayProxy(directPort)
  const issuer = `http://127.0.0.1:${proxy.port}/dex`
  const clientId = options.clientId ?? 'kubeflow-oidc-authservice'
  const clientSecret = options.clientSecret ?? 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok'
  const users = options.users ?? DEFAULT_USERS
  const dir = mkdtempSync(join(tmpdir(), 'authservice-dex-proxied-'))
  const configPath = join(dir, 'config.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      issuer,
      storage: { type: 'memory' },
      web: { http: `127.0.0.1:${directPort}` },
      logger: { level: 'info', format: 'json' },
      oauth2: { skipApprovalScreen: true, passwordConnector: 'local', responseTypes: ['code'] },
      expiry: { idTokens: options.idTokenTTL ?? '10m', refreshTokens: { reuseInterval: options.refreshReuseInterval ?? '3s' } },
      signer: { type: 'local', config: { keysRotationPeriod: options.keysRotationPeriod ?? '6h' } },
      enablePasswordDB: true,
      staticPasswords: users.map((user) => ({
        email: user.email,
        hash: bcrypt.hashSync(user.password, 10),
        username: user.username,
        userID: user.userID,
        ...(user.groups ? { groups: user.groups } : {}),
        ...(user.emailVerified === undefined ? {} : { emailVerified: user.emailVerified }),
      })),
      staticClients: [{ id: clientId, secret: clientSecret, name: 'Kubeflow (authservice fault tests)', redirectURIs: options.redirectURIs ?? ['/authservice/oidc/callback'] }],
    }),
  )

  let peer: PeerProcess | undefined
  const direct = `http://127.0.0.1:${directPort}/dex`
  const start = async () => {
    peer = startPeerProcess('dex', binary, ['serve', configPath])
    try {
      await waitUntil(`Dex discovery at ${direct}`, () => answers(`${direct}/.well-known/openid-configuration`))
    } catch (error) {
      await peer.stop()
      throw new Error(`Dex did not start:\n${peer.output()}`, { cause: error })
    }
  }
  await start()

  const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')
  const tokenRequest = (body: Record<string, string>) =>
    fetch(`${direct}/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body),
      signal: AbortSignal.timeout(10_000),
    })

  return {
    issuer,
    origin: `http://127.0.0.1:${proxy.port}`,
    port: proxy.port,
    directPort,
    proxy,
    clientId,
    clientSecret,
    users,
    async passwordGrant(email = 'user@example.com', scope = 'openid email profile groups offline_access'): Promise<TokenSet> {
      const user = users.find((candidate) => candidate.email === email)
      if (!user) throw new Error(`no Dex user ${email}`)
      const response = await tokenRequest({ grant_type: 'password', username: user.email, password: user.password, scope })
      if (response.status !== 200) throw new Error(`password grant failed: ${response.status} ${await response.text()}`)
      return (await response.json()) as TokenSet
    },
    refreshGrant: (refreshToken) => tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    output: () => peer?.output() ?? '',
    async stop() {
      await peer?.stop()
    },
    start,
    async close() {
      await peer?.stop()
      await proxy.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
