/**
 * A small built-in gateway for the demo when Envoy is not installed. DEVELOPMENT ONLY: it follows
 * the Envoy ext_authz HTTP contract closely enough to show the service working, nothing more (no
 * HTTP/2, no timeouts tuning, no header-size limits, no TLS).
 *
 * For every request, as Envoy's `http_service` ext_authz with the settings of envoy-bootstrap.ts:
 * - the check: same method, the normalised path and query, the allow-listed request headers
 *   (CHECK_REQUEST_HEADERS), the Host, `x-forwarded-proto` set by the gateway, no body;
 * - 200: the upstream request gets the allowed upstream headers of the answer (overwriting the
 *   client's), loses every header named in `x-envoy-auth-headers-to-remove`, and is proxied to the
 *   identity provider for `/dex` (segment boundary) or to the app otherwise; the answer's allowed
 *   client headers on success (`set-cookie`) are added to the upstream's response;
 * - anything else: the answer's status, allowed client headers (plus location, www-authenticate)
 *   and body go back to the client; the upstream is never called.
 */
import { request as httpRequest, createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import {
  CHECK_REQUEST_HEADERS,
  CLIENT_HEADERS_ON_ALLOW,
  CLIENT_HEADERS_ON_DENY,
  UPSTREAM_HEADERS_ON_ALLOW,
} from '../../test/helpers/envoy-bootstrap.js'
import { close, HOST, listen } from './net.js'

export interface DevGatewayOptions {
  readonly port: number
  readonly checkPort: number
  readonly upstreamPort: number
  readonly idpPort: number
  /** Called when something goes wrong between the gateway and a backend. */
  readonly onError?: (error: unknown) => void
}

export interface DevGateway {
  readonly port: number
  close(): Promise<void>
}

/** Envoy always passes these of a deny to the client, whatever the allow list says. */
const ALWAYS_ON_DENY = ['location', 'www-authenticate']
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length',
])

/**
 * The path as the check and the upstream both see it: dot segments resolved, as Envoy's
 * `normalize_path` does (the two always get the same path, so a difference with Envoy's exact
 * normalisation cannot open a bypass); undefined for a target that is not an origin-form path.
 */
export function normalisePath(target: string): string | undefined {
  if (!target.startsWith('/')) return undefined
  // Prefixed, never resolved against a base: `//dex/x` stays a path, not a host.
  const url = new URL(`http://gateway${target}`)
  return url.pathname + url.search
}

/** True when the path is `/dex` or below it (segment boundary), where Envoy routes to the IdP. */
export function routesToIdp(path: string): boolean {
  const pathOnly = path.split('?')[0]!
  return pathOnly === '/dex' || pathOnly.startsWith('/dex/')
}

function pick(headers: IncomingHttpHeaders, names: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const name of names) if (headers[name] !== undefined) out[name] = headers[name]
  return out
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

interface CheckAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

function ask(port: number, method: string, path: string, headers: OutgoingHttpHeaders, body?: IncomingMessage): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest({ host: HOST, port, method, path, headers }, resolve)
    outgoing.on('error', reject)
    if (body) body.pipe(outgoing)
    else outgoing.end()
  })
}

async function check(options: DevGatewayOptions, req: IncomingMessage, path: string): Promise<CheckAnswer> {
  const headers: OutgoingHttpHeaders = {
    ...pick(req.headers, CHECK_REQUEST_HEADERS),
    host: req.headers.host ?? `${HOST}:${options.port}`,
    // The gateway owns the scheme (Envoy's use_remote_address); a client cannot claim https.
    'x-forwarded-proto': 'http',
    'content-length': '0',
  }
  const response = await ask(options.checkPort, req.method!, path, headers)
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  return { status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }
}

/** The request to the upstream: the client's, minus removed headers, with the check's identity headers. */
function upstreamHeaders(req: IncomingMessage, answer: CheckAnswer): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value
  const toRemove = String(answer.headers['x-envoy-auth-headers-to-remove'] ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
  for (const name of toRemove) delete headers[name]
  Object.assign(headers, pick(answer.headers, UPSTREAM_HEADERS_ON_ALLOW))
  headers.host = req.headers.host
  headers['x-forwarded-proto'] = 'http'
  Object.assign(headers, pick(req.headers, ['content-length', 'transfer-encoding']))
  return headers
}

/** The upstream's response headers, plus the check's allowed headers on success (a refreshed cookie). */
function clientHeaders(upstream: IncomingMessage, answer: CheckAnswer): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (!HOP_BY_HOP.has(name) || name === 'content-length') headers[name] = value
  }
  for (const [name, value] of Object.entries(pick(answer.headers, CLIENT_HEADERS_ON_ALLOW))) {
    const existing = headers[name]
    headers[name] = [...(existing === undefined ? [] : [existing].flat()), ...[value].flat()] as string[]
  }
  return headers
}

async function handle(options: DevGatewayOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = normalisePath(req.url!)
  if (path === undefined) {
    send(res, 400, 'bad request target')
    return
  }
  let stage: 'check' | 'upstream' = 'check'
  try {
    const answer = await check(options, req, path)
    if (answer.status !== 200) {
      res.writeHead(answer.status, {
        ...pick(answer.headers, [...CLIENT_HEADERS_ON_DENY, ...ALWAYS_ON_DENY]),
        'content-length': answer.body.length,
      })
      res.end(answer.body)
      return
    }
    stage = 'upstream'
    const upstream = await ask(routesToIdp(path) ? options.idpPort : options.upstreamPort, req.method!, path, upstreamHeaders(req, answer), req)
    res.writeHead(upstream.statusCode!, clientHeaders(upstream, answer))
    upstream.on('error', () => res.destroy())
    upstream.pipe(res)
  } catch (error) {
    options.onError?.(error)
    // As Envoy: a check that cannot be made is a 403 (failure_mode_allow: false), an upstream that
    // cannot be reached a 503.
    if (stage === 'check') send(res, 403, 'authorization check failed')
    else send(res, 503, 'upstream unavailable')
  }
}

export async function startDevGateway(options: DevGatewayOptions): Promise<DevGateway> {
  // With port 0 the bound port is known only after listen; the check's Host fallback needs it.
  let bound = options
  // handle() answers every failure itself, so it never rejects.
  const server: Server = createServer((req, res) => void handle(bound, req, res))
  const port = await listen(server, options.port)
  bound = { ...options, port }
  return { port, close: () => close(server) }
}
