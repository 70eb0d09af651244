/** ID_TOKEN_COOKIE: a Dex JWT an application keeps in a cookie of its own. */
import { createJwtSource, type JwtSourceDependencies } from './jwt.js'
import type { CredentialSource } from './ports.js'

export function idTokenCookieSource(cookie: string, deps: JwtSourceDependencies): CredentialSource {
  return createJwtSource('id-token-cookie', ({ cookies }) => cookies[cookie] || undefined, deps)
}
