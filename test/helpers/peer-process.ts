/**
 * Starts a peer program as its own process group, keeps its output for failure reports, and stops
 * it (and anything it spawned) on teardown — also when the test process exits abruptly.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'

export interface PeerProcess {
  readonly name: string
  readonly child: ChildProcess
  /** Everything the peer printed so far (stdout and stderr interleaved). */
  output(): string
  /** Resolves when the process has exited; SIGTERM first, SIGKILL after a grace period. */
  stop(): Promise<void>
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
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): PeerProcess {
  installExitHook()
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  running.add(child)
  const chunks: string[] = []
  let size = 0
  const keep = (chunk: Buffer) => {
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

  return {
    name,
    child,
    output: () => chunks.join(''),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) {
        await exited
        return
      }
      killGroup(child, 'SIGTERM')
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5_000)
      await exited
      clearTimeout(timer)
    },
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
