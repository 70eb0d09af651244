/**
 * The built entry (`node dist/server.js`, what `npm start` and the container run) as a child
 * process on fixed loopback ports, so it can be signalled, measured (RSS from /proc) and started
 * again on the same ports (a restart as Envoy sees it).
 */
import { existsSync } from 'node:fs'
import { rssBytesOf, startPeerProcess, type PeerProcess, type PeerProcessOptions } from './peer-process.js'
import { freePort } from './ports.js'
import { answers, waitUntil } from './wait.js'

export const ENTRY = new URL('../../dist/server.js', import.meta.url).pathname

/** A skip reason when dist/ is missing (CI fails instead, like entrypoint.test.ts). */
export function entryBuilt(): false | string {
  if (existsSync(ENTRY)) return false
  const reason = 'dist/server.js missing: run `npm run build` (npm test does)'
  if (process.env.CI === 'true') throw new Error(reason)
  return reason
}

export interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface EntryPorts {
  readonly check: number
  readonly ops: number
  readonly grpc?: number
}

export interface EntryProcess {
  readonly ports: EntryPorts
  readonly checkUrl: string
  readonly opsUrl: string
  readonly peer: PeerProcess
  /** Resident set size in bytes (VmRSS), or undefined once the process is gone. */
  rssBytes(): number | undefined
  /** Resolves with the exit code (null when killed) once the process has exited, whoever ended it. */
  readonly exited: Promise<ExitStatus>
  /**
   * Waits for the exit; a process still running after `killAfterMs` (default 15 s) is killed, which
   * shows as `signal: 'SIGKILL'`.
   */
  waitExit(killAfterMs?: number): Promise<ExitStatus>
  /** Sends `signal` (once) and waits for the exit as waitExit does. */
  terminate(signal?: NodeJS.Signals, killAfterMs?: number): Promise<ExitStatus>
  output(): string
}

export async function freeEntryPorts(grpc = false): Promise<EntryPorts> {
  return { check: await freePort(), ops: await freePort(), ...(grpc ? { grpc: await freePort() } : {}) }
}

export interface EntryOptions extends Pick<PeerProcessOptions, 'prefix' | 'output'> {
  ports?: EntryPorts
  grpc?: boolean
  waitReady?: boolean
  nodeArgs?: string[]
  /** Another build's server.js (default: this repository's dist/server.js). */
  entry?: string
}

/** Starts the entry with `env` on `ports` (fresh ones by default) and waits for /readyz unless told not to. */
export async function startEntry(env: Record<string, string>, options: EntryOptions = {}): Promise<EntryProcess> {
  const ports = options.ports ?? (await freeEntryPorts(options.grpc))
  const peer = startPeerProcess('authservice', process.execPath, [...(options.nodeArgs ?? []), options.entry ?? ENTRY], {
    prefix: options.prefix,
    output: options.output,
    env: {
      ...env,
      SERVER_HOSTNAME: '127.0.0.1',
      SERVER_PORT: String(ports.check),
      READINESS_PROBE_PORT: String(ports.ops),
      ...(ports.grpc === undefined ? {} : { GRPC_PORT: String(ports.grpc) }),
    },
  })
  const opsUrl = `http://127.0.0.1:${ports.ops}`
  const exited = new Promise<ExitStatus>((resolve) => peer.child.once('exit', (code, signal) => resolve({ code, signal })))
  const running = () => peer.child.exitCode === null && peer.child.signalCode === null
  const waitExit = async (killAfterMs = 15_000) => {
    const timer = setTimeout(() => peer.child.kill('SIGKILL'), killAfterMs)
    const status = await exited
    clearTimeout(timer)
    return status
  }
  if (options.waitReady !== false) {
    try {
      await waitUntil('the entry to be ready', async () => {
        if (peer.child.exitCode !== null) throw new Error(`exited with ${peer.child.exitCode}`)
        return answers(`${opsUrl}/readyz`)
      }, { timeoutMs: 30_000, intervalMs: 100 })
    } catch (error) {
      await peer.stop()
      throw new Error(`the entry did not become ready:\n${peer.output()}`, { cause: error })
    }
  }
  return {
    ports,
    checkUrl: `http://127.0.0.1:${ports.check}`,
    opsUrl,
    peer,
    rssBytes: () => rssBytesOf(peer.child.pid),
    exited,
    waitExit,
    terminate(signal = 'SIGTERM', killAfterMs = 15_000) {
      if (running()) peer.child.kill(signal)
      return waitExit(killAfterMs)
    },
    output: () => peer.output(),
  }
}
