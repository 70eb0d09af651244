/**
 * Runs real Envoy as the demo's gateway: the tests' startEnvoy (test/helpers/envoy.ts, the gateway
 * definition of test/helpers/envoy-bootstrap.ts) on the demo's port. The binary is DEMO_ENVOY, else
 * `envoy` on PATH, else the Envoy that `npm test` installs (test/peers/install.sh records its path in
 * the peer manifest).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { startEnvoy } from '../../test/helpers/envoy.js'
import { recordedPeerPath } from '../../test/helpers/peer-manifest.js'

export interface FoundEnvoy {
  readonly path: string
  /** Where it was found, for the banner. */
  readonly source: 'DEMO_ENVOY' | 'PATH' | 'npm test peers'
}

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The envoy binary to use, or undefined when there is none. An explicit path must be executable. */
export function findEnvoy(env: Readonly<Record<string, string | undefined>>, explicit: string | undefined): FoundEnvoy | undefined {
  if (explicit) return executable(explicit) ? { path: explicit, source: 'DEMO_ENVOY' } : undefined
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'envoy'))) return { path: join(dir, 'envoy'), source: 'PATH' }
  }
  const installed = recordedPeerPath('envoy')
  return installed && executable(installed) ? { path: installed, source: 'npm test peers' } : undefined
}

export interface EnvoyGatewayOptions {
  readonly envoyPath: string
  readonly port: number
  readonly checkPort: number
  readonly upstreamPort: number
  readonly idpPort: number
}

export interface EnvoyGateway {
  readonly port: number
  readonly version: string
  close(): Promise<void>
}

async function envoyVersion(path: string): Promise<string> {
  const child = spawn(path, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
  await once(child, 'exit')
  // "envoy  version: <sha>/1.36.4/Clean/RELEASE/BoringSSL"
  return /\/(\d+\.\d+\.\d+)\//.exec(out)?.[1] ?? 'unknown version'
}

export async function startEnvoyGateway(options: EnvoyGatewayOptions): Promise<EnvoyGateway> {
  const version = await envoyVersion(options.envoyPath)
  const envoy = await startEnvoy({
    authz: { mode: 'http', port: options.checkPort },
    upstreamPort: options.upstreamPort,
    dexPort: options.idpPort,
    binary: options.envoyPath,
    listenPort: options.port,
    logLevel: 'error',
    // What Envoy reports at that level is worth seeing as it happens.
    onOutput: (chunk) => process.stderr.write(chunk),
  })
  return { port: envoy.port, version, close: () => envoy.stop() }
}
