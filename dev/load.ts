/**
 * Load test (not part of `npm test`): the built entry (`node dist/server.js`) behind real Envoy
 * (HTTP ext_authz) with real Dex, under LOAD_SECONDS (default 600) of mixed traffic on
 * LOAD_CONNECTIONS (default 50) keep-alive connections — bearer tokens, cookie sessions, login
 * redirects, unauthenticated and refused calls, and a trickle of complete scripted logins. It
 * reports counts by kind and status, latency percentiles, the service's RSS and V8 heap in use (from
 * its /metrics) sampled every 10 s, and fails (exit 1) on any unexpected status or when RSS is not
 * flat (the last third's max above 1.2 × the first third's max).
 *
 *   npm run load                      # 10 minutes
 *   LOAD_SECONDS=120 npm run load     # 2 minutes
 *
 * Needs the test peers (npm test installs them: bash test/peers/install.sh) and a build.
 */
import { Agent } from 'node:http'
import { imageNodeArgs } from './bench/lib/image.js'
import { readFileSync } from 'node:fs'
import { startDex, type Dex } from '../test/helpers/dex.js'
import { startEchoUpstream } from '../test/helpers/echo-upstream.js'
import { entryBuilt, startEntry } from '../test/helpers/entry-process.js'
import { startEnvoy } from '../test/helpers/envoy.js'
import { faultEnv } from '../test/helpers/fault-gateway.js'
import { skipUnlessPeers } from '../test/helpers/peer-manifest.js'
import { scriptedLogin } from '../test/helpers/scripted-login.js'
import { isBare403, send, type Answer } from '../test/helpers/traffic.js'

const SECONDS = Number(process.env.LOAD_SECONDS ?? 600)
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 50)
const SAMPLE_MS = 10_000

type Kind = 'bearer' | 'session-cookie' | 'session-bearer' | 'login-redirect' | 'no-credential' | 'bad-token' | 'full-login'

/** What each kind must be answered with; anything else is counted as unexpected. */
const EXPECTED: Record<Kind, readonly number[]> = {
  bearer: [200],
  'session-cookie': [200],
  'session-bearer': [200],
  'login-redirect': [302],
  'no-credential': [401],
  'bad-token': [401],
  'full-login': [200],
}

/** Share of the request stream each kind takes (full logins run on their own, one at a time). */
const MIX: Array<[Exclude<Kind, 'full-login'>, number]> = [
  ['bearer', 35],
  ['session-cookie', 25],
  ['session-bearer', 10],
  ['login-redirect', 10],
  ['no-credential', 10],
  ['bad-token', 10],
]

/** Latency histogram with 1 ms buckets up to 10 s: bounded memory however long the run. */
class Histogram {
  private readonly buckets = new Uint32Array(10_001)
  count = 0
  add(ms: number) {
    this.buckets[Math.min(10_000, Math.max(0, Math.round(ms)))]!++
    this.count++
  }
  percentile(p: number): number {
    const wanted = Math.ceil(this.count * p)
    let seen = 0
    for (let ms = 0; ms < this.buckets.length; ms++) {
      seen += this.buckets[ms]!
      if (seen >= wanted) return ms
    }
    return 10_000
  }
}

function pick(random: number): Exclude<Kind, 'full-login'> {
  const total = MIX.reduce((sum, [, weight]) => sum + weight, 0)
  let at = random * total
  for (const [kind, weight] of MIX) {
    if (at < weight) return kind
    at -= weight
  }
  return MIX[0]![0]
}

async function main(): Promise<number> {
  const missing = entryBuilt() || skipUnlessPeers('dex', 'envoy')
  if (missing) {
    console.error(`load: cannot run — ${missing}`)
    return 1
  }
  const cleanup: Array<() => Promise<unknown>> = []
  try {
    const dex: Dex = await startDex({ idTokenTTL: '2h' })
    cleanup.push(() => dex.stop())
    const upstream = await startEchoUpstream()
    // The echo upstream keeps every request it saw; drop them as they come.
    const received = upstream.received
    const trim = setInterval(() => received.splice(0, received.length), 1_000)
    cleanup.push(async () => clearInterval(trim), () => upstream.close())
    // As deployed: the image's node flags (Dockerfile NODE_OPTIONS); LOAD_NODE_ARGS overrides.
    const nodeArgs = process.env.LOAD_NODE_ARGS === undefined ? imageNodeArgs() : process.env.LOAD_NODE_ARGS.split(' ').filter(Boolean)
    const entry = await startEntry(faultEnv(dex, { LOG_LEVEL: 'info' }), { nodeArgs })
    cleanup.push(() => entry.terminate('SIGTERM'))
    const envoy = await startEnvoy({ authz: { mode: 'http', port: entry.ports.check }, upstreamPort: upstream.port, dexPort: dex.port })
    cleanup.push(() => envoy.stop())
    const url = envoy.url

    const users = [
      ['user@example.com', '12341234'],
      ['alice@example.com', 'alice-password'],
      ['bob@example.org', 'bob-password'],
    ] as const
    const tokens: string[] = []
    for (const [email] of users) for (let i = 0; i < 3; i++) tokens.push((await dex.passwordGrant(email)).id_token)
    const sessions: string[] = []
    for (let i = 0; i < 12; i++) {
      const [email, password] = users[i % users.length]!
      const login = await scriptedLogin(url, '/', email, password)
      if (login.final.status !== 200) throw new Error(`setup login failed: ${login.final.status}`)
      sessions.push(login.jar.cookies.get('authservice_session')!)
    }
    const badTokens = [tokens[0]!.slice(0, -4) + 'AAAA', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'not-a-token-at-all-but-long-enough']

    const counts = new Map<string, number>()
    const latency = new Map<Kind, Histogram>()
    const unexpected: string[] = []
    let unexpectedCount = 0
    const record = (kind: Kind, answer: Pick<Answer, 'status' | 'body' | 'header' | 'ms' | 'error'>) => {
      const status = answer.status === 0 ? `0 (${answer.error ?? 'no answer'})` : isBare403(answer) ? '403 bare' : String(answer.status)
      counts.set(`${kind} ${status}`, (counts.get(`${kind} ${status}`) ?? 0) + 1)
      if (!latency.has(kind)) latency.set(kind, new Histogram())
      latency.get(kind)!.add(answer.ms)
      if (!EXPECTED[kind].includes(answer.status) || isBare403(answer)) {
        unexpectedCount++
        if (unexpected.length < 20) unexpected.push(`${kind}: ${status} ${answer.body.slice(0, 120)}`)
      }
    }

    const rss: Array<{ at: number; bytes: number }> = []
    // The service's V8 heap in use, from its own /metrics: tells a leak (the heap climbs too) from
    // memory the allocator keeps (RSS climbs alone). A heap snapshot then says what leaks.
    const heap: Array<{ at: number; bytes: number }> = []
    const heapUsed = async (at: number) => {
      const text = await fetch(`${entry.opsUrl}/metrics`).then((response) => response.text(), () => '')
      const value = /^nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1]
      if (value !== undefined) heap.push({ at, bytes: Number(value) })
    }
    const started = Date.now()
    const deadline = started + SECONDS * 1_000
    const sample = () => {
      const bytes = entry.rssBytes()
      const at = Math.round((Date.now() - started) / 1000)
      if (bytes !== undefined) rss.push({ at, bytes })
      void heapUsed(at)
    }
    // RSS at rest, for the report; flatness is judged on the samples taken under load (every 10 s from 10 s on).
    const idleRss = entry.rssBytes() ?? 0
    const sampler = setInterval(sample, SAMPLE_MS)
    const progress = setInterval(() => {
      const total = [...counts.values()].reduce((sum, n) => sum + n, 0)
      const last = rss.at(-1)
      console.error(`load: ${Math.round((Date.now() - started) / 1000)} s, ${total} requests, ${unexpectedCount} unexpected, rss ${last ? (last.bytes / 2 ** 20).toFixed(1) : '?'} MiB`)
    }, 30_000)

    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS })
    let seed = 1
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
    const api = { accept: 'application/json' }
    const navigate = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'none' }
    const worker = async (id: number) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const kind = pick(random())
        const n = id + i
        const headers: Record<string, string> =
          kind === 'bearer' ? { ...api, authorization: `Bearer ${tokens[n % tokens.length]}` }
          : kind === 'session-cookie' ? { ...navigate, cookie: `authservice_session=${sessions[n % sessions.length]}` }
          : kind === 'session-bearer' ? { ...api, authorization: `Bearer ${sessions[n % sessions.length]}` }
          : kind === 'login-redirect' ? navigate
          : kind === 'no-credential' ? api
          : { ...api, authorization: `Bearer ${badTokens[n % badTokens.length]}` }
        record(kind, await send(`${url}/${kind === 'bearer' || kind === 'bad-token' || kind === 'no-credential' ? 'api/v1/x' : 'notebooks/lab'}?n=${n}`, { headers, agent, timeoutMs: 10_000 }))
      }
    }
    // A complete login every few seconds (Dex's bcrypt makes them expensive): the whole flow under load.
    const logins = async () => {
      for (let i = 0; Date.now() < deadline; i++) {
        const [email, password] = users[i % users.length]!
        const begun = Date.now()
        const login = await scriptedLogin(url, `/after-login-${i}`, email, password).catch((error: unknown) => ({ final: { status: 0, body: String(error), header: () => undefined } }))
        record('full-login', { status: login.final.status, body: login.final.body, header: login.final.header, ms: Date.now() - begun })
        await new Promise((resolve) => setTimeout(resolve, 2_000))
      }
    }
    console.error(`load: ${SECONDS} s of mixed traffic on ${CONNECTIONS} connections through Envoy at ${url}`)
    await Promise.all([...Array.from({ length: CONNECTIONS }, (_, id) => worker(id)), logins()])
    clearInterval(sampler)
    clearInterval(progress)
    agent.destroy()
    if (rss.length === 0) sample()

    const elapsed = (Date.now() - started) / 1000
    const total = [...counts.values()].reduce((sum, n) => sum + n, 0)
    const third = Math.max(1, Math.floor(rss.length / 3))
    const firstMax = Math.max(...rss.slice(0, third).map((s) => s.bytes))
    const lastMax = Math.max(...rss.slice(-third).map((s) => s.bytes))
    const flat = lastMax <= 1.2 * firstMax
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)
    const stats = await envoy.extAuthzStats()
    const report = {
      seconds: Math.round(elapsed),
      connections: CONNECTIONS,
      requests: total,
      requestsPerSecond: Math.round(total / elapsed),
      byKindAndStatus: Object.fromEntries([...counts].sort()),
      unexpected: unexpectedCount,
      unexpectedExamples: unexpected,
      latencyMs: Object.fromEntries([...latency].map(([kind, h]) => [kind, { p50: h.percentile(0.5), p90: h.percentile(0.9), p99: h.percentile(0.99), max: h.percentile(1) }])),
      rssIdleMiB: mib(idleRss),
      rssMiB: rss.map((s) => `${s.at}s:${mib(s.bytes)}`),
      heapUsedMiB: heap.map((s) => `${s.at}s:${mib(s.bytes)}`),
      rssFlat: { firstThirdMaxMiB: mib(firstMax), lastThirdMaxMiB: mib(lastMax), ratio: Number((lastMax / firstMax).toFixed(3)), flat },
      envoyExtAuthz: { ok: stats.ok, denied: stats.denied, error: stats.error },
      node: process.version,
      cpus: readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((line) => line.startsWith('processor')).length,
    }
    console.log(JSON.stringify(report, null, 2))
    const failed = unexpectedCount > 0 || !flat || (stats.error ?? 0) > 0
    console.error(failed ? 'load: FAILED' : 'load: passed (0 unexpected statuses, RSS flat, no failed ext_authz call)')
    return failed ? 1 : 0
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined)
  }
}

process.exitCode = await main()
