/**
 * An Envoy bootstrap imitating the Istio ingressgateway in front of Kubeflow, as the shipped
 * EnvoyFilter wires it: ext_authz on EVERY route (the auth service answers skip paths, the callback,
 * logout and its own pages inside the check), no path_prefix, `/dex` routed to the identity
 * provider through the same gateway so the browser reaches it at a relative `/dex/auth`, everything
 * else to the upstream. The tests run it (test/helpers/envoy.ts re-exports it), and so do the local
 * demo (dev/demo, through startEnvoy) and the benchmark: one gateway definition for all of them.
 */

/** Request headers Envoy copies into the HTTP check, beyond the always-sent method, path, host and authorization. */
export const CHECK_REQUEST_HEADERS = [
  'authorization',
  'cookie',
  'x-auth-token',
  'accept',
  'sec-fetch-mode',
  'sec-fetch-dest',
  'sec-fetch-site',
  'origin',
  'x-requested-with',
  'x-forwarded-proto',
]
/** Headers of our 200 that Envoy sets (overwriting) on the upstream request. */
export const UPSTREAM_HEADERS_ON_ALLOW = ['kubeflow-userid', 'kubeflow-groups', 'authorization', 'x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups']
/** Headers of a deny that reach the client (Envoy always adds location, www-authenticate, content-length). */
export const CLIENT_HEADERS_ON_DENY = ['set-cookie', 'content-type', 'cache-control', 'referrer-policy', 'content-security-policy', 'retry-after']
/** Headers of our 200 that Envoy adds to the upstream's response (a refreshed session cookie). */
export const CLIENT_HEADERS_ON_ALLOW = ['set-cookie']

const exact = (names: string[]) => ({ patterns: names.map((name) => ({ exact: name })) })

/** The ext_authz filter (HTTP service mode), as the legacy EnvoyFilter ships it. */
export function httpExtAuthzFilter(cluster: string, timeout = '5s'): Record<string, unknown> {
  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      failure_mode_allow: false,
      http_service: {
        server_uri: { uri: `http://${cluster}`, cluster, timeout },
        authorization_request: { allowed_headers: exact(CHECK_REQUEST_HEADERS) },
        authorization_response: {
          allowed_upstream_headers: exact(UPSTREAM_HEADERS_ON_ALLOW),
          allowed_client_headers: exact(CLIENT_HEADERS_ON_DENY),
          allowed_client_headers_on_success: exact(CLIENT_HEADERS_ON_ALLOW),
        },
      },
    },
  }
}

/** The ext_authz filter in gRPC mode (envoy.service.auth.v3.Authorization/Check). */
export function grpcExtAuthzFilter(cluster: string, timeout = '5s'): Record<string, unknown> {
  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      transport_api_version: 'V3',
      failure_mode_allow: false,
      grpc_service: { envoy_grpc: { cluster_name: cluster }, timeout },
      // gRPC mode sends every header unless listed; list what the HTTP mode forwards, plus pseudo-headers.
      allowed_headers: exact([':authority', ':method', ':path', ':scheme', ...CHECK_REQUEST_HEADERS]),
    },
  }
}

export interface GatewayOptions {
  /** Where the auth service listens, and how Envoy talks to it. */
  authz: { mode: 'http' | 'grpc'; port: number }
  upstreamPort: number
  /** When set, `/dex` (on segment boundaries) is routed to Dex on this port. */
  dexPort?: number
  /** Replaces the generated ext_authz filter (e.g. the one rendered from deploy/). */
  extAuthzFilter?: Record<string, unknown>
  /** Leaves the ext_authz filter out entirely (the baseline for latency measurements). */
  withoutExtAuthz?: boolean
  /** HTTP filters after ext_authz, before the router (Istio's jwt_authn of a RequestAuthentication). */
  filtersAfterExtAuthz?: Array<Record<string, unknown>>
}

function staticCluster(name: string, port: number, http2 = false): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    ...(http2
      ? {
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        }
      : {}),
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
    },
  }
}

/** The whole bootstrap; without `adminPort` Envoy runs without an admin listener. */
export function gatewayBootstrap(
  options: GatewayOptions & { listenPort: number; adminPort?: number },
): Record<string, unknown> {
  const authzCluster = 'authservice'
  const filter =
    options.extAuthzFilter ??
    (options.authz.mode === 'http' ? httpExtAuthzFilter(authzCluster) : grpcExtAuthzFilter(authzCluster))
  const routes = [
    ...(options.dexPort === undefined
      ? []
      : [{ match: { path_separated_prefix: '/dex' }, route: { cluster: 'dex' } }]),
    { match: { prefix: '/' }, route: { cluster: 'upstream', timeout: '30s' } },
  ]
  return {
    ...(options.adminPort === undefined
      ? {}
      : { admin: { address: { socket_address: { address: '127.0.0.1', port_value: options.adminPort } } } }),
    static_resources: {
      listeners: [
        {
          name: 'ingress_http',
          address: { socket_address: { address: '127.0.0.1', port_value: options.listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'ingress_http',
                    codec_type: 'AUTO',
                    use_remote_address: true, // gateway-like: Envoy owns x-forwarded-for / -proto
                    normalize_path: true, // Istio's default path normalisation (BASE)
                    route_config: {
                      name: 'kubeflow',
                      virtual_hosts: [{ name: 'kubeflow', domains: ['*'], routes }],
                    },
                    http_filters: [
                      ...(options.withoutExtAuthz ? [] : [filter]),
                      ...(options.filtersAfterExtAuthz ?? []),
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        staticCluster('upstream', options.upstreamPort),
        staticCluster(authzCluster, options.authz.port, options.authz.mode === 'grpc'),
        ...(options.dexPort === undefined ? [] : [staticCluster('dex', options.dexPort)]),
      ],
    },
  }
}
