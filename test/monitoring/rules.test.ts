/**
 * Issue 18: the alerts of deploy/components/monitoring, checked by the real promtool (built by
 * test/peers/install.sh from the Go module proxy) on series recorded from the running service:
 * steady traffic, a spike of denials, slow checks (a slow identity provider), and a provider that
 * is down for a replica that never got ready. Each alert is shown to fire on its own trouble and to
 * stay quiet on the others. The dashboard and the rules name only metrics the service exports.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { startAuthservice, type RunningAuthservice } from '../helpers/authservice.js'
import { installedPeer, peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer } from '../helpers/test-issuer.js'
import { waitUntil } from '../helpers/wait.js'
import { faultEnv } from '../helpers/fault-gateway.js'
import { exportedNames, inputSeries, scrape, writeRuleTests, type Snapshot } from './scrape.js'

const skip = skipUnlessPeers('promtool')
const run = promisify(execFile)
const REPO = join(import.meta.dirname, '..', '..')
const MONITORING = join(REPO, 'deploy', 'components', 'monitoring')
const ALERTS = ['AuthserviceDenialsSpiking', 'AuthserviceProviderUnreachable', 'AuthserviceNotReady', 'AuthserviceCheckLatencyHigh']
/** What the rules read (the test below checks that this is all of them). */
const FAMILIES = ['authservice_decisions_total', 'authservice_decision_duration_seconds_bucket', 'authservice_decision_duration_seconds_count', 'authservice_provider_requests_total', 'authservice_ready']
const TARGET = { namespace: 'istio-system', job: 'authservice' }
/** The provider's answers are held this long while `slow` is on (the check waits for a key fetch). */
const SLOW_MS = 400

interface Rule {
  alert: string
  expr: string
  labels: { severity: string }
  annotations: Record<string, string>
}

const prometheusRule = parseYaml(readFileSync(join(MONITORING, 'prometheusrule.yaml'), 'utf8')) as { spec: { groups: Array<{ rules: Rule[] }> } }
const rules = prometheusRule.spec.groups.flatMap((group) => group.rules)
const dashboard = readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')

/** Metric names in PromQL: what is followed by `{`, `[` or `)` and is ours or Node's. */
const metricNames = (text: string) => new Set([...text.matchAll(/\b((?:authservice|process|nodejs)_[a-z0-9_]+)\b/g)].map((match) => match[1]!))

function promtool(...args: string[]) {
  return run(installedPeer('promtool'), args, { timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  )
}

/** The alert as promtool expects it: labels, and the annotations rendered with them. */
function expected(alert: string, labels: Record<string, string>) {
  const rule = rules.find((candidate) => candidate.alert === alert)!
  const render = (text: string) => text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_all, name: string) => labels[name] ?? '')
  return {
    exp_labels: { ...labels, severity: rule.labels.severity },
    exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([name, text]) => [name, render(text)])),
  }
}

/** `alert_rule_test` entries: at `minute`, exactly `firing` (alertname → alerts) and nothing else. */
function at(minute: number, firing: Record<string, Array<Record<string, string>>> = {}) {
  return ALERTS.map((alertname) => ({
    eval_time: `${minute}m`,
    alertname,
    exp_alerts: (firing[alertname] ?? []).map((labels) => expected(alertname, labels)),
  }))
}

t.test('promtool is the version test/promtool/go.mod pins', { skip }, async (t) => {
  const pinned = /github\.com\/prometheus\/prometheus (v\S+)/.exec(readFileSync(join(REPO, 'test', 'promtool', 'go.mod'), 'utf8'))?.[1]
  t.ok(pinned, 'go.mod requires github.com/prometheus/prometheus')
  t.equal(peerVersion('promtool'), pinned)
})

t.test('promtool check rules accepts the PrometheusRule spec', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'authservice-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'rules.yaml'), JSON.stringify(prometheusRule.spec))
  const checked = await promtool('check', 'rules', join(dir, 'rules.yaml'))
  t.equal(checked.code, 0, checked.output)
  t.match(checked.output, `SUCCESS: ${rules.length} rules found`)
  t.same(rules.map((rule) => rule.alert).sort(), [...ALERTS].sort(), 'the alerts this test drives are the ones shipped')

  writeFileSync(join(dir, 'broken.yaml'), JSON.stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'rate(authservice_decisions_total[5m' }] }] }))
  const broken = await promtool('check', 'rules', join(dir, 'broken.yaml'))
  t.not(broken.code, 0, 'a rule promtool cannot parse fails the check (the check is real)')
})

t.test('every alert fires on its trouble and stays quiet otherwise, on series recorded from the service', { skip }, async (t) => {
  const issuer = await startTestIssuer()
  t.teardown(() => issuer.close())
  const provider = { issuer: issuer.issuer, clientId: KUBEFLOW_CLIENT_ID, clientSecret: 'monitoring-test-client-secret-0123456789' }
  let slow = false
  const fetchThrough = async (url: string, init?: Parameters<typeof fetch>[1]) => {
    if (slow) await delay(SLOW_MS)
    return fetch(url, init)
  }
  const a = await startAuthservice(faultEnv(provider), { fetch: (url, init) => fetchThrough(url, init) })
  t.teardown(() => a.close())
  const keysFetchedAt = Date.now()

  const check = (service: RunningAuthservice, headers: Record<string, string>) =>
    fetch(`${service.checkUrl}/api/v1/namespaces`, { headers: { accept: 'application/json', ...headers } }).then((response) => response.status)
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const valid = await issuer.sign()
  const expired = await issuer.sign({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })
  const traffic = async (allows: number, expiredTokens: number, withoutCredential: number) => {
    const statuses = await Promise.all([
      ...Array.from({ length: allows }, () => check(a, bearer(valid))),
      ...Array.from({ length: expiredTokens }, () => check(a, bearer(expired))),
      ...Array.from({ length: withoutCredential }, () => check(a, {})),
    ])
    return statuses
  }

  // Steady: mostly allowed, a few denials. Then a spike of expired tokens. Enough allowed checks in
  // each that one check slowed by a loaded machine stays below the 99th percentile.
  const start = await scrape(a.opsUrl)
  const steadyStatuses = await traffic(200, 2, 2)
  t.equal(steadyStatuses.filter((status) => status === 200).length, 200, 'steady traffic: the valid tokens are allowed')
  const steady = await scrape(a.opsUrl)
  const spikeStatuses = await traffic(200, 40, 2)
  t.equal(spikeStatuses.filter((status) => status === 401).length, 42, 'the spike: expired tokens are denied')
  const spike = await scrape(a.opsUrl)

  // The provider goes down; a replica started now never gets ready and its discovery calls fail.
  issuer.setDown('close')
  const b = await startAuthservice(faultEnv(provider), { waitReady: false })
  const downStart = await scrape(b.opsUrl)
  const discoveryFailures = (snapshot: Snapshot) => snapshot.samples.get('authservice_provider_requests_total{endpoint="discovery",result="unreachable"}') ?? 0
  await waitUntil('a retried discovery fails', async () => discoveryFailures(await scrape(b.opsUrl)) > discoveryFailures(downStart), { timeoutMs: 10_000, intervalMs: 100 })
  t.equal(await check(b, bearer(valid)), 401, 'the replica without keys refuses (401 + Retry-After, never a 5xx)')
  const down = await scrape(b.opsUrl)
  t.ok([...down.samples.keys()].some((sample) => sample.startsWith('authservice_decisions_total{outcome="unavailable"')), 'counted as unavailable')
  t.equal(down.samples.get('authservice_ready'), 0, 'the scrape says the replica is not ready')
  await b.close()
  issuer.setDown(false)

  // Slow checks: the provider re-keys and answers slowly; checks with the new key wait for the key fetch.
  await delay(Math.max(0, keysFetchedAt + 5_500 - Date.now())) // key-set.ts: one refetch per 5 s at most
  await issuer.rotateKey()
  const rotated = await issuer.sign()
  const beforeSlow = await scrape(a.opsUrl)
  slow = true
  const slowStatuses = await Promise.all([...Array.from({ length: 20 }, () => check(a, bearer(rotated))), ...Array.from({ length: 20 }, () => check(a, bearer(valid)))])
  slow = false
  t.same([...new Set(slowStatuses)], [200], 'the slow checks are allowed once the new key is fetched')
  const slowEnd = await scrape(a.opsUrl)
  t.ok(
    (slowEnd.samples.get('authservice_decision_duration_seconds_count{outcome="allow"}') ?? 0) -
      (slowEnd.samples.get('authservice_decision_duration_seconds_bucket{le="0.25",outcome="allow"}') ?? 0) >= 20,
    'the checks that waited for the key fetch took longer than 250 ms',
  )

  const podA = { ...TARGET, pod: 'authservice-a' }
  const podB = { ...TARGET, pod: 'authservice-b' }
  const series = (first: Snapshot, phases: Array<[Snapshot, Snapshot, number]>, labels: Record<string, string>) =>
    inputSeries(first, phases.map(([from, to, minutes]) => ({ from, to, minutes })), FAMILIES, labels)
  // Which reasons the spike drove above three times their steady rate and 0.2/s.
  const denials = (from: Snapshot, to: Snapshot) =>
    new Map(
      [...to.samples]
        .filter(([sample]) => /^authservice_decisions_total\{outcome="(unauthenticated|forbidden)"/.test(sample))
        .map(([sample, value]) => [/reason="([^"]+)"/.exec(sample)![1]!, (value - (from.samples.get(sample) ?? 0)) / 60]),
    )
  const steadyRate = denials(start, steady)
  const spiking = [...denials(steady, spike)].filter(([reason, rate]) => rate > 0.2 && rate > 3 * (steadyRate.get(reason) ?? 0)).map(([reason]) => reason)
  t.same(spiking, ['CREDENTIAL_REJECTED'], 'the recorded spike is of expired tokens')

  const tests = [
    // Two hours of steady traffic: nothing fires.
    { name: 'steady', interval: '1m', input_series: series(start, [[start, steady, 120]], podA), alert_rule_test: [...at(70), ...at(119)] },
    // An hour of steady traffic, then the spike: denials fire after 10 minutes, nothing else.
    {
      name: 'denials spike',
      interval: '1m',
      input_series: series(start, [[start, steady, 70], [steady, spike, 20]], podA),
      alert_rule_test: [...at(69), ...at(76), ...at(85, { AuthserviceDenialsSpiking: spiking.map((reason) => ({ ...TARGET, reason })) })],
    },
    // Slow checks: the latency alert fires after 10 minutes, nothing else.
    {
      name: 'slow checks',
      interval: '1m',
      input_series: series(start, [[start, steady, 30], [beforeSlow, slowEnd, 25]], podA),
      alert_rule_test: [...at(29), ...at(36), ...at(54, { AuthserviceCheckLatencyHigh: [TARGET] })],
    },
    // The provider down and a replica not ready: both fire after 5 minutes.
    {
      name: 'provider down, replica not ready',
      interval: '1m',
      input_series: series(downStart, [[downStart, down, 20]], podB),
      alert_rule_test: [...at(3), ...at(19, { AuthserviceProviderUnreachable: [TARGET], AuthserviceNotReady: [podB] })],
    },
  ]
  const dir = mkdtempSync(join(tmpdir(), 'authservice-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'rules.yaml'), JSON.stringify(prometheusRule.spec))
  const tested = await promtool('test', 'rules', writeRuleTests(dir, 'rules.yaml', tests))
  t.equal(tested.code, 0, tested.output)
  t.match(tested.output, 'SUCCESS')

  // The same file with an alert expected that the series do not raise: promtool fails (the test is real).
  const wrong = structuredClone(tests[0]!) as { alert_rule_test: Array<{ exp_alerts: unknown[] }> }
  wrong.alert_rule_test[0]!.exp_alerts = [{ exp_labels: { ...TARGET, severity: 'warning' } }]
  const failed = await promtool('test', 'rules', writeRuleTests(dir, 'rules.yaml', [wrong]))
  t.not(failed.code, 0, 'an alert that does not fire fails promtool test rules')

  // The rules and the dashboard read only metrics the running service exports.
  const exported = exportedNames(steady)
  for (const name of metricNames(rules.map((rule) => rule.expr).join('\n'))) t.ok(exported.has(name), `rules: ${name} is exported`)
  t.same([...metricNames(rules.map((rule) => rule.expr).join('\n'))].filter((name) => !FAMILIES.includes(name)), [], 'the recorded families cover what the rules read')
  const onDashboard = metricNames(dashboard)
  t.ok(onDashboard.size >= 10, 'the dashboard queries the service')
  for (const name of onDashboard) t.ok(exported.has(name), `dashboard: ${name} is exported`)
})
