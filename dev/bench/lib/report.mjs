/**
 * Turning measurements into the report: medians over rounds, ratios to the baseline, target
 * verdicts, the Markdown tables, and a summary of a V8 .cpuprofile (self time by function and by
 * file or package).
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** A generator at or above this share of one core is the bottleneck: the run measures it, not the server. */
export const SATURATED_CPU = 0.95

export const MB = 1024 * 1024
const fmt = (value, digits = 2) => (value === undefined || value === null || Number.isNaN(value) ? '–' : value.toFixed(digits))
const mb = (bytes) => (bytes === undefined ? '–' : (bytes / MB).toFixed(0))

/** The run whose req/s is the median of the rounds (its latencies go with it). */
export function medianRun(runs) {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

/**
 * The targets that belong to one scenario (issue #17): the cache hit's p99 at 50 connections and the
 * latency Envoy's ext_authz adds at a fixed rate. Targets that compare scenarios (ratios to the
 * Node ceiling and to oauth2-proxy) are issueTargets' below.
 */
export function targetsFor(name, summary) {
  const checks = []
  if (name === 'bearer-hit') checks.push({ what: 'p99 ≤ 3 ms', ok: summary.service.latency.p99 <= 3, value: summary.service.latency.p99 })
  if (name === 'envoy') checks.push({ what: 'added p50 ≤ 0.5 ms', ok: summary.addedP50 <= 0.5, value: summary.addedP50 })
  return checks
}

/** Server CPU µs per request of a scenario (median round), or undefined when it did not run. */
const cpuOf = (results, name) => {
  const scenario = results.scenarios.find((s) => s.name === name && !s.skipped)
  return scenario?.service?.serverCpuUsPerRequest
}

/**
 * Issue #17's targets, by CPU time per request in the same run (what req/s would be with a core
 * each; req/s alone measures the load generator on 2 cores). Each: what, ours, the reference, the
 * ratio and the verdict; a comparison whose rows did not run is left out.
 */
export function issueTargets(results) {
  const checks = []
  const hit = cpuOf(results, 'bearer-hit')
  const compare = (what, ours, reference, ok, ratio) => {
    if (ours === undefined || reference === undefined) return
    checks.push({ what, ours, reference, ratio: ratio(ours, reference), ok: ok(ratio(ours, reference)) })
  }
  const cheaper = (ours, reference) => reference / ours
  for (const scenario of results.scenarios.filter((s) => s.name.startsWith('junk-') && !s.skipped)) {
    compare(`${scenario.title.replace('Junk bearer: ', 'junk ')} ≤ a cached valid token`, scenario.service.serverCpuUsPerRequest, hit, (r) => r <= 1, (ours, ref) => ours / ref)
  }
  compare('junk mix ≥ 4× cheaper than oauth2-proxy’s junk', cpuOf(results, 'junk'), cpuOf(results, 'oauth2-proxy-junk'), (r) => r >= 4, cheaper)
  const ceiling = results.scenarios.find((s) => s.name === 'bearer-hit' && !s.skipped)?.baseline?.serverCpuUsPerRequest
  compare('cache hit ≥ 0.6× the Node ceiling (bare fastify)', hit, ceiling, (r) => r >= 0.6, (ours, ref) => ref / ours)
  compare('cache hit ≥ 6× cheaper than oauth2-proxy’s valid token', hit, cpuOf(results, 'oauth2-proxy-hit'), (r) => r >= 6, cheaper)
  compare('cache miss ≥ 2.5× cheaper than oauth2-proxy’s (distinct tokens)', cpuOf(results, 'bearer-miss'), cpuOf(results, 'oauth2-proxy-miss'), (r) => r >= 2.5, cheaper)
  compare('session cookie within 1.2× of the bearer cache hit', cpuOf(results, 'session-cookie'), hit, (r) => r <= 1.2, (ours, ref) => ours / ref)
  compare('session cookie vs oauth2-proxy’s session cookie (reported)', cpuOf(results, 'session-cookie'), cpuOf(results, 'oauth2-proxy-session'), () => true, cheaper)
  return checks
}

/** issueTargets as a Markdown table. */
export function issueTargetsMarkdown(results) {
  const checks = issueTargets(results)
  if (checks.length === 0) return ''
  return [
    '| Target (issue #17, CPU µs per request, same run) | Ours | Reference | Ratio | |',
    '|---|---:|---:|---:|---|',
    ...checks.map((check) => `| ${check.what} | ${fmt(check.ours, 1)} | ${fmt(check.reference, 1)} | ${fmt(check.ratio)} | ${check.ok ? '✅' : '❌'} |`),
  ].join('\n')
}

const verdict = (checks) =>
  checks.length === 0 ? '' : checks.map((check) => `${check.ok ? '✅' : '❌'} ${check.what}`).join('<br>')

/** The main table: one row per scenario. */
export function markdownTable(results) {
  const lines = [
    '| Scenario | Expect | req/s service / baseline | × baseline | Server CPU µs/req service / baseline | × baseline by CPU | p50 / p99 / max ms | Unexpected | Server RSS MB before → after | Generator CPU service / baseline | Targets |',
    '|---|---|---|---:|---|---:|---|---:|---|---|---|',
  ]
  for (const scenario of results.scenarios) {
    if (scenario.skipped) {
      lines.push(`| ${scenario.title} | | | | | | | | | | skipped: ${scenario.skipped} |`)
      continue
    }
    if (scenario.name === 'envoy') {
      const { withAuthz, withoutAuthz, cpuUsPerRequest: cpu } = scenario
      lines.push(
        `| ${scenario.title} | ${scenario.expect} | ${fmt(withAuthz.rps, 0)} with ext_authz / ${fmt(withoutAuthz.rps, 0)} without (fixed rate) | – | ` +
          `Envoy ${fmt(cpu.envoyWith, 0)} / ${fmt(cpu.envoyWithout, 0)}; authservice ${fmt(cpu.authservice, 0)} | – | ` +
          `with ${fmt(withAuthz.latency.p50)} / ${fmt(withAuthz.latency.p99)} / ${fmt(withAuthz.latency.max)}; ` +
          `without ${fmt(withoutAuthz.latency.p50)} / ${fmt(withoutAuthz.latency.p99)} / ${fmt(withoutAuthz.latency.max)}; ` +
          `**added p50 ${fmt(scenario.addedP50)}, p99 ${fmt(scenario.addedP99)}** | ${withAuthz.unexpected + withoutAuthz.unexpected} | ` +
          `${mb(scenario.rssBefore)} → ${mb(scenario.rssAfter)} | ${pct(withAuthz.generatorCpu)} / ${pct(withoutAuthz.generatorCpu)} | ${verdict(scenario.targets)} |`,
      )
      continue
    }
    const { service, baseline } = scenario
    const saturated = scenario.generatorSaturated ? ' ⚠️' : ''
    const extra = service.otherCpuUsPerRequest === undefined ? '' : ` (+ redis ${fmt(service.otherCpuUsPerRequest, 0)})`
    lines.push(
      `| ${scenario.title} | ${scenario.expect} | ${fmt(service.rps, 0)} / ${fmt(baseline.rps, 0)} | ${fmt(scenario.ratio)}${saturated} | ` +
        `${fmt(service.serverCpuUsPerRequest, 0)}${extra} / ${fmt(baseline.serverCpuUsPerRequest, 0)} | ${fmt(scenario.cpuRatio)} | ` +
        `${fmt(service.latency.p50)} / ${fmt(service.latency.p99)} / ${fmt(service.latency.max)} | ${service.unexpected + service.errors + service.timeouts} | ` +
        `${mb(scenario.rssBefore)} → ${mb(scenario.rssAfter)} | ${pct(service.generatorCpu)} / ${pct(baseline.generatorCpu)} | ${verdict(scenario.targets)} |`,
    )
  }
  return lines.join('\n')
}

const pct = (value) => (value === undefined ? '–' : `${Math.round(value * 100)}%`)

export function machineLine(machine) {
  return (
    `${machine.cpuModel}, ${machine.cores} cores, ${Math.round(machine.memoryBytes / 1024 ** 3)} GiB, ${machine.os}, Node ${machine.node}; ` +
    `load average ${machine.loadBefore.map((v) => v.toFixed(1)).join(' ')} at start, ${machine.loadAfter?.map((v) => v.toFixed(1)).join(' ') ?? '–'} at end; ` +
    `${machine.pinned ? 'server side pinned to core 0, load generator to core 1 (taskset)' : 'no CPU pinning (taskset unavailable)'}`
  )
}

// --- CPU profiles --------------------------------------------------------------------------------

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** Where a profile node's code lives: `dist/…` for ours, the package for dependencies, `node:` for Node's own. */
function whereOf(url) {
  if (!url) return '(native / V8)'
  if (url.startsWith('node:')) return url
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const nm = path.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  return path.startsWith(ROOT) ? relative(ROOT, path) : path
}

/**
 * Self time per function and per place (file or package) from a .cpuprofile: the share of samples
 * whose top frame is that function. `(idle)` and `(program)`/`(garbage collector)` are kept so the
 * shares add up to the whole run.
 */
export function summarizeProfile(path, { top = 25, fromUs = -Infinity, toUs = Infinity } = {}) {
  const profile = JSON.parse(readFileSync(path, 'utf8'))
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfUs = new Map()
  // Sample times are CLOCK_MONOTONIC microseconds, the clock of process.hrtime in every process,
  // so the window the load ran in (measured by run.mjs) selects the samples: no start-up, no warm-up.
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    if (at < fromUs || at > toUs) continue
    const id = profile.samples[i]
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
  }
  let total = 0
  let idle = 0
  const functions = new Map()
  const places = new Map()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    const frame = node.callFrame
    total += us
    if (frame.functionName === '(idle)') {
      idle += us
      continue
    }
    const where = whereOf(frame.url)
    const key = `${frame.functionName || '(anonymous)'} — ${where}${frame.url ? `:${frame.lineNumber + 1}` : ''}`
    functions.set(key, (functions.get(key) ?? 0) + us)
    places.set(where, (places.get(where) ?? 0) + us)
  }
  const busy = total - idle
  const rank = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, shareOfBusy: busy > 0 ? us / busy : 0 }))
  return { totalMs: total / 1000, busyMs: busy / 1000, idleShare: total > 0 ? idle / total : 0, functions: rank(functions), places: rank(places) }
}

export function profileMarkdown(name, summary) {
  const lines = [
    `#### ${name}: ${summary.busyMs.toFixed(0)} ms busy of ${summary.totalMs.toFixed(0)} ms (${Math.round(summary.idleShare * 100)}% idle)`,
    '',
    '| Self time (share of busy) | Function — where |',
    '|---:|---|',
    ...summary.functions.map((entry) => `| ${(entry.shareOfBusy * 100).toFixed(1)}% | ${entry.name.replaceAll('|', '\\|')} |`),
    '',
    '| Self time (share of busy) | File or package |',
    '|---:|---|',
    ...summary.places.map((entry) => `| ${(entry.shareOfBusy * 100).toFixed(1)}% | ${entry.name} |`),
  ]
  return lines.join('\n')
}

// --- the whole gateway and start-to-ready (issue #17 §3; dev/bench/lib/gateway.mjs, startup.mjs) ---

/** The `gateway` scenario: the whole gateway's CPU per request, ext_authz + authservice vs jwt_authn. */
export function gatewayMarkdown(gateway) {
  if (gateway.skipped) return `${gateway.title}: skipped: ${gateway.skipped}`
  const { extAuthz, jwtAuthn, cpuUsPerRequest: cpu } = gateway
  const row = (label, run, cpuText) =>
    `| ${label} | ${fmt(run.rps, 0)} | ${cpuText} | ${fmt(run.latency.p50)} / ${fmt(run.latency.p99)} / ${fmt(run.latency.max)} | ` +
    `${run.unexpected + run.errors + run.timeouts} | ${pct(run.generatorCpu)} |`
  return [
    `| ${gateway.title} (${gateway.connections} connections) | req/s | **Gateway CPU µs/req** | p50 / p99 / max ms | Unexpected | Generator CPU |`,
    '|---|---:|---|---|---:|---:|',
    row('Envoy + ext_authz → authservice', extAuthz, `**${fmt(cpu.extAuthzTotal, 0)}** (Envoy ${fmt(cpu.extAuthzEnvoy, 0)} + authservice ${fmt(cpu.extAuthzService, 0)})`),
    row("Envoy + jwt_authn (Kubeflow's dex-jwt), no ext_authz", jwtAuthn, `**${fmt(cpu.jwtAuthnEnvoy, 0)}** (Envoy)`),
    '',
    `Both checked before measuring (no token, forged, valid: ${gateway.verified.extAuthz.join('/')} and ${gateway.verified.jwtAuthn.join('/')}); ` +
      `upstream: ${gateway.upstream}; jwt_authn: ${gateway.jwtAuthnPolicy}.`,
  ].join('\n')
}

/** Start-to-ready targets of the issue: ≤ 0.5 s (on the median start) and RSS ≤ 128 MB right after ready (the largest seen). */
export function startupTargets(startup) {
  return [
    { what: 'start-to-ready ≤ 0.5 s (median)', ok: startup.medianReadyMs <= 500, value: startup.medianReadyMs },
    { what: 'RSS after ready ≤ 128 MB', ok: startup.maxRssBytes <= 128 * MB, value: startup.maxRssBytes / MB },
  ]
}

/** The `startup` scenario, one line. */
export function startupMarkdown(startup) {
  return (
    `${startup.title}, ${startup.runs} starts (polled every ${startup.pollMs} ms): median ${fmt(startup.medianReadyMs, 0)} ms, max ${fmt(startup.maxReadyMs, 0)} ms ` +
    `(ops port answering after ${fmt(startup.medianFirstAnswerMs, 0)} ms); RSS right after ready: median ${mb(startup.medianRssBytes)} MB, max ${mb(startup.maxRssBytes)} MB. ` +
    startupTargets(startup).map((check) => `${check.ok ? '✅' : '❌'} ${check.what}`).join(', ')
  )
}
