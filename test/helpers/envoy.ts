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
import { runToCompletion, startPeerProcess, type PeerProcess, type PeerProcessOptions } from './peer-process.js'
import { freePort } from './ports.js'
import { answers, waitUntil } from './wait.js'
import { gatewayBootstrap, type GatewayOptions } from './envoy-bootstrap.js'

// The gateway definition (envoy-bootstrap.ts), which the local demo and the benchmark run too.
export {
  CHECK_REQUEST_HEADERS,
  UPSTREAM_HEADERS_ON_ALLOW,
  CLIENT_HEADERS_ON_DENY,
  CLIENT_HEADERS_ON_ALLOW,
  httpExtAuthzFilter,
  grpcExtAuthzFilter,
  gatewayBootstrap,
  type GatewayOptions,
} from './envoy-bootstrap.js'

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

export interface Envoy {
  /** http://127.0.0.1:<listener port> — what a client (curl, Chromium) calls. */
  readonly url: string
  readonly port: number
  readonly peer: PeerProcess
  readonly adminUrl: string
  readonly bootstrap: Record<string, unknown>
  /** ext_authz counters from the admin stats (ok, denied, error, …). */
  extAuthzStats(): Promise<Record<string, number>>
  output(): string
  stop(): Promise<void>
}

/** How startEnvoy runs Envoy, beyond the gateway definition; the defaults are the tests'. */
export interface EnvoyProcessOptions extends Pick<PeerProcessOptions, 'prefix' | 'onOutput'> {
  /** The envoy binary (default: the installed peer). */
  binary?: string
  /** The listener's port (default: a free one). */
  listenPort?: number
  /** Envoy's --log-level (default warn). */
  logLevel?: string
}

/** Validates a bootstrap with `envoy --mode validate`; throws with Envoy's own words when it is wrong. */
export async function validateBootstrap(bootstrap: Record<string, unknown>, binary = installedPeer('envoy')): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'authservice-envoy-'))
  try {
    const path = join(dir, 'envoy.json')
    writeFileSync(path, JSON.stringify(bootstrap))
    const result = await runToCompletion(binary, ['--mode', 'validate', '-c', path])
    if (result.code !== 0) throw new Error(`envoy --mode validate failed:\n${result.output}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function startEnvoy(options: GatewayOptions & EnvoyProcessOptions): Promise<Envoy> {
  const { binary = installedPeer('envoy'), logLevel = 'warn', prefix, onOutput, ...gateway } = options
  const listenPort = options.listenPort ?? (await freePort())
  const adminPort = await freePort()
  const bootstrap = gatewayBootstrap({ ...gateway, listenPort, adminPort })
  await validateBootstrap(bootstrap, binary)
  const dir = mkdtempSync(join(tmpdir(), 'authservice-envoy-'))
  const path = join(dir, 'envoy.json')
  writeFileSync(path, JSON.stringify(bootstrap))
  const peer = startPeerProcess('envoy', binary, [
    '-c', path,
    '--use-dynamic-base-id', // several Envoys may run at once
    '--log-level', logLevel,
    '--concurrency', '1',
  ], { prefix, onOutput })
  const adminUrl = `http://127.0.0.1:${adminPort}`
  try {
    await waitUntil('Envoy ready', () => answers(`${adminUrl}/ready`), { giveUpIf: () => (peer.alive() ? undefined : 'Envoy exited') })
  } catch (error) {
    await peer.stop()
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`Envoy did not start:\n${peer.output()}`, { cause: error })
  }
  return {
    url: `http://127.0.0.1:${listenPort}`,
    port: listenPort,
    peer,
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
