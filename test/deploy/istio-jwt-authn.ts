/**
 * What istiod makes of a RequestAuthentication (Kubeflow's `dex-jwt`): the Envoy jwt_authn filter
 * it inserts into the gateway. Mirrors istio/istio `pilot/pkg/security/authn/policy_applier.go`
 * (convertToEnvoyJwtConfig): one provider `origins-<i>` per jwtRule, with
 *
 *   issuer, audiences             -> issuer, audiences
 *   forwardOriginalToken          -> forward
 *   fromHeaders[].name / .prefix  -> from_headers[].name / .value_prefix
 *   outputClaimToHeaders          -> claim_to_headers[].header_name / .claim_name
 *   (always)                      -> payload_in_metadata = issuer
 *   jwksUri / discovery           -> local_jwks.inline_string (istiod fetches the keys and inlines them)
 *
 * required for every path as "this provider, or no token at all" (requires_any with allow_missing:
 * a present, invalid token is refused; the DENY policy on requestPrincipals is what needs one), and
 * CORS preflights bypassed. With Istio's CUSTOM policy, ext_authz runs before it (deploy/components/dex-jwt).
 */

interface JwtRule {
  issuer: string
  audiences?: string[]
  forwardOriginalToken?: boolean
  fromHeaders?: Array<{ name: string; prefix?: string }>
  outputClaimToHeaders?: Array<{ header: string; claim: string }>
}

export interface RequestAuthentication {
  spec: { jwtRules: JwtRule[] }
}

/**
 * The jwt_authn filter for `requestAuthentication`, each rule's keys inlined from `jwks`; with
 * `issuer`, every rule's issuer is swapped for the test's (nothing else).
 */
export function jwtAuthnFilterFromRequestAuthentication(
  requestAuthentication: RequestAuthentication,
  options: { jwks: { keys: unknown[] }; issuer?: string },
): Record<string, unknown> {
  const providers: Record<string, unknown> = {}
  requestAuthentication.spec.jwtRules.forEach((rule, index) => {
    const issuer = options.issuer ?? rule.issuer
    providers[`origins-${index}`] = {
      issuer,
      ...(rule.audiences ? { audiences: rule.audiences } : {}),
      local_jwks: { inline_string: JSON.stringify(options.jwks) },
      forward: rule.forwardOriginalToken ?? false,
      ...(rule.fromHeaders ? { from_headers: rule.fromHeaders.map((header) => ({ name: header.name, value_prefix: header.prefix ?? '' })) } : {}),
      payload_in_metadata: issuer,
      ...(rule.outputClaimToHeaders ? { claim_to_headers: rule.outputClaimToHeaders.map((output) => ({ header_name: output.header, claim_name: output.claim })) } : {}),
    }
  })
  return {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      providers,
      rules: [
        {
          match: { prefix: '/' },
          requires: { requires_any: { requirements: [...Object.keys(providers).map((name) => ({ provider_name: name })), { allow_missing: {} }] } },
        },
      ],
      bypass_cors_preflight: true,
    },
  }
}
