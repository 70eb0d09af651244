/**
 * The service's own endpoints, answered inside the check as non-200 replies (exactly as
 * oidc-authservice answered its callback), so no extra route or VirtualService is needed:
 * - GET  <REDIRECT_URL path>            the OIDC callback;
 * - POST <prefix>logout                 oidc-authservice's logout: 201 {"afterLogoutURL"};
 * - GET  <prefix>sign_out?rd=<path>     logout for a same-origin navigation (Kubeflow ≥ 1.9's LOGOUT_URL);
 * - GET  <prefix>site/after_logout      the after-logout page (401, "log in again").
 */
import type { Config } from '../config/types.js'
import type { NormalizedPath } from './path.js'
import { prefixPath } from './request.js'

export type Endpoint = 'callback' | 'logout' | 'sign-out' | 'after-logout'

export function createEndpointMatcher(config: Pick<Config, 'redirectUrl' | 'urlPrefix'>): (method: string, path: NormalizedPath) => Endpoint | undefined {
  const callbackPath = config.redirectUrl.startsWith('/')
    ? config.redirectUrl.split('?')[0]!
    : new URL(config.redirectUrl).pathname
  const prefix = prefixPath(config.urlPrefix)
  const logoutPath = `${prefix}logout`
  const signOutPath = `${prefix}sign_out`
  const afterLogoutPath = `${prefix}site/after_logout`
  return (method, path) => {
    if (path.ambiguous) return undefined
    const p = path.path
    if (method === 'GET' || method === 'HEAD') {
      if (p === callbackPath) return 'callback'
      if (p === signOutPath) return 'sign-out'
      if (p === afterLogoutPath) return 'after-logout'
    }
    if (method === 'POST' && p === logoutPath) return 'logout'
    return undefined
  }
}
