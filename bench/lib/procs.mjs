/**
 * Child processes for the benchmark: spawned in their own process group (so a stop takes anything
 * they started), optionally pinned to one core with `taskset`, measured from /proc, and always
 * stopped when the benchmark exits — also on Ctrl-C or a crash.
 */
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { cpus } from 'node:os'

const running = new Set()
let hooked = false

function hookExit() {
  if (hooked) return
  hooked = true
  const killAll = () => {
    for (const child of running) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      killAll()
      process.exit(130)
    })
  }
}

/** True when `taskset` exists and the machine has at least two cores to split between server and load. */
export const canPin = (() => {
  if (process.env.BENCH_NO_TASKSET === '1' || cpus().length < 2) return false
  return spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0
})()

/**
 * Starts `command args` (pinned to `core` when taskset is available; taskset execs, so the pid is
 * the program's own). `output`: 'keep' (bounded, for failure reports), 'null', or a file path.
 */
export function startProcess(name, command, args, { core, env, output = 'keep', ipc = false, group = false } = {}) {
  hookExit()
  const pinned = core !== undefined && canPin
  const file = output !== 'keep' ? openSync(output === 'null' ? '/dev/null' : output, 'a') : undefined
  const out = file ?? 'pipe'
  const child = spawn(pinned ? 'taskset' : command, pinned ? ['-c', String(core), command, ...args] : args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out, ...(ipc ? ['ipc'] : [])],
    detached: true,
  })
  if (file !== undefined) closeSync(file)
  running.add(child)
  let kept = ''
  const keep = (chunk) => {
    if (kept.length < 200_000) kept += chunk.toString('utf8')
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
    }),
  )
  return {
    name,
    child,
    pid: child.pid,
    pinnedTo: pinned ? core : undefined,
    exited,
    output: () => kept,
    alive: () => child.exitCode === null && child.signalCode === null,
    /** VmRSS in bytes (summed over the process group with `group`, e.g. Apache's workers), or undefined once gone. */
    rssBytes: () => (group ? sumOver(groupPids(child.pid), rssOf) : rssOf(child.pid)),
    /** CPU seconds used so far (all threads; the whole process group with `group`), or undefined once gone. */
    cpuSeconds: () => (group ? sumOver(groupPids(child.pid), cpuSecondsOf) : cpuSecondsOf(child.pid)),
    /** SIGTERM (the process drains and exits), SIGKILL after `graceMs`. */
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {
        // gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // gone
        }
      }, graceMs)
      const status = await exited
      clearTimeout(timer)
      return status
    },
  }
}

const CLOCK_TICKS = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const ticks = Number(out.stdout?.trim())
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
})()

/** CPU time (user + system, every thread) the process has used, in seconds, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid) {
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
export function groupPids(pgid) {
  const pids = []
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

function sumOver(pids, measure) {
  const values = pids.map(measure).filter((value) => value !== undefined)
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0)
}

export function rssOf(pid) {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `probe` until it returns true, or throws after `timeoutMs` naming `what`. */
export async function waitUntil(what, probe, { timeoutMs = 30_000, process: proc } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await probe()) return
    } catch {
      // not yet
    }
    if (proc && !proc.alive()) throw new Error(`${what}: ${proc.name} exited:\n${proc.output().slice(-4000)}`)
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${proc ? `\n${proc.output().slice(-4000)}` : ''}`)
    await sleep(100)
  }
}

export async function answers(url, status = 200) {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
  await response.arrayBuffer()
  return response.status === status
}

export function tcpOpen(port, timeoutMs = 1_000) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (open) => {
      socket.destroy()
      resolve(open)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
