/** ID_TOKEN_HEADER (when it is not `authorization`): a JWT with or without `Bearer `. */
import { bearerCredential, ownedBySessionHeader } from './bearer.js'
import { createJwtSource, type JwtSourceDependencies } from './jwt.js'
import type { CredentialSource } from './ports.js'

export function idTokenHeaderSource(header: string, sessionHeader: string, deps: JwtSourceDependencies): CredentialSource {
  return createJwtSource(
    'id-token-header',
    ({ headers }) => {
      const raw = headers[header]?.trim()
      if (!raw || ownedBySessionHeader(header, raw, sessionHeader)) return undefined
      return bearerCredential(raw) ?? raw
    },
    deps,
  )
}
