/**
 * The demo's development identity provider, shaped like the Dex that Kubeflow ships: issuer
 * `http://127.0.0.1:<port>/dex`, the confidential client `kubeflow-oidc-authservice`
 * (client_secret_basic, PKCE required), static users checked against bcrypt hashes, RS256 ID tokens
 * that carry `email`, `email_verified` and `groups`, and no single sign-on session: like Dex, every
 * authorization request shows the login form, so logging out of the service really logs you out.
 *
 * Built on oidc-provider (panva), mounted under `/dex` of a plain node:http server; the login form
 * is our own page at `/dex/interaction/<uid>`. Everything is in memory: development only.
 *
 * oidc-provider prints its own warnings and they are left as they are: on Node.js 20 that it wants
 * Node.js 22 (it runs on the 20 this project supports), and that its in-memory storage loses
 * everything on a restart (what a demo wants).
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import bcrypt from 'bcryptjs'
import { exportJWK, generateKeyPair } from 'jose'
import type { Configuration, KoaContextWithOIDC, Provider as OidcProvider } from 'oidc-provider'
import { html, raw } from '../../src/pages/html.js'
import { close, HOST, listen } from './net.js'

export interface DemoUser {
  readonly email: string
  readonly password: string
  /** The stable subject (`sub`). */
  readonly id: string
  readonly name: string
  readonly groups: readonly string[]
}

export interface DemoIdpOptions {
  /** The port to listen on (127.0.0.1); the issuer is `http://127.0.0.1:<port>/dex`. */
  readonly port: number
  readonly clientId: string
  readonly clientSecret: string
  /** Absolute redirect URIs the client may use (oidc-provider accepts no relative ones). */
  readonly redirectUris: readonly string[]
  readonly users: readonly DemoUser[]
  /** Shown on the login page as a hint (a demo has nothing to hide). */
  readonly hint?: string
}

export interface DemoIdp {
  readonly issuer: string
  readonly port: number
  close(): Promise<void>
}

export const ISSUER_PATH = '/dex'
const INTERACTION_PATH = `${ISSUER_PATH}/interaction/`

function loginPage(options: { action: string; email: string; error?: string; hint?: string }): string {
  const error = options.error ? html`<p id="login-error" role="alert" class="error">${options.error}</p>` : ''
  const hint = options.hint ? html`<p class="hint">${options.hint}</p>` : ''
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Log in · demo identity provider</title>
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}.hint{color:#555;font-size:.9rem;background:#f4f4f4;padding:.5rem}
</style></head><body><main>
<h1>Log in to the demo identity provider</h1>
<p>A development stand-in for Kubeflow's Dex.</p>
${raw(error)}
<form method="post" action="${options.action}">
<label for="login">Email address</label>
<input id="login" name="login" type="email" autocomplete="username" required autofocus value="${options.email}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="submit-login" type="submit">Log in</button>
</form>
${raw(hint)}
</main></body></html>`
}

function send(res: ServerResponse, status: number, body: string, type = 'text/html; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

async function readForm(req: IncomingMessage, limit = 16 * 1024): Promise<URLSearchParams> {
  let body = ''
  for await (const chunk of req) {
    body += (chunk as Buffer).toString('utf8')
    if (body.length > limit) throw new Error('form too large')
  }
  return new URLSearchParams(body)
}

export async function startDemoIdp(options: DemoIdpOptions): Promise<DemoIdp> {
  const { Provider, interactionPolicy } = await import('oidc-provider')
  // Listen first: with port 0 the issuer can only be named once the port is known.
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => send(res, 503, 'starting', 'text/plain')
  const server: Server = createServer((req, res) => handle(req, res))
  const port = await listen(server, options.port)
  try {
    return await serveProvider(server, port, options, Provider, interactionPolicy, (next) => (handle = next))
  } catch (error) {
    await close(server)
    throw error
  }
}

type OidcProviderModule = typeof import('oidc-provider')

async function serveProvider(
  server: Server,
  port: number,
  options: DemoIdpOptions,
  Provider: OidcProviderModule['Provider'],
  interactionPolicy: OidcProviderModule['interactionPolicy'],
  setHandler: (handle: (req: IncomingMessage, res: ServerResponse) => void) => void,
): Promise<DemoIdp> {
  const issuer = `http://${HOST}:${port}${ISSUER_PATH}`
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true })
  const signingKey = { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }
  const users = await Promise.all(
    options.users.map(async (user) => ({ ...user, hash: await bcrypt.hash(user.password, 10) })),
  )
  const byId = new Map(users.map((user) => [user.id, user]))

  // Like Dex: no provider-side session to fall back on; every authorization shows the login form.
  const policy = interactionPolicy.base()
  policy
    .get('login')!
    .checks.add(
      new interactionPolicy.Check('always_login', 'the demo identity provider asks for a login every time', (ctx) =>
        ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT,
      ),
    )

  const configuration: Configuration = {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: [...options.redirectUris],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      profile: ['name', 'preferred_username'],
    },
    scopes: ['openid', 'email', 'groups', 'profile'],
    // Dex puts every claim of the granted scopes into the ID token; so does this provider.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // Lifetimes in seconds (Dex's defaults are longer; a demo needs no more).
    ttl: { AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 3600, IdToken: 3600 },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${INTERACTION_PATH}${interaction.uid}`,
    },
    // The only client is the service, a first party: consent is implied, as with Dex's skipApprovalScreen.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId })
      grant.addOIDCScope(String(ctx.oidc.params!.scope ?? 'openid'))
      await grant.save()
      return grant
    },
    findAccount: (_ctx, sub) => {
      const user = byId.get(sub)
      if (!user) return undefined
      return {
        accountId: sub,
        claims: () => ({
          sub,
          email: user.email,
          email_verified: true,
          // Dex leaves the claim out when a user has no groups.
          ...(user.groups.length > 0 ? { groups: [...user.groups] } : {}),
          name: user.name,
          preferred_username: user.email.split('@')[0],
        }),
      }
    },
    renderError: (ctx, out) => {
      ctx.type = 'html'
      ctx.body = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Identity provider error</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto"><h1>Identity provider error</h1>
<p><code>${String(out.error)}</code>: ${String(out.error_description ?? '')}</p><p><a href="/">Start again</a></p></body></html>`
    },
  }
  const provider: OidcProvider = new Provider(issuer, configuration)
  const callback = provider.callback()

  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res)
    const action = `${INTERACTION_PATH}${details.uid}`
    if (details.prompt.name !== 'login') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: `unsupported prompt ${details.prompt.name}` }, { mergeWithLastSubmission: false })
      return
    }
    if (req.method === 'GET') {
      send(res, 200, loginPage({ action, email: '', hint: options.hint }))
      return
    }
    if (req.method !== 'POST') {
      send(res, 405, 'method not allowed', 'text/plain; charset=utf-8')
      return
    }
    const form = await readForm(req)
    const email = (form.get('login') ?? '').trim()
    const password = form.get('password') ?? ''
    const user = users.find((candidate) => candidate.email.toLowerCase() === email.toLowerCase())
    // Compare against a hash even for an unknown email, so both fail alike.
    const ok = await bcrypt.compare(password, user?.hash ?? users[0]!.hash)
    if (!user || !ok) {
      send(res, 401, loginPage({ action, email, error: 'Invalid email address or password.', hint: options.hint }))
      return
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.id, remember: false } }, { mergeWithLastSubmission: false })
  }

  setHandler((req, res) => {
    const url = req.url ?? '/'
    const path = url.split('?')[0]!
    if (path.startsWith(INTERACTION_PATH)) {
      interaction(req, res).catch((error: unknown) => {
        const message = error instanceof Error ? error.message : String(error)
        if (!res.headersSent) {
          send(res, 400, html`<!doctype html><title>Login expired</title><p>This login page is no longer valid (${message}).</p><p><a href="/">Start again</a></p>`)
        } else res.end()
      })
      return
    }
    if (path === ISSUER_PATH || path.startsWith(`${ISSUER_PATH}/`)) {
      // Mounted as connect would: the provider sees the path below /dex and builds URLs with it.
      ;(req as IncomingMessage & { originalUrl?: string }).originalUrl = url
      req.url = url.slice(ISSUER_PATH.length) || '/'
      void callback(req, res)
      return
    }
    send(res, 404, 'not found', 'text/plain; charset=utf-8')
  })
  return {
    issuer,
    port,
    close: () => close(server),
  }
}
