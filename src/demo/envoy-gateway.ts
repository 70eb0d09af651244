/**
 * Runs real Envoy as the demo's gateway, with the bootstrap of envoy-bootstrap.ts (the same one the
 * tests run): found as DEMO_ENVOY, else `envoy` on PATH, else the Envoy that `npm test` installs
 * (test/peers/install.sh writes its path to `${XDG_CACHE_HOME:-~/.cache}/authservice-peers/peers.json`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { gatewayBootstrap } from './envoy-bootstrap.js'
import { HOST } from './net.js'

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
  const cacheHome = env.XDG_CACHE_HOME || join(homedir(), '.cache')
  try {
    const manifest = JSON.parse(readFileSync(join(cacheHome, 'authservice-peers', 'peers.json'), 'utf8')) as {
      envoy?: { path?: string | null }
    }
    const path = manifest.envoy?.path
    if (path && executable(path)) return { path, source: 'npm test peers' }
  } catch {
    // no peers installed
  }
  return undefined
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

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
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
  const dir = mkdtempSync(join(tmpdir(), 'authservice-demo-envoy-'))
  const configPath = join(dir, 'envoy.json')
  const bootstrap = gatewayBootstrap({
    authz: { mode: 'http', port: options.checkPort },
    upstreamPort: options.upstreamPort,
    dexPort: options.idpPort,
    listenPort: options.port,
  })
  writeFileSync(configPath, JSON.stringify(bootstrap, null, 2))
  const version = await envoyVersion(options.envoyPath)
  const child: ChildProcess = spawn(
    options.envoyPath,
    ['-c', configPath, '--use-dynamic-base-id', '--log-level', 'error', '--concurrency', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const keep = (chunk: Buffer) => {
    if (output.length < 100_000) output += chunk.toString('utf8')
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', (chunk: Buffer) => {
    keep(chunk)
    process.stderr.write(chunk)
  })
  const exited = once(child, 'exit')
  let gone = false
  void exited.then(() => (gone = true))
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  const stop = async () => {
    process.off('exit', killOnExit)
    if (!gone) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + 20_000
  while (!(await accepts(options.port))) {
    if (gone || Date.now() > deadline) {
      await stop()
      throw new Error(`Envoy (${options.envoyPath}) did not start:\n${output.trim()}`)
    }
    await delay(100)
  }
  return { port: options.port, version, close: stop }
}
