/** `Authorization: Bearer <JWT>`: how SDKs, pipelines and `curl` call the API. */
import { bearerCredential, ownedBySessionHeader } from './bearer.js'
import { createJwtSource, type JwtSourceDependencies } from './jwt.js'
import type { CredentialSource } from './ports.js'

export function authorizationBearerSource(sessionHeader: string, deps: JwtSourceDependencies): CredentialSource {
  return createJwtSource(
    'authorization',
    ({ headers }) => (ownedBySessionHeader('authorization', headers.authorization, sessionHeader) ? undefined : bearerCredential(headers.authorization)),
    deps,
  )
}
