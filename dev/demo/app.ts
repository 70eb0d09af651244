/**
 * The demo's upstream application: one page that shows what the gateway let through — the
 * identity headers the service set (`kubeflow-userid`, `kubeflow-groups`), whether an
 * `authorization: Bearer` ID token arrived (and what it says, decoded for display only: the
 * gateway and the service already verified it) — and a logout button that does what Kubeflow's
 * central dashboard does: POST `/authservice/logout`, then go to the `afterLogoutURL` it answers.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { html, raw } from '../../src/pages/html.js'
import { close, listen } from './net.js'

export interface DemoAppOptions {
  readonly port: number
  readonly userIdHeader: string
  readonly groupsHeader: string
  /** The service's logout endpoint, as the browser calls it through the gateway. */
  readonly logoutPath: string
}

export interface DemoApp {
  readonly port: number
  close(): Promise<void>
}

const one = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value.join(', ') : value)

/** The payload of a compact JWS, decoded without verification (display only), or undefined. */
export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function bearerSummary(authorization: string | undefined): string {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')
  if (!match) return html`<p id="bearer" data-present="false">No <code>authorization: Bearer</code> header arrived.</p>`
  const payload = decodeJwtPayload(match[1]!)
  if (!payload) return html`<p id="bearer" data-present="true">An <code>authorization: Bearer</code> header arrived (not a JWT).</p>`
  const claims = ['iss', 'aud', 'sub', 'email', 'groups', 'exp']
    .filter((name) => payload[name] !== undefined)
    .map((name) => {
      const value = payload[name]
      const shown = name === 'exp' && typeof value === 'number' ? `${value} (${new Date(value * 1000).toISOString()})` : JSON.stringify(value)
      return html`<tr><th>${name}</th><td><code>${shown}</code></td></tr>`
    })
    .join('')
  return html`<p id="bearer" data-present="true">An <code>authorization: Bearer</code> ID token arrived, issued by the identity provider:</p>
<table class="claims">${raw(claims)}</table>`
}

export function appPage(headers: IncomingHttpHeaders, options: Pick<DemoAppOptions, 'userIdHeader' | 'groupsHeader' | 'logoutPath'>, path: string): string {
  const user = one(headers[options.userIdHeader]) ?? ''
  const groups = one(headers[options.groupsHeader]) ?? ''
  const groupList = groups
    ? raw(groups.split(',').map((group) => html`<code>${group.trim()}</code>`).join(' '))
    : raw('<em>none</em>')
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo app · authservice</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2.5rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}th{text-align:left;padding-right:1rem;vertical-align:top;font-weight:600}td,th{padding:.2rem .4rem}
table{border-collapse:collapse}tr:nth-child(odd){background:#f6f6f6}code{background:#eee;padding:0 .2rem}td code{word-break:break-all}
button{padding:.5rem 1rem;margin-top:1rem}.note{color:#555;font-size:.9rem}</style></head>
<body><main>
<h1>Hello, <span id="user">${user}</span></h1>
<p>This page is the upstream application. The gateway asked the authservice about this request
and passed on what it answered:</p>
<table>
<tr><th><code>${options.userIdHeader}</code></th><td id="userid">${user}</td></tr>
<tr><th><code>${options.groupsHeader}</code></th><td id="groups" data-groups="${groups}">${groupList}</td></tr>
<tr><th>path</th><td><code>${path}</code></td></tr>
</table>
${raw(bearerSummary(one(headers.authorization)))}
<button id="logout" type="button">Log out</button>
<p class="note">Logging out calls <code>POST ${options.logoutPath}</code> and then goes where it answers (<code>afterLogoutURL</code>).</p>
<script>
document.getElementById('logout').addEventListener('click', async () => {
  const response = await fetch(${raw(JSON.stringify(options.logoutPath))}, { method: 'POST' })
  const body = response.status === 201 ? await response.json() : {}
  location.href = body.afterLogoutURL || '/'
})
</script>
</main></body></html>`
}

export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const server: Server = createServer((req, res) => {
    const path = req.url!.split('?')[0]!
    if (path === '/favicon.ico') {
      res.writeHead(204).end()
      return
    }
    const body = appPage(req.headers, options, req.url!)
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  const port = await listen(server, options.port)
  return { port, close: () => close(server) }
}
