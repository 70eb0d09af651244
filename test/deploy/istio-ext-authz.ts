/**
 * What istiod makes of a `meshConfig.extensionProviders[].envoyExtAuthzHttp` entry: the Envoy
 * ext_authz HTTP filter it inserts into the gateway for requests a CUSTOM AuthorizationPolicy
 * matches. Mirrors istio/istio `pilot/pkg/security/authz/builder/extauthz.go` (Istio >= 1.18; see
 * ../../../shared/reference/envoy-ext-authz.md §3.1) so the tests can run deploy/'s provider
 * settings through real Envoy:
 *
 *   service, port                  -> http_service.server_uri.cluster = outbound|<port>||<service>,
 *                                     server_uri.uri = http://<service>
 *   timeout                        -> server_uri.timeout (Istio's default: 600s)
 *   failOpen                       -> failure_mode_allow (default false)
 *   statusOnError                  -> status_on_error.code
 *   pathPrefix                     -> http_service.path_prefix
 *   includeRequestHeadersInCheck   -> top-level allowed_headers (Istio >= 1.18; before, it was
 *                                     http_service.authorization_request.allowed_headers)
 *   includeAdditionalHeadersInCheck-> http_service.authorization_request.headers_to_add (sorted by key)
 *   includeRequestBodyInCheck      -> with_request_body
 *   headersToUpstreamOnAllow       -> authorization_response.allowed_upstream_headers
 *   headersToDownstreamOnDeny      -> authorization_response.allowed_client_headers
 *   headersToDownstreamOnAllow     -> authorization_response.allowed_client_headers_on_success
 *   (always)                       -> transport_api_version: V3
 * Every header pattern is case-insensitive (`ignore_case: true`); `abc*` is a prefix, `*abc` a
 * suffix, anything else exact, and a lone `*` is rejected.
 *
 * Left out on purpose: `filter_enabled_metadata`, which makes the filter run only when the RBAC
 * filter's shadow rules (generated from the CUSTOM policy) matched the request. The standalone test
 * gateway has no such RBAC filter; with it the filter would never run. A policy with
 * `rules: [{}]` (deploy/components/istio-ext-authz) matches every request, which is what a filter
 * without `filter_enabled_metadata` does.
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { DEPLOY, type KubeObject } from './kustomize.js'

export interface EnvoyExtAuthzHttpProvider {
  service: string
  port: number
  timeout?: string
  failOpen?: boolean
  statusOnError?: string
  pathPrefix?: string
  includeRequestHeadersInCheck?: string[]
  includeAdditionalHeadersInCheck?: Record<string, string>
  includeRequestBodyInCheck?: { maxRequestBytes?: number; allowPartialMessage?: boolean; packAsBytes?: boolean }
  headersToUpstreamOnAllow?: string[]
  headersToDownstreamOnDeny?: string[]
  headersToDownstreamOnAllow?: string[]
}

const KNOWN_FIELDS = new Set<string>([
  'service', 'port', 'timeout', 'failOpen', 'statusOnError', 'pathPrefix', 'includeRequestHeadersInCheck',
  'includeAdditionalHeadersInCheck', 'includeRequestBodyInCheck', 'headersToUpstreamOnAllow',
  'headersToDownstreamOnDeny', 'headersToDownstreamOnAllow',
])

function headerMatchers(names: string[] | undefined): { patterns: Array<Record<string, unknown>> } | undefined {
  if (!names || names.length === 0) return undefined
  return {
    patterns: names.map((name) => {
      if (name === '*') throw new Error('a lone "*" header pattern is rejected by istiod')
      if (name.endsWith('*')) return { prefix: name.slice(0, -1), ignore_case: true }
      if (name.startsWith('*')) return { suffix: name.slice(1), ignore_case: true }
      return { exact: name, ignore_case: true }
    }),
  }
}

/**
 * The ext_authz filter istiod generates for `provider`. With `options.cluster`, the cluster (and
 * the uri naming it) is swapped for the test's loopback cluster, nothing else.
 */
export function extAuthzFilterFromExtensionProvider(
  provider: EnvoyExtAuthzHttpProvider,
  options: { cluster?: string } = {},
): Record<string, unknown> {
  const unknown = Object.keys(provider).filter((key) => !KNOWN_FIELDS.has(key))
  if (unknown.length > 0) throw new Error(`envoyExtAuthzHttp fields this translation does not know: ${unknown.join(', ')}`)
  if (!(provider.port >= 1 && provider.port <= 65535)) throw new Error(`port must be in [1, 65535], found ${provider.port}`)
  if (provider.pathPrefix !== undefined && !provider.pathPrefix.startsWith('/')) throw new Error('pathPrefix must begin with /')

  const host = provider.service
  const cluster = options.cluster ?? `outbound|${provider.port}||${host}`
  const uri = options.cluster === undefined ? `http://${host}` : `http://${options.cluster}`

  const additional = Object.entries(provider.includeAdditionalHeadersInCheck ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const authorizationRequest = additional.length > 0 ? { headers_to_add: additional.map(([key, value]) => ({ key, value })) } : undefined
  const upstream = headerMatchers(provider.headersToUpstreamOnAllow)
  const onDeny = headerMatchers(provider.headersToDownstreamOnDeny)
  const onAllow = headerMatchers(provider.headersToDownstreamOnAllow)
  const authorizationResponse =
    upstream || onDeny || onAllow
      ? {
          ...(upstream ? { allowed_upstream_headers: upstream } : {}),
          ...(onDeny ? { allowed_client_headers: onDeny } : {}),
          ...(onAllow ? { allowed_client_headers_on_success: onAllow } : {}),
        }
      : undefined
  const allowedHeaders = headerMatchers(provider.includeRequestHeadersInCheck)
  const body = provider.includeRequestBodyInCheck

  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      transport_api_version: 'V3',
      failure_mode_allow: provider.failOpen ?? false,
      ...(provider.statusOnError ? { status_on_error: { code: Number(provider.statusOnError) } } : {}),
      ...(allowedHeaders ? { allowed_headers: allowedHeaders } : {}),
      ...(body
        ? {
            with_request_body: {
              max_request_bytes: body.maxRequestBytes ?? 0,
              allow_partial_message: body.allowPartialMessage ?? false,
              pack_as_bytes: body.packAsBytes ?? false,
            },
          }
        : {}),
      http_service: {
        server_uri: { uri, cluster, timeout: provider.timeout ?? '600s' },
        ...(provider.pathPrefix ? { path_prefix: provider.pathPrefix } : {}),
        ...(authorizationRequest ? { authorization_request: authorizationRequest } : {}),
        ...(authorizationResponse ? { authorization_response: authorizationResponse } : {}),
      },
    },
  }
}

/**
 * The filter istiod makes for the provider that the rendered CUSTOM AuthorizationPolicy names, taken
 * from deploy/'s mesh-config/mesh.yaml, with the test's loopback `cluster`.
 */
export function extAuthzFilterOfRenderedPolicy(objects: KubeObject[], options: { cluster: string }): Record<string, unknown> {
  const named = (objects.find((object) => object.kind === 'AuthorizationPolicy') as { spec?: { provider?: { name?: string } } } | undefined)?.spec?.provider?.name
  const meshFile = join(DEPLOY, 'components', 'istio-ext-authz', 'mesh-config', 'mesh.yaml')
  const { extensionProviders } = parseYaml(readFileSync(meshFile, 'utf8')) as { extensionProviders: Array<{ name: string; envoyExtAuthzHttp?: EnvoyExtAuthzHttpProvider }> }
  const http = extensionProviders.find((entry) => entry.name === named)?.envoyExtAuthzHttp
  if (!http) throw new Error(`the rendered AuthorizationPolicy names provider ${named}, which mesh.yaml lacks`)
  return extAuthzFilterFromExtensionProvider(http, options)
}
