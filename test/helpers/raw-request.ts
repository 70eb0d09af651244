/**
 * An HTTP/1.1 request with exactly the headers given. Node's fetch (undici) always sends
 * `sec-fetch-mode: cors`, which makes every request look like an API call; browsers navigating,
 * curl and python-requests do not, so tests of navigations use this instead.
 */
import { request as httpRequest } from 'node:http'

export interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  header(name: string): string | undefined
  setCookies(): string[]
}

export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          header: (name) => {
            const value = res.headers[name.toLowerCase()]
            return Array.isArray(value) ? value.join(', ') : value
          },
          setCookies: () => res.headers['set-cookie'] ?? [],
        }),
      )
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** What a browser sends for a top-level navigation. */
export const NAVIGATION_HEADERS = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
}
