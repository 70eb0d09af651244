/**
 * The authservice benchmark (`npm run bench`; README "Performance"). Runs under tap's TypeScript
 * loader (`node --import @tapjs/typescript/import dev/bench/run.mjs`), as it starts its issuer,
 * Redis, Envoy and the service with the tests' own helpers (test/helpers/); the processes it
 * measures run plain node (the service from dist/, loadgen.mjs, the baseline and anchor servers).
 *
 * Measures the check of the production build (`node <the image NODE_OPTIONS> dist/server.js`,
 * NODE_ENV=production, LOG_LEVEL=info with pino writing every decision line to /dev/null) against
 * baselines measured in the same run: a bare fastify server answering 200 with one header (and a
 * bare gRPC Authorization server for the gRPC mode). Servers, baseline and load generator are
 * separate processes; with `taskset` the server side runs on core 0 and the generator on core 1.
 * Each scenario declares the status it expects; anything else counts as unexpected.
 *
 *   npm run bench                       all scenarios, BENCH_SECONDS (10) each, after a warm-up
 *   npm run bench -- --memory           the memory run (BENCH_MEMORY=1): 1,000,000 checks cycling
 *                                       through 50,000 distinct tokens, RSS sampled as it goes
 *   npm run bench -- --profile          node --cpu-prof of the cache-hit, junk and cache-miss scenarios
 *   npm run bench -- --smoke            a few hundred requests per scenario, only to keep it working
 *   npm run bench -- --only=bearer-hit,junk
 *                                       (names: bearer-hit, bearer-miss, junk, session-cookie, session-redis,
 *                                       skip, unauthenticated-api, grpc, envoy, anchor, oauth2-proxy, apache, gateway, startup;
 *                                       junk also runs junk-<kind> for each junk kind)
 *
 * Settings (environment): BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_CONNECTIONS (50),
 * BENCH_ROUNDS (1: baseline and service alternate, the median round is reported), BENCH_RATE (500,
 * the Envoy scenario's fixed rate), BENCH_MISS_TOKENS (20000), BENCH_MEMORY_REQUESTS (1000000),
 * BENCH_MEMORY_TOKENS (50000), BENCH_SMOKE_REQUESTS (300), BENCH_OUT (dev/bench/results/latest.json;
 * memory.json, profile.json, smoke-*.json for the other modes), BENCH_ONLY, BENCH_NO_TASKSET=1, BENCH_DIST (another build's dist/ to
 * measure, for an A/B of a change), BENCH_SERVICE_LOG (a file for the service's log instead of /dev/null),
 * BENCH_SERVICE_NODE_ARGS (the service's node flags; default the image's NODE_OPTIONS from the
 * Dockerfile, so the service runs with the heap flags it is deployed with; "" for none),
 * BENCH_LOG_ALLOW_DECISIONS (the service's LOG_ALLOW_DECISIONS, e.g. 1-in-1000; default unset: every allow logged).
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { cpus, loadavg, totalmem, tmpdir, type as osType, release } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { startEntry } from '../../test/helpers/entry-process.js'
import { startEnvoy as startTestEnvoy } from '../../test/helpers/envoy.js'
import { recordedPeerPath } from '../../test/helpers/peer-manifest.js'
import { freePort } from '../../test/helpers/ports.js'
import { startRedis as startTestRedis } from '../../test/helpers/redis.js'
import { imageNodeArgs } from './lib/image.js'
import { oauth2ProxyGroups, oauth2ProxyVersion } from './lib/oauth2-proxy.mjs'
import { CLIENT_ID, distinctTokens, startIssuer } from './lib/issuer.js'
import { benchProcess, canPin, cpuSecondsOf, pinTo, startProcess, tcpOpen, waitFor } from './lib/procs.js'
import { measureGateway } from './lib/gateway.mjs'
import { measureStartup } from './lib/startup.mjs'
import {
  MB,
  SATURATED_CPU,
  gatewayMarkdown,
  issueTargets,
  issueTargetsMarkdown,
  machineLine,
  markdownTable,
  medianRun,
  profileMarkdown,
  startupMarkdown,
  summarizeProfile,
  targetsFor,
} from './lib/report.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HERE = fileURLToPath(new URL('./', import.meta.url))
// BENCH_DIST: another build of the service to measure (an A/B of a change); default the repository's dist/.
const DIST = process.env.BENCH_DIST ? resolve(process.env.BENCH_DIST) : join(ROOT, 'dist')
const ENTRY = join(DIST, 'server.js')
const SERVER_CORE = 0
const GENERATOR_CORE = 1

// --- options -----------------------------------------------------------------------------------

function options() {
  const args = process.argv.slice(2)
  const flag = (name) => args.includes(`--${name}`)
  const valueOf = (name) => args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
  const env = process.env
  const num = (name, fallback) => {
    const raw = env[name]
    if (raw === undefined || raw === '') return fallback
    const value = Number(raw)
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(raw)}`)
    return value
  }
  const smoke = flag('smoke') || env.BENCH_SMOKE === '1'
  const memory = flag('memory') || env.BENCH_MEMORY === '1'
  const profile = flag('profile') || env.BENCH_PROFILE === '1'
  const only = (valueOf('only') ?? env.BENCH_ONLY ?? '').split(',').filter(Boolean)
  return {
    smoke,
    memory,
    profile,
    only,
    seconds: num('BENCH_SECONDS', 10),
    warmupSeconds: num('BENCH_WARMUP_SECONDS', smoke ? 1 : 5),
    connections: num('BENCH_CONNECTIONS', 50),
    rounds: num('BENCH_ROUNDS', 1),
    rate: num('BENCH_RATE', smoke ? 200 : 500),
    missTokens: num('BENCH_MISS_TOKENS', smoke ? 1_000 : 20_000),
    memoryRequests: num('BENCH_MEMORY_REQUESTS', smoke ? 3_000 : 1_000_000),
    memoryTokens: num('BENCH_MEMORY_TOKENS', smoke ? 1_500 : 50_000),
    smokeRequests: num('BENCH_SMOKE_REQUESTS', 300),
    out:
      env.BENCH_OUT ||
      join(HERE, 'results', `${smoke ? 'smoke-' : ''}${memory ? 'memory' : profile ? 'profile' : 'latest'}.json`),
  }
}

const log = (...parts) => process.stderr.write(`[bench] ${parts.join(' ')}\n`)

// --- peers (the test suite's manifest: test/peers/install.sh) ----------------------------------

/** The installed peer's path, or undefined (the scenario is then skipped; never a throw, also in CI). */
const peerPath = (name) => recordedPeerPath(name)

// --- the processes -----------------------------------------------------------------------------

async function startBaseline() {
  const httpPort = await freePort()
  const grpcPort = await freePort()
  const proc = startProcess('baseline', process.execPath, [join(HERE, 'baseline-server.mjs'), String(httpPort), String(grpcPort)], {
    core: SERVER_CORE,
    env: { NODE_ENV: 'production' },
  })
  await waitFor('baseline ready', async () => proc.output().includes('ready'), proc)
  return { proc, httpPort, grpcPort }
}

/** The service's node flags: BENCH_SERVICE_NODE_ARGS, else the image's NODE_OPTIONS (as deployed). */
const SERVICE_NODE_ARGS =
  process.env.BENCH_SERVICE_NODE_ARGS === undefined ? imageNodeArgs() : process.env.BENCH_SERVICE_NODE_ARGS.split(' ').filter(Boolean)

/** The production entry, as the image runs it (the tests' startEntry); resolves once /readyz says the keys are loaded. */
async function startService(issuer, secrets, { store = 'cookie', redisAddress, nodeArgs = [], grpc = true } = {}) {
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    OIDC_PROVIDER: issuer.issuer,
    OIDC_AUTH_URL: '/dex/auth',
    OIDC_SCOPES: 'profile email groups',
    CLIENT_ID,
    CLIENT_SECRET: secrets.clientSecret,
    AUTHSERVICE_URL_PREFIX: '/authservice/',
    SKIP_AUTH_URLS: '/dex',
    USERID_HEADER: 'kubeflow-userid',
    USERID_CLAIM: 'email',
    SET_AUTHORIZATION_HEADER: 'true',
    SESSION_SECRETS: secrets.sessionSecret,
    SESSION_STORE_TYPE: store,
    ...(redisAddress ? { SESSION_STORE_REDIS_ADDR: redisAddress } : {}),
    // The service's default logs every allow; an operator may sample them (README "Logging").
    ...(process.env.BENCH_LOG_ALLOW_DECISIONS ? { LOG_ALLOW_DECISIONS: process.env.BENCH_LOG_ALLOW_DECISIONS } : {}),
  }
  // Decision lines go through pino's real path (JSON serialisation, redaction, write) into /dev/null.
  const entry = await startEntry(env, {
    entry: ENTRY,
    grpc,
    nodeArgs: [...SERVICE_NODE_ARGS, ...nodeArgs],
    prefix: pinTo(SERVER_CORE),
    output: process.env.BENCH_SERVICE_LOG || 'ignore',
  })
  let grpcPort = entry.ports.grpc
  if (grpcPort !== undefined && !(await tcpOpen(grpcPort))) grpcPort = undefined
  return { proc: benchProcess(entry.peer), checkPort: entry.ports.check, opsUrl: entry.opsUrl, grpcPort, env }
}

/** The tests' redis-server on the server core, or undefined when it is not installed. */
async function startRedis() {
  if (!peerPath('redis')) return undefined
  const redis = await startTestRedis({ prefix: pinTo(SERVER_CORE) })
  return {
    proc: { cpuSeconds: () => cpuSecondsOf(redis.pid()) },
    port: redis.port,
    address: redis.address,
    close: () => redis.close(),
  }
}

/** The tests' Envoy (the same gateway definition) on the server core, with or without ext_authz. */
async function startEnvoy(checkPort, upstreamPort, withoutExtAuthz) {
  const envoy = await startTestEnvoy({ authz: { mode: 'http', port: checkPort }, upstreamPort, withoutExtAuthz, prefix: pinTo(SERVER_CORE) })
  return { proc: benchProcess(envoy.peer), port: envoy.port, close: () => envoy.stop() }
}

/** The load generator process (loadgen.mjs) and a promise-based `run(spec)` over IPC. */
async function startGenerator() {
  // Under tap's TypeScript loader, as it uses the tests' gRPC client (the loader costs only at start-up).
  const proc = startProcess('loadgen', process.execPath, ['--import', import.meta.resolve('@tapjs/typescript/import'), join(HERE, 'loadgen.mjs')], {
    core: GENERATOR_CORE,
    ipc: true,
    env: { TS_NODE_TRANSPILE_ONLY: '1' },
  })
  const pending = new Map()
  let nextId = 0
  let ready
  const readyPromise = new Promise((resolve) => (ready = resolve))
  proc.child.on('message', (message) => {
    if (message.type === 'ready') return ready()
    const waiter = pending.get(message.id)
    if (!waiter) return
    pending.delete(message.id)
    if (message.type === 'result') waiter.resolve(message.result)
    else waiter.reject(new Error(`load generator: ${message.message}`))
  })
  proc.exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error(`load generator exited:\n${proc.output().slice(-4000)}`))
  })
  await Promise.race([readyPromise, proc.exited.then(() => Promise.reject(new Error(`load generator did not start:\n${proc.output()}`)))])
  return {
    proc,
    run(spec) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        proc.child.send({ type: 'run', id, spec })
      })
    },
    async close() {
      if (proc.alive()) proc.child.send({ type: 'exit' })
      await Promise.race([proc.exited, sleep(3_000)])
      await proc.stop()
    },
  }
}

/** The token cache's hit and miss counters and the decision count, from /metrics. */
async function serviceCounters(opsUrl) {
  try {
    const text = await (await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text()
    const counter = (pattern) =>
      text
        .split('\n')
        .filter((line) => pattern.test(line))
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
    return {
      cacheHits: counter(/^authservice_token_cache_lookups_total\{result="hit"\}/),
      cacheMisses: counter(/^authservice_token_cache_lookups_total\{result="miss"\}/),
      cacheEntries: counter(/^authservice_token_cache_entries /),
      decisions: counter(/^authservice_decisions_total\{/),
      keyLookups: counter(/^authservice_token_key_lookups_total /),
      signatureChecks: counter(/^authservice_token_signature_checks_total /),
    }
  } catch {
    return undefined
  }
}

const delta = (after, before) =>
  after && before
    ? {
        cacheHits: after.cacheHits - before.cacheHits,
        cacheMisses: after.cacheMisses - before.cacheMisses,
        decisions: after.decisions - before.decisions,
        keyLookups: after.keyLookups - before.keyLookups,
        signatureChecks: after.signatureChecks - before.signatureChecks,
        cacheEntries: after.cacheEntries,
      }
    : undefined

// --- credentials ------------------------------------------------------------------------------

/** Sessions made the way the login makes them: the service's own store `save` under SESSION_SECRETS. */
async function makeSession(issuer, token, secrets, store) {
  const { deriveKeys } = await import(join(DIST, 'session', 'keys.js'))
  const { claimsForSession } = await import(join(DIST, 'session', 'claims.js'))
  const ring = deriveKeys({ sessionSecrets: [Buffer.from(secrets.sessionSecret, 'base64')], clientSecret: secrets.clientSecret }, 'session')
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'))
  const now = Date.now()
  const session = {
    id: randomBytes(32).toString('base64url'),
    claims: claimsForSession(claims, ['email', 'groups']),
    idToken: token,
    refreshToken: undefined,
    idTokenExpiresAt: claims.exp * 1000,
    createdAt: now,
    expiresAt: now + 86_400_000,
  }
  if (store.kind === 'cookie') {
    const { createCookieStore } = await import(join(DIST, 'session', 'cookie-store.js'))
    return createCookieStore({ ring }).save(session, now)
  }
  const { createRedisStore } = await import(join(DIST, 'session', 'redis-store.js'))
  const redisStore = createRedisStore({ ring, redis: { host: '127.0.0.1', port: store.port, db: 0 } })
  await waitFor('redis store connected', async () => (await redisStore.save(session, now)) === session.id)
  await redisStore.close()
  return session.id
}

/**
 * The junk kinds of issue #17, each a credential the service must refuse before any key lookup or
 * signature check (the bench smoke test asserts that from the service's counters): one value
 * each, and the mix cycles through all of them.
 */
async function junkKinds(issuer) {
  const valid = await issuer.sign({ jti: 'bench-junk' })
  const unsigned = valid.slice(0, valid.lastIndexOf('.') + 1)
  return [
    // Not a JWS at all (base64url of "foo"): a session ticket's shape, no session behind it.
    { kind: 'opaque', title: '`Zm9v`', value: 'Zm9v' },
    // A real header and claims with the signature cut off (RFC 7515 §7.1: it may not be empty).
    { kind: 'empty-signature', title: 'JWS with an empty signature', value: unsigned },
    // alg HS256 over the same claims: a key-confusion attempt (RFC 8725 §3.1).
    { kind: 'hs256', title: 'HS256 token', value: await issuer.sign({}, { key: { hmac: 'guess' }, header: { kid: issuer.currentKey().kid } }) },
    // Correctly signed, naming a key the provider never published (refetch at most every 5 s).
    { kind: 'unknown-kid', title: 'unknown `kid`', value: await issuer.sign({}, { header: { kid: randomBytes(20).toString('hex') } }) },
    // Three parts, none of them base64url JSON.
    { kind: 'dots', title: '`x.y.z`', value: 'x.y.z' },
  ]
}

// --- runs ---------------------------------------------------------------------------------------

function runSize(opts, { warm = false } = {}) {
  if (opts.smoke) return { amount: warm ? Math.max(opts.connections, 50) : opts.smokeRequests }
  return { seconds: warm ? Math.min(2, Math.max(1, Math.round(opts.seconds / 5))) : opts.seconds }
}

/**
 * One generator run, with the CPU time `procs` used meanwhile (from /proc): per request, that is
 * the cost of a check, and unlike req/s it hardly moves when other work shares the machine.
 */
async function timedRun(generator, spec, procs) {
  const before = procs.map((proc) => proc.cpuSeconds())
  const result = await generator.run(spec)
  const after = procs.map((proc) => proc.cpuSeconds())
  const used = after.map((value, i) => (value === undefined || before[i] === undefined ? undefined : value - before[i]))
  if (used[0] !== undefined && result.completed > 0) {
    result.serverCpuUsPerRequest = (used[0] * 1e6) / result.completed
    result.serverCpu = used[0] / result.elapsedSeconds
  }
  if (used[1] !== undefined && result.completed > 0) result.otherCpuUsPerRequest = (used[1] * 1e6) / result.completed
  return result
}

/** `opts.rounds` rounds of the sides in turn (each a label, a run spec, the processes it measures); the runs of each side. */
async function alternate(ctx, name, sides) {
  const runs = sides.map(() => [])
  for (let round = 0; round < ctx.opts.rounds; round++) {
    for (const [i, side] of sides.entries()) {
      log(`${name}: round ${round + 1}/${ctx.opts.rounds} ${side.label}`)
      runs[i].push(await timedRun(ctx.generator, side.spec, side.procs))
    }
  }
  return runs
}

const rssAfterSettle = async (proc) => {
  await sleep(200)
  return proc.rssBytes()
}

/** One scenario: per-scenario warm-up, then baseline and service alternating for each round. */
async function measureScenario(ctx, scenario) {
  const { opts, generator } = ctx
  const target = scenario.target(ctx)
  const base = {
    kind: scenario.kind,
    connections: opts.connections,
    request: scenario.request,
  }
  const serviceSpec = { ...base, port: target.servicePort, expect: scenario.expect }
  const baselineSpec = { ...base, port: scenario.kind === 'grpc' ? ctx.baseline.grpcPort : ctx.baseline.httpPort, expect: 200 }
  log(`${scenario.name}: warm-up`)
  await generator.run({ ...serviceSpec, ...runSize(opts, { warm: true }) })
  await generator.run({ ...baselineSpec, ...runSize(opts, { warm: true }) })
  const rssBefore = await rssAfterSettle(target.proc)
  const countersBefore = await serviceCounters(target.opsUrl)
  const [baselineRuns, serviceRuns] = await alternate(ctx, scenario.name, [
    { label: 'baseline', spec: { ...baselineSpec, ...runSize(opts) }, procs: [ctx.baseline.proc] },
    { label: 'service', spec: { ...serviceSpec, ...runSize(opts) }, procs: [target.proc, ...(target.extra ? [target.extra] : [])] },
  ])
  const countersAfter = await serviceCounters(target.opsUrl)
  const rssAfter = await rssAfterSettle(target.proc)
  const service = medianRun(serviceRuns)
  const baseline = medianRun(baselineRuns)
  const summary = {
    name: scenario.name,
    title: scenario.title,
    kind: scenario.kind,
    expect: scenario.expect,
    note: target.note,
    service,
    baseline,
    ratio: service.rps / baseline.rps,
    cpuRatio:
      service.serverCpuUsPerRequest && baseline.serverCpuUsPerRequest
        ? baseline.serverCpuUsPerRequest / service.serverCpuUsPerRequest
        : undefined,
    generatorSaturated: [...serviceRuns, ...baselineRuns].some((run) => run.generatorCpu >= SATURATED_CPU),
    rssBefore,
    rssAfter,
    serviceCounters: delta(countersAfter, countersBefore),
    rounds: { service: serviceRuns, baseline: baselineRuns },
  }
  summary.targets = targetsFor(scenario.name, summary)
  log(
    `${scenario.name}: ${service.rps.toFixed(0)} req/s (baseline ${baseline.rps.toFixed(0)}, ×${summary.ratio.toFixed(2)}; ` +
      `server CPU ${service.serverCpuUsPerRequest?.toFixed(0)} vs ${baseline.serverCpuUsPerRequest?.toFixed(0)} µs/req, ×${summary.cpuRatio?.toFixed(2)}), ` +
      `p50 ${service.latency.p50.toFixed(2)} p99 ${service.latency.p99.toFixed(2)} ms, unexpected ${service.unexpected}, ` +
      `generator ${Math.round(service.generatorCpu * 100)}%/${Math.round(baseline.generatorCpu * 100)}%`,
  )
  return summary
}

/** Envoy with ext_authz vs the same Envoy without it, at a fixed rate: what the check adds. */
async function measureEnvoy(ctx, scenario) {
  const { opts, generator, service, baseline } = ctx
  const withAuthz = await startEnvoy(service.checkPort, baseline.httpPort, false)
  const withoutAuthz = await startEnvoy(service.checkPort, baseline.httpPort, true)
  try {
    const size = opts.smoke ? { amount: opts.smokeRequests } : { seconds: opts.seconds }
    const warmSize = opts.smoke ? { amount: 50 } : { seconds: Math.min(2, opts.seconds) }
    // Open loop, evenly spaced (loadgen.mjs runPaced): the latency a check adds, not queueing behind bursts.
    const spec = (port) => ({ kind: 'paced', connections: opts.connections, request: scenario.request, port, expect: 200, rate: opts.rate })
    log(`${scenario.name}: warm-up`)
    await generator.run({ ...spec(withAuthz.port), ...warmSize })
    await generator.run({ ...spec(withoutAuthz.port), ...warmSize })
    const rssBefore = await rssAfterSettle(service.proc)
    const [withoutRuns, withRuns] = await alternate(ctx, scenario.name, [
      { label: 'without ext_authz', spec: { ...spec(withoutAuthz.port), ...size }, procs: [withoutAuthz.proc] },
      { label: 'with ext_authz', spec: { ...spec(withAuthz.port), ...size }, procs: [withAuthz.proc, service.proc] },
    ])
    const rssAfter = await rssAfterSettle(service.proc)
    const withMedian = medianRun(withRuns)
    const withoutMedian = medianRun(withoutRuns)
    const summary = {
      name: scenario.name,
      title: scenario.title,
      kind: 'envoy',
      expect: 200,
      rate: opts.rate,
      withAuthz: withMedian,
      withoutAuthz: withoutMedian,
      addedP50: withMedian.latency.p50 - withoutMedian.latency.p50,
      addedP99: withMedian.latency.p99 - withoutMedian.latency.p99,
      cpuUsPerRequest: {
        envoyWith: withMedian.serverCpuUsPerRequest,
        envoyWithout: withoutMedian.serverCpuUsPerRequest,
        authservice: withMedian.otherCpuUsPerRequest,
      },
      generatorSaturated: [...withRuns, ...withoutRuns].some((run) => run.generatorCpu >= SATURATED_CPU),
      rssBefore,
      rssAfter,
      rounds: { withAuthz: withRuns, withoutAuthz: withoutRuns },
    }
    summary.targets = targetsFor('envoy', summary)
    log(`${scenario.name}: p50 with ${withMedian.latency.p50.toFixed(3)} ms, without ${withoutMedian.latency.p50.toFixed(3)} ms, added ${summary.addedP50.toFixed(3)} ms`)
    return summary
  } finally {
    await withAuthz.close()
    await withoutAuthz.close()
  }
}

/**
 * The issue's anchor (anchor-server.mjs): fastify + jose, with or without a naive token
 * cache, logging one pino line per check into /dev/null like the service. Resolves once it really
 * checks tokens: 401 without one and with a forged one, 200 with a valid one.
 */
async function startAnchor(issuer, hitToken, { cache }) {
  const port = await freePort()
  const proc = startProcess('anchor', process.execPath, [join(HERE, 'anchor-server.mjs'), String(port), issuer.issuer, CLIENT_ID, cache ? 'cache' : 'no-cache'], {
    core: SERVER_CORE,
    env: { NODE_ENV: 'production' },
    output: 'ignore',
  })
  await waitFor('anchor listening', () => tcpOpen(port), proc)
  const status = async (headers) => (await fetch(`http://127.0.0.1:${port}/notebook/`, { headers })).status
  const forged = `${hitToken.slice(0, hitToken.lastIndexOf('.'))}.${Buffer.alloc(256, 1).toString('base64url')}`
  const statuses = [await status({}), await status({ authorization: `Bearer ${forged}` }), await status({ authorization: `Bearer ${hitToken}` })]
  if (statuses.join() !== '401,401,200') {
    await proc.stop()
    throw new Error(`the anchor answered ${statuses.join(', ')} to no token, a forged token, the valid token (want 401, 401, 200)`)
  }
  return { proc, port }
}

const APACHE = { binary: '/usr/sbin/apache2', modules: '/usr/lib/apache2/modules' }

function apacheAvailable() {
  return existsSync(APACHE.binary) && existsSync(join(APACHE.modules, 'mod_auth_openidc.so'))
}

/**
 * The peer: Debian's Apache (event MPM) with mod_auth_openidc as an OAuth 2.0 resource server that
 * verifies the same RS256 bearer JWT against the same JWKS (signature, exp; its own cache), then
 * serves a small static file. Runs as www-data from a throw-away ServerRoot; all its processes are
 * measured together (they share a process group).
 */
async function startApache(issuer) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'authservice-bench-apache-'))
  mkdirSync(join(dir, 'www'))
  writeFileSync(join(dir, 'www', 'ok.txt'), 'ok\n')
  writeFileSync(join(dir, 'key.pem'), issuer.currentKey().publicPem)
  // The workers run as www-data: let them read the document root.
  chmodSync(dir, 0o755)
  const module = (name, file) => `LoadModule ${name} ${join(APACHE.modules, file)}`
  const conf = [
    `ServerRoot ${dir}`,
    `Listen 127.0.0.1:${port}`,
    'ServerName 127.0.0.1',
    `PidFile ${join(dir, 'apache.pid')}`,
    `DefaultRuntimeDir ${dir}`,
    `ErrorLog ${join(dir, 'error.log')}`,
    'LogLevel warn',
    module('mpm_event_module', 'mod_mpm_event.so'),
    module('authz_core_module', 'mod_authz_core.so'),
    module('authn_core_module', 'mod_authn_core.so'),
    module('authz_user_module', 'mod_authz_user.so'),
    module('auth_openidc_module', 'mod_auth_openidc.so'),
    'User www-data',
    'Group www-data',
    'KeepAlive On',
    'MaxKeepAliveRequests 0',
    'KeepAliveTimeout 30',
    `DocumentRoot ${join(dir, 'www')}`,
    `<Directory ${join(dir, 'www')}>`,
    '  Require all granted',
    '</Directory>',
    `OIDCCryptoPassphrase ${randomBytes(16).toString('hex')}`,
    // mod_auth_openidc takes a JWKS URL over https only; the same key as a file instead.
    `OIDCOAuthVerifyCertFiles ${issuer.currentKey().kid}#${join(dir, 'key.pem')}`,
    'OIDCOAuthRemoteUserClaim email',
    '<Location />',
    '  AuthType oauth20',
    '  Require valid-user',
    '</Location>',
  ].join('\n')
  writeFileSync(join(dir, 'apache.conf'), `${conf}\n`)
  const proc = startProcess('apache2', APACHE.binary, ['-f', join(dir, 'apache.conf'), '-DFOREGROUND'], { core: SERVER_CORE, group: true })
  try {
    await waitFor('Apache listening', () => tcpOpen(port), proc)
  } catch (error) {
    const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''
    await proc.stop()
    throw new Error(`${error.message}\n${log}`)
  }
  return {
    proc,
    port,
    async close() {
      await proc.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

// --- the modes ------------------------------------------------------------------------------------

function machine(opts) {
  const cpu = cpus()
  return {
    cpuModel: cpu[0]?.model?.trim() ?? 'unknown CPU',
    cores: cpu.length,
    memoryBytes: totalmem(),
    os: `${osType()} ${release()}`,
    node: process.version,
    pinned: canPin,
    loadBefore: loadavg(),
    settings: {
      seconds: opts.smoke ? undefined : opts.seconds,
      requestsPerRun: opts.smoke ? opts.smokeRequests : undefined,
      warmupSeconds: opts.warmupSeconds,
      connections: opts.connections,
      rounds: opts.rounds,
      envoyRate: opts.rate,
      missTokens: opts.missTokens,
    },
  }
}

function writeResults(path, results) {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`)
  log(`results written to ${path}`)
}

async function prepare(opts) {
  const secrets = { clientSecret: randomBytes(16).toString('hex'), sessionSecret: randomBytes(32).toString('base64') }
  const issuer = await startIssuer()
  const scratch = mkdtempSync(join(tmpdir(), 'authservice-bench-'))
  const hitToken = await issuer.sign()
  return { secrets, issuer, scratch, hitToken }
}

async function mainRun(opts) {
  const results = { kind: opts.smoke ? 'smoke' : 'full', startedAt: new Date().toISOString(), machine: machine(opts), scenarios: [] }
  const { secrets, issuer, scratch, hitToken } = await prepare(opts)
  const cleanups = [() => issuer.close(), () => rmSync(scratch, { recursive: true, force: true })]
  try {
    const wanted = (name) => opts.only.length === 0 || opts.only.includes(name) || (name.startsWith('junk-') && opts.only.includes('junk'))
    const missFile = join(scratch, 'miss-tokens.json')
    if (wanted('bearer-miss') || wanted('anchor')) {
      log(`signing ${opts.missTokens} distinct tokens for the cache-miss scenarios`)
      writeFileSync(missFile, JSON.stringify(await distinctTokens(issuer, opts.missTokens)))
    }
    const junk = await junkKinds(issuer)

    const baseline = await startBaseline()
    cleanups.push(() => baseline.proc.stop())
    const service = await startService(issuer, secrets)
    cleanups.push(() => service.proc.stop())
    const generator = await startGenerator()
    cleanups.push(() => generator.close())
    const cookieTicket = await makeSession(issuer, hitToken, secrets, { kind: 'cookie' })
    const ctx = { opts, generator, baseline, service }
    results.processes = {
      service: `node ${SERVICE_NODE_ARGS.join(' ')} dist/server.js (pid ${service.proc.pid}${canPin ? `, core ${SERVER_CORE}` : ''})`,
      baseline: `node dev/bench/baseline-server.mjs (pid ${baseline.proc.pid}${canPin ? `, core ${SERVER_CORE}` : ''})`,
      generator: `node dev/bench/loadgen.mjs (pid ${generator.proc.pid}${canPin ? `, core ${GENERATOR_CORE}` : ''})`,
    }

    const onService = () => ({ servicePort: service.checkPort, proc: service.proc, opsUrl: service.opsUrl })
    const page = '/notebook/kubeflow-user-example-com/'
    // Every check carries what Envoy adds (x-forwarded-proto) besides the credential.
    const envoyish = { 'x-forwarded-proto': 'http' }
    const scenarios = [
      {
        name: 'bearer-hit',
        title: 'Valid bearer, same token (cache hit)',
        kind: 'http',
        expect: 200,
        request: { method: 'GET', path: page, headers: { ...envoyish, authorization: `Bearer ${hitToken}` } },
        target: onService,
      },
      {
        name: 'bearer-miss',
        title: `Valid bearer, ${opts.missTokens} distinct tokens (cache miss)`,
        kind: 'http',
        expect: 200,
        request: { method: 'GET', path: page, headers: { ...envoyish }, cycle: { header: 'authorization', prefix: 'Bearer ', file: missFile } },
        target: onService,
      },
      {
        name: 'junk',
        title: `Junk bearer, the mix (${junk.map((j) => j.title).join(', ')})`,
        kind: 'http',
        expect: 401,
        request: { method: 'GET', path: '/pipeline/apis/v2beta1/runs', headers: { ...envoyish, accept: 'application/json' }, cycle: { header: 'authorization', prefix: 'Bearer ', values: junk.map((j) => j.value) } },
        target: onService,
      },
      // Each kind alone, one value repeated (`--only=junk` runs these too).
      ...junk.map((j) => ({
        name: `junk-${j.kind}`,
        title: `Junk bearer: ${j.title}`,
        kind: 'http',
        expect: 401,
        request: { method: 'GET', path: '/pipeline/apis/v2beta1/runs', headers: { ...envoyish, accept: 'application/json', authorization: `Bearer ${j.value}` } },
        target: onService,
      })),
      {
        name: 'session-cookie',
        title: 'Session cookie (cookie store)',
        kind: 'http',
        expect: 200,
        request: { method: 'GET', path: page, headers: { ...envoyish, cookie: `authservice_session=${cookieTicket}` } },
        target: onService,
      },
      {
        name: 'session-redis',
        title: 'Session cookie (redis store)',
        kind: 'http',
        expect: 200,
        needs: 'redis',
        request: undefined, // filled in once Redis and the redis-store service run
        target: undefined,
      },
      {
        name: 'skip',
        title: 'Skip path (/dex)',
        kind: 'http',
        expect: 200,
        request: { method: 'GET', path: '/dex/auth?client_id=kubeflow-oidc-authservice', headers: { ...envoyish } },
        target: onService,
      },
      {
        name: 'unauthenticated-api',
        title: 'API call without credential (401)',
        kind: 'http',
        expect: 401,
        request: { method: 'GET', path: '/pipeline/apis/v2beta1/runs', headers: { ...envoyish, accept: 'application/json' } },
        target: onService,
      },
      {
        name: 'grpc',
        title: 'gRPC Check, valid bearer (cache hit)',
        kind: 'grpc',
        expect: 200,
        request: { method: 'GET', path: page, headers: { ...envoyish, authorization: `Bearer ${hitToken}` } },
        target: undefined, // the service's GRPC_PORT
      },
      {
        name: 'envoy',
        title: `Through Envoy at ${opts.rate} req/s, valid bearer`,
        kind: 'envoy',
        expect: 200,
        request: { method: 'GET', path: page, headers: { authorization: `Bearer ${hitToken}` } },
      },
    ]

    log(`warm-up: ${opts.smoke ? 'a few requests' : `${opts.warmupSeconds} s`} on the service and the baseline`)
    const warm = opts.smoke ? { amount: 100 } : { seconds: opts.warmupSeconds }
    await generator.run({ kind: 'http', connections: opts.connections, request: scenarios[0].request, port: service.checkPort, expect: 200, ...warm })
    await generator.run({ kind: 'http', connections: opts.connections, request: scenarios[0].request, port: baseline.httpPort, expect: 200, ...warm })

    for (const scenario of scenarios) {
      if (!wanted(scenario.name)) continue
      if (scenario.name === 'envoy') {
        if (!peerPath('envoy')) {
          results.scenarios.push({ name: scenario.name, title: scenario.title, skipped: 'Envoy not installed (npm run peers)' })
          continue
        }
        results.scenarios.push(await measureEnvoy(ctx, scenario))
        continue
      }
      if (scenario.name === 'grpc') {
        if (service.grpcPort === undefined) {
          results.scenarios.push({ name: scenario.name, title: scenario.title, skipped: 'dist/server.js left GRPC_PORT closed' })
          continue
        }
        scenario.target = () => ({ servicePort: service.grpcPort, proc: service.proc, opsUrl: service.opsUrl })
        results.scenarios.push(await measureScenario(ctx, scenario))
        continue
      }
      if (scenario.name === 'session-redis') {
        const redis = await startRedis()
        if (!redis) {
          results.scenarios.push({ name: scenario.name, title: scenario.title, skipped: 'redis-server not installed (npm run peers)' })
          continue
        }
        let redisService
        try {
          redisService = await startService(issuer, secrets, { store: 'redis', redisAddress: redis.address, grpc: false })
          const ticket = await makeSession(issuer, hitToken, secrets, { kind: 'redis', port: redis.port })
          scenario.request = { method: 'GET', path: page, headers: { ...envoyish, cookie: `authservice_session=${ticket}` } }
          scenario.target = () => ({
            servicePort: redisService.checkPort,
            proc: redisService.proc,
            opsUrl: redisService.opsUrl,
            extra: redis.proc,
            note: 'redis-server runs on the server core too; its CPU per request is otherCpuUsPerRequest',
          })
          results.scenarios.push(await measureScenario(ctx, scenario))
        } finally {
          await redisService?.proc.stop()
          await redis.close()
        }
        continue
      }
      results.scenarios.push(await measureScenario(ctx, scenario))
    }

    if (wanted('anchor')) {
      // The issue's anchors in this run: the same requests as bearer-hit and bearer-miss.
      const anchors = [
        { cache: true, name: 'anchor-hit', title: 'Anchor: fastify + jose + naive cache, same token', request: scenarios.find((s) => s.name === 'bearer-hit').request },
        { cache: false, name: 'anchor-miss', title: 'Anchor: fastify + jose, no cache, distinct tokens', request: scenarios.find((s) => s.name === 'bearer-miss').request },
      ]
      for (const anchor of anchors) {
        const server = await startAnchor(issuer, hitToken, anchor)
        try {
          results.scenarios.push(
            await measureScenario(ctx, {
              name: anchor.name,
              title: anchor.title,
              kind: 'http',
              expect: 200,
              request: anchor.request,
              target: () => ({ servicePort: server.port, proc: server.proc, note: 'dev/bench/anchor-server.mjs: a floor, not a peer (no sessions, policy, metrics)' }),
            }),
          )
        } finally {
          await server.proc.stop()
        }
      }
    }

    if (wanted('oauth2-proxy')) {
      // The peer Kubeflow runs (lib/oauth2-proxy.mjs): the same bearer, distinct-token and junk requests, and its own session cookie.
      results.peerVersions = { 'oauth2-proxy': oauth2ProxyVersion() ?? 'missing' }
      for (const startGroup of oauth2ProxyGroups({ issuer, hitToken, missFile, missTokens: opts.missTokens, junk: junk.map((j) => j.value), page, headers: envoyish, core: SERVER_CORE })) {
        const group = await startGroup()
        try {
          for (const scenario of group.scenarios) results.scenarios.push(scenario.skipped ? scenario : await measureScenario(ctx, scenario))
        } finally {
          await group.close()
        }
      }
    }

    if (wanted('apache')) {
      const title = 'Peer: Apache + mod_auth_openidc, same token'
      if (!apacheAvailable()) {
        results.scenarios.push({ name: 'apache', title, skipped: 'apache2 + libapache2-mod-auth-openidc not installed (optional peer)' })
      } else {
        const apache = await startApache(issuer)
        try {
          // The peer must really check the token: refused without it and with a forged one, allowed with it.
          const status = async (headers) => (await fetch(`http://127.0.0.1:${apache.port}/ok.txt`, { headers })).status
          const forged = `${hitToken.slice(0, hitToken.lastIndexOf('.'))}.${Buffer.alloc(256, 1).toString('base64url')}`
          const statuses = [await status({}), await status({ authorization: `Bearer ${forged}` }), await status({ authorization: `Bearer ${hitToken}` })]
          if (statuses[0] !== 401 || statuses[1] !== 401 || statuses[2] !== 200) {
            throw new Error(`Apache + mod_auth_openidc answered ${statuses.join(', ')} to no token, a forged token, the valid token (want 401, 401, 200)`)
          }
          results.scenarios.push(
            await measureScenario(ctx, {
              name: 'apache',
              title,
              kind: 'http',
              expect: 200,
              request: { method: 'GET', path: '/ok.txt', headers: { authorization: `Bearer ${hitToken}` } },
              target: () => ({ servicePort: apache.port, proc: apache.proc, note: 'Apache event MPM, all processes measured' }),
            }),
          )
        } finally {
          await apache.close()
        }
      }
    }
    // Issue #17 §3: the whole gateway's CPU (ext_authz + authservice vs Envoy's jwt_authn), and start-to-ready.
    if (wanted('gateway')) {
      results.gateway = peerPath('envoy')
        ? await measureGateway({ ...ctx, issuer, hitToken, path: page, pinned: pinTo(SERVER_CORE), runSize, alternate, log })
        : { name: 'gateway', title: 'Whole gateway CPU', skipped: 'Envoy not installed (npm run peers)' }
    }
    if (wanted('startup')) {
      results.startup = await measureStartup({ env: service.env, entry: ENTRY, nodeArgs: SERVICE_NODE_ARGS, prefix: pinTo(SERVER_CORE), runs: opts.smoke ? 2 : 5, log })
    }
    results.maxServiceRssBytes = Math.max(
      ...results.scenarios.filter((s) => !s.skipped && s.name !== 'apache' && !s.name.startsWith('anchor') && !s.name.startsWith('oauth2-proxy')).flatMap((s) => [s.rssBefore ?? 0, s.rssAfter ?? 0]),
    )
    results.rssTarget = { what: 'server RSS ≤ 128 MB', ok: results.maxServiceRssBytes <= 128 * MB, value: results.maxServiceRssBytes / MB }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
  }
  results.machine.loadAfter = loadavg()
  results.finishedAt = new Date().toISOString()
  results.issueTargets = issueTargets(results)
  writeResults(opts.out, results)
  const saturated = results.scenarios.some((s) => s.generatorSaturated)
  const unexpected = results.scenarios.some((s) =>
    s.skipped ? false : s.name === 'envoy' ? s.withAuthz.unexpected + s.withoutAuthz.unexpected > 0 : s.service.unexpected + s.baseline.unexpected > 0,
  )
  const table = [
    `Machine: ${machineLine(results.machine)}`,
    '',
    markdownTable(results),
    ...(results.gateway ? ['', gatewayMarkdown(results.gateway)] : []),
    ...(results.startup ? ['', startupMarkdown(results.startup)] : []),
    ...(results.issueTargets.length > 0 ? ['', issueTargetsMarkdown(results)] : []),
    '',
    `Max server RSS: ${(results.maxServiceRssBytes / MB).toFixed(0)} MB (${results.rssTarget.ok ? '✅' : '❌'} ≤ 128 MB).` +
      (saturated
        ? ' ⚠️ = the load generator used ≥ 95% of its core in a run of that scenario (usually the bare baseline): req/s measured the generator,' +
          ' so that ratio is not valid and the targets use server CPU per request instead.'
        : ''),
  ].join('\n')
  process.stdout.write(`${table}\n`)
  return unexpected || results.gateway?.unexpected > 0 ? 1 : 0
}

async function memoryRun(opts) {
  const results = { kind: opts.smoke ? 'memory-smoke' : 'memory', startedAt: new Date().toISOString(), machine: machine(opts) }
  const { secrets, issuer, scratch } = await prepare(opts)
  const cleanups = [() => issuer.close(), () => rmSync(scratch, { recursive: true, force: true })]
  try {
    log(`signing ${opts.memoryTokens} distinct tokens`)
    const file = join(scratch, 'memory-tokens.json')
    writeFileSync(file, JSON.stringify(await distinctTokens(issuer, opts.memoryTokens, (done) => log(`  ${done}`))))
    const service = await startService(issuer, secrets, { grpc: false })
    cleanups.push(() => service.proc.stop())
    const generator = await startGenerator()
    cleanups.push(() => generator.close())
    const samples = []
    const started = Date.now()
    const sample = async () => {
      const counters = await serviceCounters(service.opsUrl)
      samples.push({ seconds: (Date.now() - started) / 1000, rssBytes: service.proc.rssBytes(), checks: counters?.decisions, cacheEntries: counters?.cacheEntries })
    }
    await sample()
    const interval = setInterval(() => void sample(), opts.smoke ? 250 : 3_000)
    log(`memory run: ${opts.memoryRequests} checks over ${opts.memoryTokens} distinct tokens`)
    const run = await generator.run({
      kind: 'http',
      connections: opts.connections,
      port: service.checkPort,
      expect: 200,
      amount: opts.memoryRequests,
      request: {
        method: 'GET',
        path: '/notebook/kubeflow-user-example-com/',
        headers: { 'x-forwarded-proto': 'http' },
        cycle: { header: 'authorization', prefix: 'Bearer ', file },
      },
    })
    clearInterval(interval)
    await sleep(1_000)
    await sample()
    results.run = run
    results.samples = samples
    results.tokens = opts.memoryTokens
    results.counters = await serviceCounters(service.opsUrl)
    // Levelling off: the last third's peak RSS is within 10% (and 16 MB) of the middle third's. RSS
    // saw-tooths with V8's old-space collections, so both the peak (what a memory limit must allow)
    // and the median of the last third (the steady level) are reported; the target is on the peak.
    const rss = samples.map((s) => s.rssBytes ?? 0)
    const third = Math.max(1, Math.floor(rss.length / 3))
    const middlePeak = Math.max(...rss.slice(third, 2 * third))
    const last = rss.slice(2 * third)
    const lastPeak = Math.max(...last)
    results.levelsOff = lastPeak <= middlePeak * 1.1 + 16 * MB
    results.peakRssBytes = Math.max(...rss)
    results.lastThirdPeakRssBytes = lastPeak
    results.lastThirdMedianRssBytes = [...last].sort((a, b) => a - b)[Math.floor((last.length - 1) / 2)]
    results.rssTarget = { what: 'RSS ≤ 128 MB once steady (peak of the last third)', ok: lastPeak <= 128 * MB, value: lastPeak / MB }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
  }
  results.machine.loadAfter = loadavg()
  writeResults(opts.out, results)
  const lines = [
    `Machine: ${machineLine(results.machine)}`,
    '',
    `Memory run: ${results.run.completed} checks (${results.run.unexpected} unexpected) over ${results.tokens} distinct tokens in ${results.run.elapsedSeconds.toFixed(0)} s ` +
      `(${results.run.rps.toFixed(0)} req/s); token cache ${results.counters?.cacheEntries} entries, ${results.counters?.cacheHits} hits / ${results.counters?.cacheMisses} misses.`,
    '',
    '| t (s) | checks | RSS MB | cache entries |',
    '|---:|---:|---:|---:|',
    ...results.samples.map((s) => `| ${s.seconds.toFixed(0)} | ${s.checks ?? '–'} | ${((s.rssBytes ?? 0) / MB).toFixed(0)} | ${s.cacheEntries ?? '–'} |`),
    '',
    `RSS peak ${(results.peakRssBytes / MB).toFixed(0)} MB; last third: peak ${(results.lastThirdPeakRssBytes / MB).toFixed(0)} MB, ` +
      `median ${(results.lastThirdMedianRssBytes / MB).toFixed(0)} MB: ${results.levelsOff ? 'levels off ✅' : 'still growing ❌'}; ` +
      `${results.rssTarget.ok ? '✅' : '❌'} ${results.rssTarget.what}.`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
  return results.run.unexpected > 0 ? 1 : 0
}

/** node --cpu-prof of the service under the cache-hit, junk and cache-miss scenarios, one process each. */
async function profileRun(opts) {
  const results = { kind: 'profile', startedAt: new Date().toISOString(), machine: machine(opts), profiles: {} }
  const { secrets, issuer, scratch, hitToken } = await prepare(opts)
  const dir = join(dirname(opts.out), 'profiles')
  mkdirSync(dir, { recursive: true })
  const cleanups = [() => issuer.close(), () => rmSync(scratch, { recursive: true, force: true })]
  try {
    const junk = await junkKinds(issuer)
    // A process per case: the junk kinds one by one only when asked for (`--only=junk` or their names).
    const wanted = (name) =>
      name.startsWith('junk-') ? opts.only.includes(name) || opts.only.includes('junk') : opts.only.length === 0 || opts.only.includes(name)
    const missFile = join(scratch, 'miss-tokens.json')
    if (wanted('bearer-miss')) {
      log(`signing ${opts.missTokens} distinct tokens for the cache-miss profile`)
      writeFileSync(missFile, JSON.stringify(await distinctTokens(issuer, opts.missTokens)))
    }
    const generator = await startGenerator()
    cleanups.push(() => generator.close())
    const cases = [
      { name: 'bearer-hit', expect: 200, request: { method: 'GET', path: '/notebook/kubeflow-user-example-com/', headers: { 'x-forwarded-proto': 'http', authorization: `Bearer ${hitToken}` } } },
      {
        name: 'junk',
        expect: 401,
        request: { method: 'GET', path: '/pipeline/apis/v2beta1/runs', headers: { 'x-forwarded-proto': 'http', accept: 'application/json' }, cycle: { header: 'authorization', prefix: 'Bearer ', values: junk.map((j) => j.value) } },
      },
      ...junk.map((j) => ({
        name: `junk-${j.kind}`,
        expect: 401,
        request: { method: 'GET', path: '/pipeline/apis/v2beta1/runs', headers: { 'x-forwarded-proto': 'http', accept: 'application/json', authorization: `Bearer ${j.value}` } },
      })),
      {
        name: 'bearer-miss',
        expect: 200,
        request: { method: 'GET', path: '/notebook/kubeflow-user-example-com/', headers: { 'x-forwarded-proto': 'http' }, cycle: { header: 'authorization', prefix: 'Bearer ', file: missFile } },
      },
    ]
    for (const item of cases) {
      if (!wanted(item.name)) continue
      for (const old of readdirSync(dir).filter((file) => file.startsWith(`${item.name}.`))) rmSync(join(dir, old))
      const service = await startService(issuer, secrets, { grpc: false, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${item.name}.cpuprofile`] })
      const spec = { kind: 'http', connections: opts.connections, request: item.request, port: service.checkPort, expect: item.expect }
      await generator.run({ ...spec, ...(opts.smoke ? { amount: 100 } : { seconds: opts.warmupSeconds }) })
      log(`profiling ${item.name}`)
      const fromUs = Number(process.hrtime.bigint() / 1000n)
      const run = await generator.run({ ...spec, ...runSize(opts) })
      const toUs = Number(process.hrtime.bigint() / 1000n)
      const status = await service.proc.stop(20_000)
      const file = join(dir, `${item.name}.cpuprofile`)
      if (!existsSync(file)) throw new Error(`no profile written for ${item.name} (exit ${JSON.stringify(status)})`)
      const summary = summarizeProfile(file, { fromUs, toUs })
      results.profiles[item.name] = { file, run: { rps: run.rps, latency: run.latency, unexpected: run.unexpected }, summary }
      process.stdout.write(`${profileMarkdown(`${item.name} (${run.rps.toFixed(0)} req/s while profiled)`, summary)}\n\n`)
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
  }
  writeResults(opts.out, results)
  return 0
}

async function main() {
  const opts = options()
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} missing: run \`npm run build\` first (npm run bench does)`)
  if (!canPin) log('taskset unavailable (or one core): server and load generator are not pinned')
  const code = opts.memory ? await memoryRun(opts) : opts.profile ? await profileRun(opts) : await mainRun(opts)
  return code
}

// Exit explicitly: the exit hook (test/helpers/peer-process.ts) then kills any child still running.
main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`[bench] failed: ${error?.stack ?? error}\n`)
    process.exit(1)
  },
)
