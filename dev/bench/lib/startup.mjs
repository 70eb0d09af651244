/**
 * Scenario `startup` (issue #17 §3): start-to-ready of the production entry, from the spawn of
 * `node <image NODE_OPTIONS> dist/server.js` (the tests' startEntry, as run.mjs's startService) until
 * the ops port's `/readyz` first answers 200, with the bench issuer up. /readyz is 200 only once the
 * provider's keys are loaded (src/service.ts isReady: the primary issuer's key set hasKeys(), after
 * discovery), so "ready" includes discovery and the JWKS fetch, not only the listening sockets.
 * Also reported: when the ops port first answered at all (a 503 before the keys), and the RSS right
 * after ready. One process at a time, each stopped before the next; the first start also pays for a
 * cold file cache, so the median is the number to read, the max is the worst seen.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { freeEntryPorts, startEntry } from '../../../test/helpers/entry-process.js'

/** How often /readyz is asked: the resolution of the measurement. */
const POLL_MS = 5

/** Polls `url` every POLL_MS until it answers 200; the ms (from `t0`) of the first answer and of the 200. */
async function timeToReady(url, t0, entry, timeoutMs = 30_000) {
  let firstAnswerMs
  for (;;) {
    if (entry.peer.child.exitCode !== null) throw new Error(`the entry exited before /readyz said 200:\n${entry.output().slice(-4000)}`)
    if (performance.now() - t0 > timeoutMs) throw new Error(`/readyz not 200 within ${timeoutMs} ms:\n${entry.output().slice(-4000)}`)
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      await response.arrayBuffer()
      const at = performance.now() - t0
      firstAnswerMs ??= at
      if (response.status === 200) return { firstAnswerMs, readyMs: at }
    } catch {
      // not listening yet
    }
    await sleep(POLL_MS)
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

/**
 * `runs` starts of the entry with the running service's `env` (its configuration, its issuer),
 * `nodeArgs` (the image's NODE_OPTIONS), pinned by `prefix` (the server core). Returns the summary
 * report.mjs's startupMarkdown prints.
 */
export async function measureStartup({ env, entry, nodeArgs, prefix, runs, log }) {
  const samples = []
  for (let i = 0; i < runs; i++) {
    // Ports first, so that nothing but the spawn lies between t0 and the process starting.
    const ports = await freeEntryPorts(false)
    const t0 = performance.now()
    const started = await startEntry(env, { entry, ports, nodeArgs, prefix, output: 'keep', waitReady: false })
    try {
      const { firstAnswerMs, readyMs } = await timeToReady(`${started.opsUrl}/readyz`, t0, started)
      samples.push({ readyMs, firstAnswerMs, rssBytes: started.rssBytes() })
      log(`startup ${i + 1}/${runs}: ready after ${readyMs.toFixed(0)} ms (ops port answered after ${firstAnswerMs.toFixed(0)} ms)`)
    } finally {
      await started.terminate()
    }
  }
  const ready = samples.map((sample) => sample.readyMs)
  const rss = samples.map((sample) => sample.rssBytes ?? 0)
  return {
    name: 'startup',
    title: 'Start-to-ready (spawn → /readyz 200, provider keys loaded)',
    runs,
    pollMs: POLL_MS,
    medianReadyMs: median(ready),
    maxReadyMs: Math.max(...ready),
    medianFirstAnswerMs: median(samples.map((sample) => sample.firstAnswerMs)),
    medianRssBytes: median(rss),
    maxRssBytes: Math.max(...rss),
    samples,
  }
}
