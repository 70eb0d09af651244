/**
 * The outbound HTTP seam: every call to an identity provider goes through a `Fetch`, so tests can
 * inject one and a custom CA (CA_BUNDLE, the cluster CA for service-account issuers) can be used
 * without touching process-wide TLS settings.
 */
import { request as httpsRequest } from 'node:https'
import { request as httpRequest } from 'node:http'
import { rootCertificates } from 'node:tls'

export type Fetch = (
  url: string,
  // `redirect: 'manual'`: openid-client asks for redirects to be answers, never followed (a token
  // request must not carry the client's credentials elsewhere); createFetchWithCa never follows one.
  init?: { headers?: Record<string, string>; signal?: AbortSignal; method?: string; body?: string; redirect?: 'manual' },
) => Promise<Response>

/**
 * A fetch over node:http(s) that trusts `extraCa` on top of the system roots (oidc-authservice
 * appended CA_BUNDLE to the system pool for every IdP call). Enough of fetch for GET and a form POST.
 */
export function createFetchWithCa(extraCa: string): Fetch {
  const ca = [...rootCertificates, extraCa]
  return (url, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url)
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest
      const request = send(
        target,
        { method: init.method ?? 'GET', headers: init.headers, signal: init.signal, ...(target.protocol === 'https:' ? { ca } : {}) },
        (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('error', reject)
          response.on('end', () => {
            const headers = new Headers()
            for (const [name, value] of Object.entries(response.headers)) {
              for (const item of [value ?? []].flat()) headers.append(name, item)
            }
            const status = response.statusCode ?? 502
            // A Response cannot carry a body with these statuses.
            const body = status === 204 || status === 304 ? null : Buffer.concat(chunks)
            resolve(new Response(body, { status, headers }))
          })
        },
      )
      request.on('error', reject)
      request.end(init.body)
    })
}
