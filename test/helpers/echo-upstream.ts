/**
 * The upstream behind the test gateway: answers every request with the request it received, so a
 * test can assert exactly which headers reached the application (e.g. one `kubeflow-userid`, ours).
 * Browsers get the same JSON inside a small HTML page (`#echo`), with a `#whoami` line.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface EchoedRequest {
  method: string
  path: string
  headers: Record<string, string | string[]>
  /** Every header line as received, duplicates kept: [name (lower-case), value][]. */
  headerLines: Array<[string, string]>
}

export interface EchoUpstream {
  readonly port: number
  readonly received: EchoedRequest[]
  close(): Promise<void>
}

function echo(request: IncomingMessage): EchoedRequest {
  const headerLines: Array<[string, string]> = []
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    headerLines.push([request.rawHeaders[i]!.toLowerCase(), request.rawHeaders[i + 1]!])
  }
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of headerLines) {
    const previous = headers[name]
    headers[name] = previous === undefined ? value : [...[previous].flat(), value]
  }
  return { method: request.method ?? '', path: request.url ?? '', headers, headerLines }
}

/**
 * The octets of every line of header `name` the upstream received. Node reads header values as latin1
 * (one character per octet), so this gives back the bytes on the wire, whatever their encoding.
 */
export const headerOctets = (echoed: EchoedRequest, name: string): Buffer[] =>
  echoed.headerLines.filter(([header]) => header === name).map(([, value]) => Buffer.from(value, 'latin1'))

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export async function startEchoUpstream(): Promise<EchoUpstream> {
  const received: EchoedRequest[] = []
  const server: Server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      const echoed = echo(request)
      received.push(echoed)
      const json = JSON.stringify(echoed)
      if (String(request.headers.accept ?? '').includes('text/html')) {
        const user = String(request.headers['kubeflow-userid'] ?? '(none)')
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        response.end(
          `<!doctype html><title>echo</title><p id="whoami">${escapeHtml(user)}</p>` +
            `<pre id="echo">${escapeHtml(json)}</pre>`,
        )
        return
      }
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(json)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
