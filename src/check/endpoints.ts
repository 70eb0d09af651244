/**
 * The service's own endpoints, answered inside the check as non-200 replies (exactly as
 * oidc-authservice answered its callback), so no extra route or VirtualService is needed. These and
 * nothing else: any other path under the prefix is checked like every path.
 * - GET       <REDIRECT_URL path>              the OIDC callback;
 * - POST      <prefix>logout, <prefix>sign_out a logout call: 201 {"afterLogoutURL"} (oidc-authservice's,
 *                                              and the Kubeflow 1.9.0 dashboard POSTs its LOGOUT_URL);
 * - GET       <prefix>logout, <prefix>sign_out logout for a navigation, then a 302 (`?rd=<path>`);
 * - GET       <prefix>site/after_logout        the after-logout page (401, "log in again");
 * - GET       <prefix>start?rd=<path>          start a login (oauth2-proxy's entry, which user scripts call);
 * - GET       <prefix>me, <prefix>userinfo     the user's own page, or oauth2-proxy's userinfo JSON
 *                                              (check/user-page.ts; the check decides first);
 * - POST      <prefix>me/token                 the current ID token for the page's "copy API token".
 * HEAD is answered as GET (RFC 9110 §9.3.2).
 */
import type { Config } from '../config/types.js'
import type { NormalizedPath } from './path.js'
import { prefixPath } from './request.js'

export type Endpoint = 'callback' | 'logout' | 'sign-out' | 'after-logout' | 'start' | 'user-page' | 'user-token'

export function createEndpointMatcher(config: Pick<Config, 'redirectUrl' | 'urlPrefix'>): (method: string, path: NormalizedPath) => Endpoint | undefined {
  const callbackPath = config.redirectUrl.startsWith('/')
    ? config.redirectUrl.split('?')[0]!
    : new URL(config.redirectUrl).pathname
  const prefix = prefixPath(config.urlPrefix)
  const logoutPath = `${prefix}logout`
  const signOutPath = `${prefix}sign_out`
  const afterLogoutPath = `${prefix}site/after_logout`
  const startPath = `${prefix}start`
  const mePath = `${prefix}me`
  const userInfoPath = `${prefix}userinfo`
  const tokenPath = `${prefix}me/token`
  return (method, path) => {
    if (path.ambiguous) return undefined
    const p = path.path
    if (method === 'GET' || method === 'HEAD') {
      if (p === callbackPath) return 'callback'
      if (p === signOutPath || p === logoutPath) return 'sign-out'
      if (p === afterLogoutPath) return 'after-logout'
      if (p === startPath) return 'start'
      if (p === mePath || p === userInfoPath) return 'user-page'
    }
    if (method === 'POST' && (p === logoutPath || p === signOutPath)) return 'logout'
    if (method === 'POST' && p === tokenPath) return 'user-token'
    return undefined
  }
}
