/**
 * Starts a peer program as its own process group, keeps its output for failure reports, and stops
 * it (and anything it spawned) on teardown — also when the test process exits abruptly. The local
 * demo and the benchmark (dev/) start their processes with it too.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, openSync, readFileSync } from 'node:fs'

export interface PeerProcess {
  readonly name: string
  readonly child: ChildProcess
  /** Everything the peer printed so far (stdout and stderr interleaved; empty unless kept). */
  output(): string
  /** True until the process has exited. */
  alive(): boolean
  /** Resolves when the process has exited; SIGTERM first, SIGKILL after `graceMs` (default 5 s). */
  stop(graceMs?: number): Promise<void>
}

export interface PeerProcessOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** A command that execs the peer, e.g. `['taskset', '-c', '0']`: the pid stays the peer's own. */
  prefix?: readonly string[]
  /** `'keep'` (default): kept for output(); `'ignore'`: /dev/null; any other value: a file the output is appended to. */
  output?: string
  /** Also handed every chunk of output as it comes (with `'keep'`). */
  onOutput?: (chunk: Buffer) => void
  /** Opens an IPC channel (child.send, 'message'). */
  ipc?: boolean
}

const running = new Set<ChildProcess>()
let exitHookInstalled = false

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const child of running) killGroup(child, 'SIGKILL')
  })
}

export function startPeerProcess(
  name: string,
  command: string,
  args: string[],
  options: PeerProcessOptions = {},
): PeerProcess {
  installExitHook()
  const { output = 'keep', prefix = [] } = options
  const file = output === 'keep' ? undefined : openSync(output === 'ignore' ? '/dev/null' : output, 'a')
  const out = file ?? 'pipe'
  const stdio: StdioOptions = ['ignore', out, out, ...(options.ipc ? ['ipc' as const] : [])]
  const [program, ...programArgs] = [...prefix, command, ...args]
  const child = spawn(program!, programArgs, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio,
    detached: true,
  })
  if (file !== undefined) closeSync(file)
  running.add(child)
  const chunks: string[] = []
  let size = 0
  const keep = (chunk: Buffer) => {
    options.onOutput?.(chunk)
    // Bounded: a chatty peer must not grow the test process without limit.
    if (size > 4_000_000) return
    size += chunk.length
    chunks.push(chunk.toString('utf8'))
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = once(child, 'exit').then(() => {
    running.delete(child)
  })
  child.on('error', (error) => chunks.push(`[spawn error] ${error.message}\n`))

  const alive = () => child.exitCode === null && child.signalCode === null
  return {
    name,
    child,
    output: () => chunks.join(''),
    alive,
    async stop(graceMs = 5_000) {
      if (!alive()) {
        await exited
        return
      }
      killGroup(child, 'SIGTERM')
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
}

/** A process's resident set size in bytes (VmRSS in /proc), or undefined once it is gone. */
export function rssBytesOf(pid: number | undefined): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

export interface RunOptions {
  /** A descriptor the child gets as its fd 3. */
  readonly fd3?: number
  /** Killed (SIGKILL) if still running after this long; `timedOut` says so. */
  readonly timeoutMs?: number
}

/**
 * Runs a command to completion (for `envoy --mode validate`, or a child process a unit test
 * watches exit), returning its exit code and output.
 */
export async function runToCompletion(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', ...(options.fd3 === undefined ? [] : [options.fd3])] })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  let timedOut = false
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true
          child.kill('SIGKILL')
        }, options.timeoutMs)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(timer)
  return { code, output, timedOut }
}
