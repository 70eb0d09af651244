/** `Authorization: Bearer <JWT>`: how SDKs, pipelines and `curl` call the API. */
import { bearerCredential, ownedByKubernetes, ownedBySessionHeader } from './bearer.js'
import { createJwtSource, type JwtSourceDependencies } from './jwt.js'
import type { CredentialSource } from './ports.js'

/** `kubernetesIssuers`: a token of these issuers is the Kubernetes source's (bearer.ts), never tried here. */
export function authorizationBearerSource(sessionHeader: string, deps: JwtSourceDependencies, kubernetesIssuers: ReadonlySet<string>): CredentialSource {
  return createJwtSource(
    'authorization',
    ({ headers }) => {
      if (ownedBySessionHeader('authorization', headers.authorization, sessionHeader)) return undefined
      const credential = bearerCredential(headers.authorization)
      return credential === undefined || ownedByKubernetes(credential, kubernetesIssuers) ? undefined : credential
    },
    deps,
  )
}
