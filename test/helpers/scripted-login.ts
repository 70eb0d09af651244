/**
 * The scripted Dex login Kubeflow users automate today (kubeflow/kfp SDK docs, kfctl#140): a plain
 * HTTP client that follows redirects through the gateway, posts Dex's password form and ends with
 * the session cookie. No JavaScript, no browser.
 */
import { rawRequest, type RawResponse } from './raw-request.js'

export class CookieJar {
  readonly cookies = new Map<string, string>()
  store(response: RawResponse): void {
    for (const line of response.setCookies()) {
      const [pair] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq).trim()
      const value = pair!.slice(eq + 1).trim()
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

export interface ScriptedLogin {
  readonly jar: CookieJar
  /** Every response on the way, in order. */
  readonly hops: RawResponse[]
  readonly final: RawResponse
  readonly finalUrl: string
  /** Set when `stopBefore` stopped the walk: the redirect target not followed. */
  readonly stoppedBefore?: URL
}

export interface ScriptedLoginOptions {
  /** Stop instead of following a redirect to this target (e.g. the callback, to break a peer first). */
  readonly stopBefore?: (next: URL) => boolean
}

/** Follows redirects (resolving relative Locations against the gateway), posting Dex's form when it shows. */
export async function scriptedLogin(
  gateway: string,
  startPath: string,
  email: string,
  password: string,
  jar = new CookieJar(),
  options: ScriptedLoginOptions = {},
): Promise<ScriptedLogin> {
  const hops: RawResponse[] = []
  let url = new URL(startPath, gateway).toString()
  let method = 'GET'
  let body: string | undefined
  for (let i = 0; i < 20; i++) {
    const headers: Record<string, string> = { accept: '*/*' }
    if (jar.cookies.size > 0) headers.cookie = jar.header()
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const response = await rawRequest(url, { method, headers, ...(body === undefined ? {} : { body }) })
    hops.push(response)
    jar.store(response)
    const location = response.header('location')
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url)
      // Test traffic stays on loopback: never follow a redirect off the gateway (the caller asserts on it).
      if (next.host !== new URL(gateway).host) return { jar, hops, final: response, finalUrl: url }
      if (options.stopBefore?.(next)) return { jar, hops, final: response, finalUrl: url, stoppedBefore: next }
      url = next.toString()
      method = 'GET'
      body = undefined
      continue
    }
    if (response.status === 200 && /name="password"/.test(response.body) && method === 'GET') {
      // Dex's password form posts back to its own URL (web/templates/password.html).
      method = 'POST'
      body = new URLSearchParams({ login: email, password }).toString()
      continue
    }
    return { jar, hops, final: response, finalUrl: url }
  }
  throw new Error('too many redirects')
}
