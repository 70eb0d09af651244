/**
 * A standalone Envoy imitating the Istio ingressgateway in front of Kubeflow, as the shipped
 * EnvoyFilter wires it: ext_authz on EVERY route (the auth service answers skip paths, the callback,
 * logout and its own pages inside the check), no path_prefix, `/dex` routed to Dex through the same
 * gateway so the browser reaches Dex at a relative `/dex/auth`, everything else to the upstream.
 * Contract: ../../../shared/reference/envoy-ext-authz.md §1, §2, §4.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { installedPeer } from './peer-manifest.js'
import { runToCompletion, startPeerProcess } from './peer-process.js'
import { freePort } from './ports.js'
import { answers, waitUntil } from './wait.js'

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
export const UPSTREAM_HEADERS_ON_ALLOW = ['kubeflow-userid', 'kubeflow-groups', 'authorization']
/** Headers of a deny that reach the client (Envoy always adds location, www-authenticate, content-length). */
export const CLIENT_HEADERS_ON_DENY = ['set-cookie', 'content-type', 'cache-control', 'referrer-policy', 'retry-after']
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

/**
 * The ext_authz filter of a rendered EnvoyFilter (`kustomize build` of deploy/, as YAML text, one
 * object or a list): the `spec.configPatches[].patch.value` that Istio inserts into the gateway,
 * VERBATIM except the cluster it calls — `server_uri.cluster` and `uri` (HTTP) or
 * `envoy_grpc.cluster_name` (gRPC) — swapped for `options.cluster`, the test's loopback cluster.
 * Throws unless there is exactly one ext_authz HTTP_FILTER patch.
 */
export function extAuthzFilterFromEnvoyFilter(
  rendered: string | Record<string, unknown> | Array<Record<string, unknown>>,
  options: { cluster: string },
): Record<string, unknown> {
  type Patch = { applyTo?: string; patch?: { value?: Record<string, unknown> } }
  const objects: Array<Record<string, unknown>> =
    typeof rendered === 'string'
      ? parseAllDocuments(rendered).map((doc) => doc.toJS() as Record<string, unknown>).filter(Boolean)
      : Array.isArray(rendered)
        ? rendered
        : [rendered]
  const values = objects
    .filter((object) => object.kind === 'EnvoyFilter')
    .flatMap((object) => ((object.spec as { configPatches?: Patch[] } | undefined)?.configPatches ?? []))
    .filter((patch) => patch.applyTo === 'HTTP_FILTER' && patch.patch?.value?.name === 'envoy.filters.http.ext_authz')
    .map((patch) => patch.patch!.value!)
  if (values.length !== 1) throw new Error(`expected one ext_authz HTTP_FILTER patch in the EnvoyFilter(s), found ${values.length}`)
  const filter = structuredClone(values[0]!)
  const typed = filter.typed_config as {
    http_service?: { server_uri?: { cluster?: string; uri?: string } }
    grpc_service?: { envoy_grpc?: { cluster_name?: string } }
  }
  if (typed?.http_service?.server_uri) {
    typed.http_service.server_uri.cluster = options.cluster
    typed.http_service.server_uri.uri = `http://${options.cluster}`
  } else if (typed?.grpc_service?.envoy_grpc) {
    typed.grpc_service.envoy_grpc.cluster_name = options.cluster
  } else {
    throw new Error('the ext_authz filter has neither http_service.server_uri nor grpc_service.envoy_grpc')
  }
  return filter
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

export function gatewayBootstrap(
  options: GatewayOptions & { listenPort: number; adminPort: number },
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
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: options.adminPort } } },
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

export interface Envoy {
  /** http://127.0.0.1:<listener port> — what a client (curl, Chromium) calls. */
  readonly url: string
  readonly adminUrl: string
  readonly bootstrap: Record<string, unknown>
  /** ext_authz counters from the admin stats (ok, denied, error, …). */
  extAuthzStats(): Promise<Record<string, number>>
  output(): string
  stop(): Promise<void>
}

/** Validates a bootstrap with `envoy --mode validate`; throws with Envoy's own words when it is wrong. */
export async function validateBootstrap(bootstrap: Record<string, unknown>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'authservice-envoy-'))
  try {
    const path = join(dir, 'envoy.json')
    writeFileSync(path, JSON.stringify(bootstrap))
    const result = await runToCompletion(installedPeer('envoy'), ['--mode', 'validate', '-c', path])
    if (result.code !== 0) throw new Error(`envoy --mode validate failed:\n${result.output}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function startEnvoy(options: GatewayOptions): Promise<Envoy> {
  const binary = installedPeer('envoy')
  const listenPort = await freePort()
  const adminPort = await freePort()
  const bootstrap = gatewayBootstrap({ ...options, listenPort, adminPort })
  await validateBootstrap(bootstrap)
  const dir = mkdtempSync(join(tmpdir(), 'authservice-envoy-'))
  const path = join(dir, 'envoy.json')
  writeFileSync(path, JSON.stringify(bootstrap))
  const peer = startPeerProcess('envoy', binary, [
    '-c', path,
    '--use-dynamic-base-id', // several Envoys may run at once
    '--log-level', 'warn',
    '--concurrency', '1',
  ])
  const adminUrl = `http://127.0.0.1:${adminPort}`
  try {
    await waitUntil('Envoy ready', () => answers(`${adminUrl}/ready`))
  } catch (error) {
    await peer.stop()
    throw new Error(`Envoy did not start:\n${peer.output()}`, { cause: error })
  }
  return {
    url: `http://127.0.0.1:${listenPort}`,
    adminUrl,
    bootstrap,
    async extAuthzStats() {
      const text = await (await fetch(`${adminUrl}/stats?filter=ext_authz`)).text()
      const stats: Record<string, number> = {}
      for (const line of text.split('\n')) {
        const match = /^http\.ingress_http\.ext_authz\.(\w+): (\d+)$/.exec(line.trim())
        if (match) stats[match[1]!] = Number(match[2])
      }
      return stats
    },
    output: () => peer.output(),
    async stop() {
      await peer.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
