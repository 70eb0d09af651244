// charts/authservice with the real helm (helm.sh/helm/v4, built by test/peers/install.sh):
//  - `helm lint --strict` and `helm template` of the defaults and of the two Kubeflow presets;
//  - parity: each render (defaults, presets, dev's values, each component's value alone) is the
//    same set of objects as `kustomize build` of the matching deploy/ kustomization, object by object, once kustomize's name hashes and Helm's own labels are
//    normalised away (./helm.ts) — a change on either side fails here;
//  - values.schema.json refuses wrong values at install time, naming them;
//  - the presets' gateway wiring through real Envoy, with the same scenarios as deploy/'s
//    (./wiring-through-envoy.ts): the rendered EnvoyFilter verbatim (1.8), and the extension
//    provider NOTES.txt tells the operator to add to Istio's mesh config, as istiod translates it (>= 1.9).
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { extAuthzFilterFromEnvoyFilter } from '../helpers/envoy.js'
import { peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'
import { CHART, driftBetween, helm, helmNotes, helmTemplate, NAMESPACE } from './helm.js'
import { extAuthzFilterFromExtensionProvider, type EnvoyExtAuthzHttpProvider } from './istio-ext-authz.js'
import { DEPLOY, kustomizeBuild, kustomizeBuildOf, parseObjects, podEnv, REPO, validateWithModel } from './kustomize.js'
import { runWiringThroughEnvoy } from './wiring-through-envoy.js'

const skip = skipUnlessPeers('helm', 'kustomize')

// Loose views of the rendered objects (validateWithModel checks their schema).
type Any = any

interface Pairing {
  title: string
  /** helm's value arguments. */
  values: string[]
  /** The kustomize render the chart must equal. */
  kustomize(): Promise<string>
}

const preset = (file: string) => ['--values', join(CHART, file)]
const PAIRINGS: Pairing[] = [
  { title: 'defaults = deploy/base', values: [], kustomize: () => kustomizeBuild(join(DEPLOY, 'base')) },
  {
    title: 'values-kubeflow-1.8.yaml = deploy/overlays/kubeflow-legacy',
    values: preset('values-kubeflow-1.8.yaml'),
    kustomize: () => kustomizeBuild(join(DEPLOY, 'overlays', 'kubeflow-legacy')),
  },
  {
    title: 'values-kubeflow.yaml = deploy/overlays/kubeflow',
    values: preset('values-kubeflow.yaml'),
    kustomize: () => kustomizeBuild(join(DEPLOY, 'overlays', 'kubeflow')),
  },
  {
    title: 'one replica, no autoscaler or budget, debug, insecure cookies = deploy/overlays/dev',
    values: [
      '--set', 'autoscaling.enabled=false', '--set', 'replicaCount=1', '--set', 'podDisruptionBudget.enabled=false',
      '--set', 'rollingUpdate.maxUnavailable=1', '--set', 'config.LOG_LEVEL=debug', '--set-string', 'config.SECURE_COOKIES=false',
    ],
    kustomize: () => kustomizeBuild(join(DEPLOY, 'overlays', 'dev')),
  },
  {
    title: 'sessionStore.type=redis, redis.deploy=true = deploy/base + components/redis',
    values: ['--set', 'sessionStore.type=redis', '--set', 'redis.deploy=true'],
    kustomize: () => kustomizeBuildOf({ resources: [join(DEPLOY, 'base')], components: [join(DEPLOY, 'components', 'redis')] }),
  },
  {
    title: 'kubernetesTokens.enabled=true = deploy/base + components/kubernetes-tokens',
    values: ['--set', 'kubernetesTokens.enabled=true'],
    kustomize: () => kustomizeBuildOf({ resources: [join(DEPLOY, 'base')], components: [join(DEPLOY, 'components', 'kubernetes-tokens')] }),
  },
  // Each wiring alone, on the defaults.
  ...([
    ['kubeflow.wiring=1.8', 'istio-envoyfilter'],
    ['kubeflow.wiring=1.9', 'istio-ext-authz'],
    ['kubeflow.dexJwt.enabled=true', 'dex-jwt'],
  ] as const).map(([value, component]) => ({
    title: `${value} = deploy/base + components/${component}`,
    values: ['--set', value],
    kustomize: () => kustomizeBuildOf({ resources: [join(DEPLOY, 'base')], components: [join(DEPLOY, 'components', component)] }),
  })),
]

t.test('helm is the version test/helm/go.mod pins', { skip }, async (t) => {
  const pinned = /helm\.sh\/helm\/v4 (v\S+)/.exec(readFileSync(join(REPO, 'test', 'helm', 'go.mod'), 'utf8'))?.[1]
  t.ok(pinned, 'go.mod requires helm.sh/helm/v4')
  t.match(peerVersion('helm'), new RegExp(`^${pinned!.replace(/\./g, '\\.')}(\\+|$)`))
})

t.test('helm lint --strict passes for the defaults and both Kubeflow presets', { skip }, async (t) => {
  for (const values of [[], preset('values-kubeflow-1.8.yaml'), preset('values-kubeflow.yaml')]) {
    const result = await helm(['lint', CHART, '--strict', '--namespace', NAMESPACE, ...values])
    t.equal(result.code, 0, `helm lint --strict ${values.join(' ')}:\n${result.stdout}${result.stderr}`)
    t.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
  }
})

t.test('the chart renders the same objects as kustomize, object by object', { skip }, async (t) => {
  for (const pairing of PAIRINGS) {
    const chart = await helmTemplate(pairing.values)
    const kustomize = parseObjects(await pairing.kustomize())
    t.ok(chart.length >= 5, `${pairing.title}: the chart rendered ${chart.length} objects`)
    const drift = driftBetween(chart, kustomize)
    t.same(drift.map((d) => d.key), [], `${pairing.title}: no object differs or is on one side only`)
    for (const d of drift) t.same(d.chart ?? '(not rendered by the chart)', d.kustomize ?? '(not rendered by kustomize)', `${pairing.title}: ${d.key}`)
  }
})

t.test('a drift on either side is caught', { skip }, async (t) => {
  const kustomize = parseObjects(await kustomizeBuild(join(DEPLOY, 'base')))
  const chartChanged = await helmTemplate(['--set', 'resources.limits.memory=512Mi'])
  t.same(driftBetween(chartChanged, kustomize).map((d) => d.key), [`Deployment ${NAMESPACE}/authservice`], 'a chart value that deploy/ does not have')

  const chart = await helmTemplate()
  const kustomizeChanged = structuredClone(kustomize)
  const configMap = kustomizeChanged.find((object) => object.kind === 'ConfigMap') as Any
  configMap.data.LOG_LEVEL = 'debug'
  t.same(driftBetween(chart, kustomizeChanged).map((d) => d.key), [`ConfigMap ${NAMESPACE}/authservice-parameters`], 'a params.env value the chart lacks')
  t.same(driftBetween(chart, kustomize.filter((object) => object.kind !== 'PodDisruptionBudget')).map((d) => d.key), [`PodDisruptionBudget ${NAMESPACE}/authservice`], 'an object only one side has')
})

t.test('every object of every render validates against its schema; the service accepts every rendered configuration', { skip }, async (t) => {
  const everything = [
    '--set', 'sessionStore.type=redis', '--set', 'redis.deploy=true', '--set', 'kubernetesTokens.enabled=true',
    '--set', 'secret.create=true', '--set', 'secret.clientSecret=x', '--set', 'secret.sessionSecrets=y',
    '--set', 'autoscaling.enabled=false', '--set', 'replicaCount=3',
    '--set', 'extraIssuers[0].issuer=https://token.actions.githubusercontent.com', '--set', 'extraIssuers[0].audience=kubeflow',
    '--set', 'extraIssuers[0].useridClaim=sub', '--set', 'extraIssuers[0].emailDomains=skip',
    '--set', 'extraIssuers[1].issuer=https://login.partner.example',
  ]
  const renders: Array<[string, string[]]> = [
    ['defaults', []],
    ['values-kubeflow-1.8.yaml', preset('values-kubeflow-1.8.yaml')],
    ['values-kubeflow.yaml', preset('values-kubeflow.yaml')],
    ['redis, tokens, a created Secret, replicaCount, an extra issuer', everything],
  ]
  for (const [label, values] of renders) {
    for (const object of await helmTemplate(values)) await t.resolves(validateWithModel(object), `${label}: ${object.kind} ${object.metadata.name}`)
    const lint = await helm(['lint', CHART, '--strict', '--namespace', NAMESPACE, ...values])
    t.equal(lint.code, 0, `${label}: helm lint --strict\n${lint.stdout}${lint.stderr}`)
  }
  const all = await helmTemplate(everything)
  const deployment = all.find((object) => object.kind === 'Deployment' && object.metadata.name === 'authservice') as Any
  t.equal(deployment.spec.replicas, 3, 'replicaCount without the autoscaler')
  t.notOk(all.some((object) => object.kind === 'HorizontalPodAutoscaler'), 'no autoscaler')
  const { env, secretRendered } = podEnv(all)
  t.ok(secretRendered, 'secret.create renders the Secret the pods read')
  t.equal(env.CLIENT_SECRET, 'x')
  t.equal(env.EXTRA_JWT_ISSUERS, 'https://token.actions.githubusercontent.com=kubeflow,https://login.partner.example')
  t.same(JSON.parse(env.EXTRA_JWT_ISSUER_RULES!), { 'https://token.actions.githubusercontent.com': { useridClaim: 'sub', emailDomains: 'skip' } })
  t.equal(env.SESSION_STORE_REDIS_ADDR, 'authservice-redis.istio-system.svc.cluster.local:6379')
  const noFiles = (path: string): string => {
    throw Object.assign(new Error(`no file ${path}`), { code: 'ENOENT' })
  }
  for (const [label, values] of renders) {
    const rendered = podEnv(await helmTemplate(values)).env
    const loaded = loadConfig({ ...rendered, CLIENT_SECRET: 'a-client-secret-of-this-test', SESSION_SECRETS: Buffer.alloc(32, 7).toString('base64') }, noFiles)
    t.ok(loaded.config, `${label}: the service accepts the rendered configuration`)
  }
})

t.test('image: repository:tag (appVersion by default), the digest wins', { skip }, async (t) => {
  const image = async (values: string[]) =>
    ((await helmTemplate(values)).find((object) => object.kind === 'Deployment') as Any).spec.template.spec.containers[0].image as string
  const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string }
  t.equal(await image([]), `ghcr.io/authservice/authservice:${chart.appVersion}`)
  t.equal(await image(['--set', 'image.tag=1.2.3']), 'ghcr.io/authservice/authservice:1.2.3')
  const digest = `sha256:${'ab'.repeat(32)}`
  t.equal(await image(['--set', 'image.tag=1.2.3', '--set', `image.digest=${digest}`]), `ghcr.io/authservice/authservice@${digest}`)
})

t.test('the ServiceMonitor / PodMonitor scrape /metrics on the port of READINESS_PROBE_PORT', { skip }, async (t) => {
  const objects = await helmTemplate(['--set', 'serviceMonitor.enabled=true', '--set', 'podMonitor.enabled=true', '--set-string', 'config.READINESS_PROBE_PORT=9100'])
  const monitor = objects.find((object) => object.kind === 'ServiceMonitor') as Any
  const service = objects.find((object) => object.kind === 'Service') as Any
  const container = (objects.find((object) => object.kind === 'Deployment') as Any).spec.template.spec.containers[0]
  t.equal(monitor.apiVersion, 'monitoring.coreos.com/v1')
  t.match(monitor.spec.endpoints, [{ port: 'http-ops', path: '/metrics' }])
  t.match(service.metadata.labels, monitor.spec.selector.matchLabels, 'it selects the Service')
  t.same(monitor.spec.namespaceSelector, { matchNames: [NAMESPACE] })
  t.match(service.spec.ports.find((port: Any) => port.name === 'http-ops'), { port: 9100, targetPort: 'http-ops' })
  t.match(container.ports.find((port: Any) => port.name === 'http-ops'), { containerPort: 9100 })
  t.equal(container.readinessProbe.httpGet.port, 'http-ops')
  t.equal(podEnv(objects).env.READINESS_PROBE_PORT, '9100')
  const podMonitor = objects.find((object) => object.kind === 'PodMonitor') as Any
  t.match(podMonitor.spec.podMetricsEndpoints, [{ port: 'http-ops', path: '/metrics' }])
  const deployment = objects.find((object) => object.kind === 'Deployment') as Any
  t.match(deployment.spec.template.metadata.labels, podMonitor.spec.selector.matchLabels, 'it selects the pods')
  t.notOk((await helmTemplate()).some((object) => /Monitor$/.test(object.kind)), 'off by default (they need the Prometheus Operator)')
})

t.test('values.schema.json refuses a wrong value at install time, naming it', { skip }, async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--set', 'kubeflow.wiring=1.7'], /kubeflow\.wiring|\/kubeflow\/wiring/],
    [['--set', 'autoscaling.enabled=maybe'], /autoscaling\.enabled|\/autoscaling\/enabled/],
    [['--set', 'sessionStore.type=memcached'], /sessionStore\.type|\/sessionStore\/type/],
    [['--set', 'image.digest=latest'], /image\.digest|\/image\/digest/],
    [['--set', 'replicaCount=many'], /replicaCount/],
    [['--set', 'config.LOG_LEVEL=3'], /config\.LOG_LEVEL|\/config\/LOG_LEVEL/],
    [['--set', 'kubeflow.extAuthz.timeout=soon'], /kubeflow\.extAuthz\.timeout|\/kubeflow\/extAuthz\/timeout/],
    [['--set', 'extraIssuers[0].emailDomains=some'], /extraIssuers/],
    [['--set', 'serviceMonitr.enabled=true'], /serviceMonitr/],
    [['--set', 'config.KUBERNETES_TOKENS=true'], /set kubernetesTokens\.enabled instead/],
  ]
  for (const [values, names] of cases) {
    const result = await helm(['template', 'authservice', CHART, '--namespace', NAMESPACE, ...values])
    t.not(result.code, 0, `${values.join(' ')} is refused`)
    t.match(result.stderr, /schema/i, `${values.join(' ')}: by values.schema.json`)
    t.match(result.stderr, names, `${values.join(' ')}: the message names the value`)
  }
  const unquoted = mkdtempSync(join(tmpdir(), 'authservice-helm-'))
  t.teardown(() => rmSync(unquoted, { recursive: true, force: true }))
  writeFileSync(join(unquoted, 'values.yaml'), 'kubeflow:\n  wiring: 1.9\n')
  const number = await helm(['template', 'authservice', CHART, '--values', join(unquoted, 'values.yaml')])
  t.not(number.code, 0, 'an unquoted 1.9 in a values file (a YAML number) is refused, not read as none')
  t.match(number.stderr, /kubeflow\/wiring|kubeflow\.wiring/)
  const redisWithoutAddress = await helm(['template', 'authservice', CHART, '--set', 'sessionStore.type=redis'])
  t.not(redisWithoutAddress.code, 0)
  t.match(redisWithoutAddress.stderr, /redis\.address/, 'redis without an address or the in-cluster Redis is refused')
})

/** The `extensionProviders:` block NOTES.txt prints, as YAML. */
async function notedExtensionProviders(values: string[]): Promise<Array<{ name: string; envoyExtAuthzHttp?: EnvoyExtAuthzHttpProvider }>> {
  const notes = await helmNotes(values)
  const block = /^extensionProviders:\n(?:[ -].*\n)+/m.exec(notes)
  if (!block) throw new Error(`NOTES.txt prints no extensionProviders block:\n${notes}`)
  return (parseYaml(block[0]) as { extensionProviders: Array<{ name: string; envoyExtAuthzHttp?: EnvoyExtAuthzHttpProvider }> }).extensionProviders
}

t.test('NOTES.txt says how to check the install and, for >= 1.9, prints mesh.yaml\'s extension providers', { skip: skipUnlessPeers('helm') }, async (t) => {
  const mesh = parseYaml(readFileSync(join(DEPLOY, 'components', 'istio-ext-authz', 'mesh-config', 'mesh.yaml'), 'utf8')) as { extensionProviders: unknown[] }
  t.same(await notedExtensionProviders(preset('values-kubeflow.yaml')), mesh.extensionProviders, 'the entries to add to istio-system/istio')
  t.same(await notedExtensionProviders([]), mesh.extensionProviders, 'without a wiring too (the first step of a staged install)')
  const defaults = await helmNotes()
  t.match(defaults, /rollout status deployment\/authservice/)
  t.match(defaults, /\/readyz/)
  const legacy = await helmNotes(preset('values-kubeflow-1.8.yaml'))
  t.match(legacy, /EnvoyFilter istio-system\/authn-filter/)
  t.notMatch(legacy, /extensionProviders/, 'Kubeflow 1.8 needs no mesh entry')
})

t.test('values-kubeflow-1.8.yaml: the rendered EnvoyFilter, verbatim, through real Envoy', { skip: skipUnlessPeers('helm', 'dex', 'envoy') }, async (t) => {
  const objects = await helmTemplate(preset('values-kubeflow-1.8.yaml'))
  await runWiringThroughEnvoy(t, { objects, filter: extAuthzFilterFromEnvoyFilter(objects, { cluster: 'authservice' }), signOut: 'logout' })
})

t.test('values-kubeflow.yaml: the extension provider NOTES.txt prints, as istiod translates it, through real Envoy', { skip: skipUnlessPeers('helm', 'dex', 'envoy') }, async (t) => {
  const objects = await helmTemplate(preset('values-kubeflow.yaml'))
  const policy = objects.find((object) => object.kind === 'AuthorizationPolicy') as Any
  const provider = (await notedExtensionProviders(preset('values-kubeflow.yaml'))).find((entry) => entry.name === policy.spec.provider.name)?.envoyExtAuthzHttp
  if (!provider) throw new Error(`NOTES.txt prints no envoyExtAuthzHttp provider named ${policy.spec.provider.name}`)
  await runWiringThroughEnvoy(t, { objects, filter: extAuthzFilterFromExtensionProvider(provider, { cluster: 'authservice' }), signOut: 'sign_out' })
})
