/**
 * A real oauth2-proxy session: the login a browser does, scripted over plain HTTP. oauth2-proxy's
 * /oauth2/start sets its CSRF cookie and redirects to Dex; Dex's password form is posted
 * (scripted-login.ts); Dex's redirect to the callback is taken to oauth2-proxy, which redeems the code
 * (PKCE) and sets its encrypted session cookie. Nothing is forged: the cookie is oauth2-proxy's own.
 * Dex must list oauth2-proxy's relative redirect URI (OAUTH2_PROXY_CALLBACK) among its client's.
 */
import type { Dex } from './dex.js'
import { OAUTH2_PROXY_CALLBACK, OAUTH2_PROXY_COOKIE, type OAuth2Proxy } from './oauth2-proxy.js'
import { rawRequest } from './raw-request.js'
import { CookieJar, scriptedLogin } from './scripted-login.js'

/** The `cookie` header value carrying the session (one cookie, or its `_0`, `_1`… parts when split). */
export async function oauth2ProxySessionCookie(proxy: OAuth2Proxy, dex: Dex, email = 'user@example.com'): Promise<string> {
  const user = dex.users.find((candidate) => candidate.email === email)
  if (!user) throw new Error(`no Dex user ${email}`)
  const jar = new CookieJar()
  const start = await rawRequest(`${proxy.url}/oauth2/start?rd=%2F`, { headers: { accept: '*/*' } })
  jar.store(start)
  const toDex = start.header('location')
  if (start.status !== 302 || !toDex?.startsWith(dex.issuer)) {
    throw new Error(`oauth2-proxy /oauth2/start answered ${start.status} to ${toDex ?? 'nowhere'}, not a redirect to Dex`)
  }
  // Dex redirects to the relative callback, i.e. on its own host: stop there and take it to oauth2-proxy.
  const login = await scriptedLogin(dex.origin, toDex, user.email, user.password, new CookieJar(), {
    stopBefore: (next) => next.pathname === OAUTH2_PROXY_CALLBACK,
  })
  if (!login.stoppedBefore) throw new Error(`the Dex login ended with ${login.final.status} at ${login.finalUrl}, not at the callback`)
  const callback = await rawRequest(`${proxy.url}${login.stoppedBefore.pathname}${login.stoppedBefore.search}`, {
    headers: { accept: '*/*', cookie: jar.header() },
  })
  jar.store(callback)
  const session = [...jar.cookies].filter(([name]) => name === OAUTH2_PROXY_COOKIE || new RegExp(`^${OAUTH2_PROXY_COOKIE}_\\d+$`).test(name))
  if (callback.status !== 302 || session.length === 0) {
    throw new Error(`oauth2-proxy's callback answered ${callback.status} without its session cookie: ${callback.body.slice(0, 300)}`)
  }
  return session.map(([name, value]) => `${name}=${value}`).join('; ')
}
