/**
 * The benchmark's processes: started by the tests' startPeerProcess (test/helpers/peer-process.ts:
 * their own process group, output kept or sent to a file, killed when the benchmark exits, which
 * Ctrl-C now makes it do), pinned to one core with `taskset` when there are cores to split, and
 * measured from /proc.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { cpus } from 'node:os'
import { rssBytesOf, startPeerProcess, type PeerProcess } from '../../../test/helpers/peer-process.js'
import { waitUntil } from '../../../test/helpers/wait.js'

// Exit on Ctrl-C or SIGTERM, so that the exit hook of peer-process.ts kills every child still running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))

/** True when `taskset` exists and the machine has at least two cores to split between server and load. */
export const canPin = (() => {
  if (process.env.BENCH_NO_TASKSET === '1' || cpus().length < 2) return false
  return spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0
})()

/** What runs a program on `core` (taskset execs it, so the pid is the program's own); nothing when pinning is off. */
export function pinTo(core: number | undefined): string[] {
  return core !== undefined && canPin ? ['taskset', '-c', String(core)] : []
}

export interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface BenchProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  readonly exited: Promise<ExitStatus>
  output(): string
  alive(): boolean
  /** VmRSS in bytes (summed over the process group with `group`, e.g. Apache's workers), or undefined once gone. */
  rssBytes(): number | undefined
  /** CPU seconds used so far (all threads; the whole process group with `group`), or undefined once gone. */
  cpuSeconds(): number | undefined
  /** SIGTERM (the process drains and exits), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<ExitStatus>
}

/** A started peer (startPeerProcess, startEntry, startEnvoy), measured. */
export function benchProcess(peer: PeerProcess, { group = false }: { group?: boolean } = {}): BenchProcess {
  const { child } = peer
  const exited: Promise<ExitStatus> =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
      : new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const pid = child.pid!
  return {
    name: peer.name,
    child,
    pid,
    exited,
    output: () => peer.output(),
    alive: () => peer.alive(),
    rssBytes: () => (group ? sumOver(groupPids(pid), rssBytesOf) : rssBytesOf(pid)),
    cpuSeconds: () => (group ? sumOver(groupPids(pid), cpuSecondsOf) : cpuSecondsOf(pid)),
    async stop(graceMs = 10_000) {
      await peer.stop(graceMs)
      return exited
    },
  }
}

export interface StartOptions {
  /** The core to pin it to (when pinning is possible). */
  core?: number
  env?: NodeJS.ProcessEnv
  /** 'keep' (bounded, for failure reports), 'ignore', or a file path. */
  output?: string
  ipc?: boolean
  /** Measure the whole process group (a server that forks workers). */
  group?: boolean
}

export function startProcess(name: string, command: string, args: string[], options: StartOptions = {}): BenchProcess {
  const { core, env, output, ipc, group } = options
  return benchProcess(startPeerProcess(name, command, args, { prefix: pinTo(core), env, output, ipc }), { group })
}

const CLOCK_TICKS = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const ticks = Number(out.stdout?.trim())
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
})()

/** CPU time (user + system, every thread) the process has used, in seconds, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/** The pids of a process group (a detached child's group is its pid). */
export function groupPids(pgid: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // Field 5 is the process group.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

function sumOver(pids: number[], measure: (pid: number) => number | undefined): number | undefined {
  const values = pids.map(measure).filter((value): value is number => value !== undefined)
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0)
}

/** Polls `probe` (the tests' waitUntil) for up to 30 s; gives up at once, with its output, when `proc` exits. */
export function waitFor(what: string, probe: () => Promise<boolean>, proc?: BenchProcess, timeoutMs = 30_000): Promise<void> {
  const giveUpIf = proc && (() => (proc.alive() ? undefined : `${proc.name} exited:\n${proc.output().slice(-4000)}`))
  return waitUntil(what, probe, { timeoutMs, intervalMs: 100, giveUpIf })
}

export function tcpOpen(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (open: boolean) => {
      socket.destroy()
      resolve(open)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
