// deploy/ rendered by the real kustomize: every overlay, base alone and base + each component build;
// every rendered object validates against its Kubernetes / Istio schema (model `.validate()` and a
// strict type check that rejects unknown fields); and what the manifests promise — restricted
// security, probes on the ops port, zero-downtime rollouts, the wiring's names and settings, a
// configuration the service accepts, Dex settings that match — holds in what kustomize renders.
import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { describeVariables } from '../../src/config/schema.js'
import { extAuthzFilterFromEnvoyFilter, httpExtAuthzFilter } from '../helpers/envoy.js'
import { peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'
import {
  DEPLOY,
  REPO,
  kustomizationsUnder,
  kustomizeBuild,
  kustomizeBuildOf,
  parseObjects,
  podEnv,
  typecheckObjects,
  validateWithModel,
  type KubeObject,
} from './kustomize.js'

const skip = skipUnlessPeers('kustomize')
const NAMESPACE = 'istio-system'
const OVERLAYS = ['dev', 'kubeflow', 'kubeflow-legacy']
const COMPONENTS = ['dex-jwt', 'istio-envoyfilter', 'istio-ext-authz', 'kubeflow-replace-oauth2-proxy', 'kubernetes-tokens', 'monitoring', 'monitoring-podmonitor', 'redis']
/** Built into Kubeflow-shaped install trees instead (kubeflow-install.test.ts): it patches Kubeflow's objects. */
const KUBEFLOW_ONLY = ['kubeflow-replace-oauth2-proxy']
/** Objects without a namespace. */
const CLUSTER_SCOPED = ['ClusterRole', 'ClusterRoleBinding']
const MESH_CONFIG = join(DEPLOY, 'components', 'istio-ext-authz', 'mesh-config')

const rendered = new Map<string, KubeObject[]>()
/** Objects of one build target: `overlays/<name>`, `base`, or `base+<component>` (cached). */
async function objectsOf(target: string): Promise<KubeObject[]> {
  const cached = rendered.get(target)
  if (cached) return cached
  const [first, component] = target.split('+')
  const text = component
    ? await kustomizeBuildOf({ resources: [join(DEPLOY, first!)], components: [join(DEPLOY, 'components', component)] })
    : await kustomizeBuild(join(DEPLOY, target))
  const objects = parseObjects(text)
  rendered.set(target, objects)
  return objects
}

function one<T extends KubeObject = KubeObject>(objects: KubeObject[], kind: string, name?: string): T {
  const found = objects.filter((object) => object.kind === kind && (name === undefined || object.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`)
  return found[0] as T
}

const none = (objects: KubeObject[], kind: string) => objects.filter((object) => object.kind === kind).length === 0

// Loose views of the rendered objects (the models' own types are checked by typecheckObjects).
type Any = any

t.test('kustomize is the version test/kustomize/go.mod pins', { skip }, async (t) => {
  const pinned = /sigs\.k8s\.io\/kustomize\/kustomize\/v5 (v\S+)/.exec(readFileSync(join(REPO, 'test', 'kustomize', 'go.mod'), 'utf8'))?.[1]
  t.ok(pinned, 'go.mod requires sigs.k8s.io/kustomize/kustomize/v5')
  t.equal(peerVersion('kustomize'), pinned)
})

t.test('every overlay, base, and base + each component build; every object validates against its schema', { skip }, async (t) => {
  t.same(kustomizationsUnder('overlays'), OVERLAYS, 'the overlays this test knows are the ones in deploy/overlays')
  t.same(kustomizationsUnder('components'), COMPONENTS, 'the components this test knows are the ones in deploy/components')
  const targets = [
    'base',
    ...COMPONENTS.filter((component) => !KUBEFLOW_ONLY.includes(component)).map((component) => `base+${component}`),
    ...OVERLAYS.map((overlay) => `overlays/${overlay}`),
  ]
  const all: Array<{ label: string; object: KubeObject }> = []
  for (const target of targets) {
    const objects = await objectsOf(target)
    t.ok(objects.length > 0, `${target}: kustomize build renders objects`)
    for (const object of objects) {
      const what = `${target}: ${object.kind} ${object.metadata.name}`
      await t.resolves(validateWithModel(object), `${what} validates`)
      t.equal(object.metadata.namespace, CLUSTER_SCOPED.includes(object.kind) ? undefined : NAMESPACE, `${what} is in ${NAMESPACE} (or cluster-scoped)`)
      // `kubectl apply -l app.kubernetes.io/part-of=authservice` installs all of it (README).
      t.equal(object.metadata.labels?.['app.kubernetes.io/part-of'], 'authservice', `${what} is labelled part-of authservice`)
      all.push({ label: target, object })
    }
    const deployment: Any = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'authservice')
    if (objects.some((object) => object.kind === 'HorizontalPodAutoscaler')) {
      t.equal(deployment.spec.replicas, undefined, `${target}: no replicas, the HorizontalPodAutoscaler owns the count`)
    }
  }
  t.equal(await typecheckObjects(all), '', 'no rendered object has a field its schema does not know')
})

t.test('a kind without a model, or a wrong field type, fails validation', async (t) => {
  const metadata = { name: 'x' }
  await t.rejects(validateWithModel({ apiVersion: 'example.com/v1', kind: 'Widget', metadata }), /unknown apiVersion|unknown kind/)
  await t.rejects(validateWithModel({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFiltr', metadata }), /unknown kind/)
  await t.rejects(
    validateWithModel({ apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec: { replicas: 'two', selector: {}, template: {} } }),
    /replicas/,
  )
  const complaints = await typecheckObjects([
    { label: 'typo', object: { apiVersion: 'v1', kind: 'Service', metadata, spec: { publishNotReadyAdresses: true } } },
  ])
  t.match(complaints, /publishNotReadyAdresses/, 'a misspelled field is reported')
})

t.test('base: restricted, probed on the ops port, never below one checker', { skip }, async (t) => {
  const objects = await objectsOf('base')
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }
  t.ok(none(objects, 'Secret'), 'base renders no Secret: authservice-secrets is referenced by name only')

  const deployment: Any = one(objects, 'Deployment', 'authservice')
  const spec = deployment.spec
  const pod = spec.template.spec
  const container = pod.containers[0]
  t.equal(spec.replicas, undefined, 'no replicas: the HorizontalPodAutoscaler owns the count')
  t.same(spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } })
  t.same(
    pod.topologySpreadConstraints.map((constraint: Any) => constraint.topologyKey),
    ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'],
    'spread across nodes and zones',
  )
  for (const constraint of pod.topologySpreadConstraints) t.same(constraint.labelSelector.matchLabels, spec.selector.matchLabels)
  t.same(spec.template.metadata.labels, { ...spec.template.metadata.labels, ...spec.selector.matchLabels }, 'the pods carry the selector labels')
  t.equal(container.image, `ghcr.io/authservice/authservice:${pkg.version}`, 'the image tag is the package version')

  // Security: the restricted Pod Security Standard, numeric non-root user of the image.
  t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } })
  t.match(container.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  })
  t.notOk(container.securityContext.capabilities.add, 'no capability added')
  t.notOk(pod.hostNetwork || pod.hostPID || pod.hostIPC, 'no host namespaces')

  // Probes on the ops port (READINESS_PROBE_PORT), never on the check port.
  const { env } = podEnv(objects)
  const portNumber = (port: string | number) =>
    typeof port === 'number' ? port : container.ports.find((candidate: Any) => candidate.name === port).containerPort
  t.equal(portNumber(container.livenessProbe.httpGet.port), Number(env.READINESS_PROBE_PORT))
  t.equal(container.livenessProbe.httpGet.path, '/healthz')
  t.equal(portNumber(container.readinessProbe.httpGet.port), Number(env.READINESS_PROBE_PORT))
  t.equal(container.readinessProbe.httpGet.path, '/readyz')
  t.equal(portNumber('http-api'), Number(env.SERVER_PORT), 'the check port is SERVER_PORT')

  // Shutdown: preStop keeps the pod answering while endpoints drain, within the grace period.
  const preStop = container.lifecycle.preStop.exec.command as string[]
  const waitMs = Number(/setTimeout\([^,]+,\s*(\d+)\)/.exec(preStop.join(' '))?.[1])
  t.ok(waitMs >= 3000, `preStop waits (${waitMs} ms)`)
  t.ok(pod.terminationGracePeriodSeconds * 1000 >= waitMs + 10_000, 'the grace period leaves time to drain after preStop')

  t.same(container.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } })
  t.same(
    container.envFrom.map((source: Any) => source.secretRef?.name ?? source.configMapRef?.name.replace(/-[a-z0-9]{10}$/, '')),
    ['authservice-parameters', 'authservice-secrets'],
    'env from the generated ConfigMap and the Secret authservice-secrets',
  )

  const service: Any = one(objects, 'Service', 'authservice')
  t.same(service.spec.selector, spec.selector.matchLabels, 'the Service selects the Deployment pods')
  t.same(
    service.spec.ports.map((port: Any) => [port.name, port.port, portNumber(port.targetPort)]),
    [['http-authservice', 8080, 8080], ['http-ops', 8081, 8081], ['grpc-authservice', 9090, 9090]],
  )
  t.notOk(service.spec.publishNotReadyAddresses, 'base leaves publishNotReadyAddresses to the Istio wirings')

  const pdb: Any = one(objects, 'PodDisruptionBudget', 'authservice')
  t.equal(pdb.spec.minAvailable, 1)
  t.same(pdb.spec.selector.matchLabels, spec.selector.matchLabels)
  const hpa: Any = one(objects, 'HorizontalPodAutoscaler', 'authservice')
  t.equal(hpa.apiVersion, 'autoscaling/v2')
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'authservice' })
  t.ok(hpa.spec.minReplicas >= 2, 'the autoscaler never goes below two replicas')
  t.match(hpa.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu' } }])

  const policy: Any = one(objects, 'NetworkPolicy', 'authservice')
  t.same(policy.spec.podSelector.matchLabels, spec.selector.matchLabels)
  t.same(policy.spec.policyTypes, ['Ingress', 'Egress'])
  const [gateway, prometheus] = policy.spec.ingress
  t.same(gateway.from, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } }, podSelector: { matchLabels: { istio: 'ingressgateway' } } },
  ])
  t.ok(gateway.ports.some((port: Any) => port.port === 8080), 'the gateway reaches the check port')
  t.notOk(gateway.ports.some((port: Any) => port.port === 8081), 'the gateway does not reach the ops port')
  t.same(prometheus.ports, [{ port: 8081, protocol: 'TCP' }], 'Prometheus reaches the ops port only')
  const egress = policy.spec.egress.map((rule: Any) => rule.ports.map((port: Any) => `${port.port}/${port.protocol}`).join(','))
  t.same(egress, ['53/UDP,53/TCP', '5556/TCP', '6379/TCP'], 'egress: DNS, Dex, Redis')
  t.same(policy.spec.egress[1].to[0].namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': 'auth' }, 'Dex in namespace auth')
  const redis: Any = one(await objectsOf('base+redis'), 'Deployment', 'authservice-redis')
  t.same(policy.spec.egress[2].to[0].podSelector.matchLabels, redis.spec.selector.matchLabels, 'the Redis rule selects the Redis pods')
})

t.test('each overlay renders a configuration the service accepts', { skip }, async (t) => {
  const known = new Set(describeVariables().map((variable) => variable.name))
  const expected: Record<string, Record<string, string>> = {
    // oidc-authservice always accepted service-account tokens, legacy ones included.
    'kubeflow-legacy': { AUTHSERVICE_URL_PREFIX: '/authservice/', SKIP_AUTH_URLS: '/dex', USERID_HEADER: 'kubeflow-userid', KUBERNETES_TOKENS: 'true', KUBERNETES_LEGACY_TOKENS: 'true' },
    // >= 1.9: service-account tokens only with components/kubernetes-tokens (the operator's choice).
    // >= 1.9 also speaks oauth2-proxy's dialect: X-Auth-Request-* upstream and its cookie name.
    kubeflow: { AUTHSERVICE_URL_PREFIX: '/oauth2/', REDIRECT_URL: '/oauth2/callback', SET_AUTHORIZATION_HEADER: 'true', SET_XAUTHREQUEST: 'true', SESSION_COOKIE_NAME: 'oauth2_proxy_kubeflow', SKIP_AUTH_URLS: '/dex', KUBERNETES_TOKENS: 'false' },
    dev: { SECURE_COOKIES: 'false', KUBERNETES_TOKENS: 'false' },
    'kubeflow+kubernetes-tokens': { AUTHSERVICE_URL_PREFIX: '/oauth2/', KUBERNETES_TOKENS: 'true' },
  }
  for (const target of [...OVERLAYS.map((overlay) => `overlays/${overlay}`), 'base+redis', 'overlays/kubeflow+kubernetes-tokens']) {
    const objects = await objectsOf(target)
    const { env, secretRendered } = podEnv(objects)
    const unknown = Object.keys(env).filter((name) => !known.has(name))
    t.same(unknown, [], `${target}: every variable is one the service knows`)
    t.match(env, expected[target.replace('overlays/', '')] ?? {}, `${target}: the wiring's values`)
    t.match(env, { OIDC_PROVIDER: 'http://dex.auth.svc.cluster.local:5556/dex', CLIENT_ID: 'kubeflow-oidc-authservice', OIDC_AUTH_URL: '/dex/auth' })
    // The Secret is the operator's (README: both keys) in every overlay: stand in for it.
    t.notOk(secretRendered, `${target}: renders no Secret`)
    const operatorSecret = { CLIENT_SECRET: 'operator-provided', SESSION_SECRETS: Buffer.alloc(32, 7).toString('base64') }
    const loaded = loadConfig({ ...env, ...operatorSecret }, () => {
      throw new Error('no *_FILE variables in the manifests')
    })
    t.ok(loaded.config, `${target}: loadConfig accepts it`)
    const unexpected = loaded.warnings.filter((warning) => !/http:\/\//.test(warning) && !/OIDC_PROVIDER/.test(warning))
    t.same(unexpected, [], `${target}: no warning beyond the in-cluster http issuer`)
  }
})

t.test('the Redis component points the sessions at its own Service', { skip }, async (t) => {
  const objects = await objectsOf('base+redis')
  const { env } = podEnv(objects)
  const service: Any = one(objects, 'Service', 'authservice-redis')
  t.equal(env.SESSION_STORE_TYPE, 'redis')
  t.equal(env.SESSION_STORE_REDIS_ADDR, `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}`)
  const redis: Any = one(objects, 'Deployment', 'authservice-redis')
  const pod = redis.spec.template.spec
  t.same(service.spec.selector, redis.spec.selector.matchLabels)
  t.match(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } })
  t.match(pod.containers[0].securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
  t.ok(pod.volumes.every((volume: Any) => volume.emptyDir), 'no persistent volume')
  t.ok(pod.containers[0].args.includes('--save'), 'RDB snapshots are off')
  const policy: Any = one(objects, 'NetworkPolicy', 'authservice-redis')
  const authservice: Any = one(objects, 'Deployment', 'authservice')
  t.same(policy.spec.ingress[0].from[0].podSelector.matchLabels, authservice.spec.selector.matchLabels, 'only authservice reaches Redis')
})

t.test('kubeflow-legacy: the EnvoyFilter replaces oidc-authservice and matches what the gateway runs', { skip }, async (t) => {
  const objects = await objectsOf('overlays/kubeflow-legacy')
  const filter: Any = one(objects, 'EnvoyFilter')
  t.equal(filter.metadata.name, 'authn-filter', "oidc-authservice's name: applying replaces it")
  t.equal(filter.metadata.namespace, 'istio-system')
  t.same(filter.spec.workloadSelector, { labels: { istio: 'ingressgateway' } })
  t.equal(filter.spec.configPatches.length, 1)
  const [patch] = filter.spec.configPatches
  t.equal(patch.applyTo, 'HTTP_FILTER')
  t.equal(patch.match.context, 'GATEWAY')
  t.equal(
    patch.match.listener.filterChain.filter.name,
    'envoy.filters.network.http_connection_manager',
    'the canonical name (envoy.http_connection_manager matches nothing since Istio 1.19: auth bypassed)',
  )
  t.equal(patch.match.listener.filterChain.filter.subFilter.name, 'envoy.filters.http.router')
  t.equal(patch.patch.operation, 'INSERT_BEFORE')

  const service: Any = one(objects, 'Service', 'authservice')
  const host = `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`
  const checkPort = service.spec.ports.find((port: Any) => port.name === 'http-authservice').port
  const typed = patch.patch.value.typed_config
  // The Service and the EnvoyFilter move the gateway: the README applies them last.
  t.same([filter.metadata.labels['authservice-step'], service.metadata.labels['authservice-step']], ['switch', 'switch'])

  // oidc-authservice's names (Kubeflow 1.8): kubeflow-install.test.ts checks them against 1.8's objects.
  const deployment: Any = one(objects, 'Deployment', 'authservice')
  t.equal(one(objects, 'ConfigMap').metadata.name, 'oidc-authservice-parameters', "Kubeflow 1.8's ConfigMap name, no hash suffix")
  t.equal(deployment.spec.template.metadata.labels.app, 'authservice', "the pods also carry oidc-authservice's label")
  t.same(service.spec.selector, deployment.spec.selector.matchLabels, 'the Service selects by the app.kubernetes.io keys only')
  t.same(one(objects, 'ClusterRoleBinding').metadata.name, 'authservice-tokenreview', 'TokenReview RBAC of its own (components/kubernetes-tokens)')
  t.equal(typed.http_service.server_uri.cluster, `outbound|${checkPort}||${host}`, 'the cluster Istio builds for the rendered Service')
  t.equal(typed.http_service.server_uri.uri, `http://${host}`)
  t.equal(typed.failure_mode_allow, false)
  t.ok(Number.parseFloat(typed.http_service.server_uri.timeout) <= 10, `an explicit timeout (${typed.http_service.server_uri.timeout})`)
  t.equal(service.spec.publishNotReadyAddresses, true, '/dex keeps flowing before the provider was ever reached')

  t.same(
    extAuthzFilterFromEnvoyFilter(objects, { cluster: 'authservice' }),
    httpExtAuthzFilter('authservice', typed.http_service.server_uri.timeout),
    'the shipped filter is the one test/helpers/envoy.ts runs every integration test with',
  )
  const swapped: Any = extAuthzFilterFromEnvoyFilter(objects, { cluster: 'loopback' })
  const restored = structuredClone(swapped)
  restored.typed_config.http_service.server_uri.cluster = typed.http_service.server_uri.cluster
  restored.typed_config.http_service.server_uri.uri = typed.http_service.server_uri.uri
  t.same(restored, patch.patch.value, 'extAuthzFilterFromEnvoyFilter changes the cluster and uri only')
})

t.test('kubeflow: CUSTOM for every request through the provider mesh-config defines, Dex JWTs mapped', { skip }, async (t) => {
  const objects = await objectsOf('overlays/kubeflow')
  const mesh = parseYaml(readFileSync(join(MESH_CONFIG, 'mesh.yaml'), 'utf8')) as Any
  const policy: Any = one(objects, 'AuthorizationPolicy')
  t.equal(policy.metadata.namespace, 'istio-system')
  t.equal(policy.spec.action, 'CUSTOM')
  t.same(policy.spec.selector, { matchLabels: { istio: 'ingressgateway' } })
  t.same(policy.spec.rules, [{}], 'one empty rule: every request, with or without authorization, on every path')
  const provider = mesh.extensionProviders.find((entry: Any) => entry.name === policy.spec.provider.name)
  t.ok(provider?.envoyExtAuthzHttp, `the policy's provider (${policy.spec.provider.name}) is an HTTP provider of mesh.yaml`)

  const service: Any = one(objects, 'Service', 'authservice')
  const host = `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`
  const portOf = (name: string) => service.spec.ports.find((port: Any) => port.name === name).port
  t.equal(provider.envoyExtAuthzHttp.service, host, 'the provider names the rendered Service')
  t.equal(provider.envoyExtAuthzHttp.port, portOf('http-authservice'))
  t.equal(provider.envoyExtAuthzHttp.failOpen, false)
  t.ok(Number.parseFloat(provider.envoyExtAuthzHttp.timeout) <= 10, 'an explicit timeout, below Istio 600s default')
  const grpc = mesh.extensionProviders.find((entry: Any) => entry.envoyExtAuthzGrpc)
  t.equal(grpc.name, 'authservice-grpc')
  t.same([grpc.envoyExtAuthzGrpc.service, grpc.envoyExtAuthzGrpc.port], [host, portOf('grpc-authservice')], 'gRPC mode names the gRPC port')
  t.equal(service.spec.publishNotReadyAddresses, true)

  const { env } = podEnv(objects)
  const jwt: Any = one(objects, 'RequestAuthentication', 'dex-jwt')
  t.same(jwt.spec.selector, { matchLabels: { istio: 'ingressgateway' } })
  t.equal(jwt.spec.jwtRules.length, 1)
  const [rule] = jwt.spec.jwtRules
  t.equal(rule.issuer, env.OIDC_PROVIDER, 'the issuer authservice verifies')
  t.equal(rule.forwardOriginalToken, true, 'the token still reaches the apps')
  t.same(rule.outputClaimToHeaders, [
    { header: env.USERID_HEADER, claim: env.USERID_CLAIM },
    { header: env.GROUPS_HEADER, claim: env.GROUPS_CLAIM },
  ])
  t.equal(env.SET_AUTHORIZATION_HEADER, 'true', 'authservice forwards the Dex ID token that RequestAuthentication checks')
  t.ok(provider.envoyExtAuthzHttp.headersToUpstreamOnAllow.includes('authorization'), 'and Istio lets it through')
  t.equal(env.SET_XAUTHREQUEST, 'true', 'oauth2-proxy\'s X-Auth-Request-* headers, as Kubeflow\'s oauth2-proxy sets them')
  for (const header of ['x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups']) {
    t.ok(provider.envoyExtAuthzHttp.headersToUpstreamOnAllow.includes(header), `Istio lets ${header} through`)
  }
})

t.test('mesh-config: every copy carries the providers of mesh.yaml, and the Component patches Istio', { skip }, async (t) => {
  const mesh = parseYaml(readFileSync(join(MESH_CONFIG, 'mesh.yaml'), 'utf8')) as Any
  const read = (name: string) => parseYaml(readFileSync(join(MESH_CONFIG, name), 'utf8')) as Any
  const operator = read('istiooperator.yaml')
  t.same(operator.spec.meshConfig.extensionProviders, mesh.extensionProviders, 'istiooperator.yaml')
  t.same(read('helm-values.yaml').meshConfig.extensionProviders, mesh.extensionProviders, 'helm-values.yaml')
  const patch = read('istio-configmap.yaml')
  t.same(parseYaml(patch.data.mesh).extensionProviders, mesh.extensionProviders, 'istio-configmap.yaml')

  // Applied to a stand-in of Istio's install (ConfigMap istio with meshNetworks), as a Component.
  const fixture = [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata: {name: istio, namespace: istio-system}',
    'data:',
    '  mesh: "rootNamespace: istio-system"',
    '  meshNetworks: "networks: {}"',
  ].join('\n')
  const objects = parseObjects(await kustomizeBuildOf({ resources: ['istio.yaml'], components: [MESH_CONFIG] }, { 'istio.yaml': fixture }))
  const configMap: Any = one(objects, 'ConfigMap', 'istio')
  t.same(parseYaml(configMap.data.mesh).extensionProviders, mesh.extensionProviders, 'the patched mesh has the providers')
  t.equal(configMap.data.meshNetworks, 'networks: {}', 'the other keys of the ConfigMap stay')
  for (const object of [...objects, operator]) await t.resolves(validateWithModel(object), `${object.kind} validates`)

  // The IstioOperator model leaves meshConfig untyped: check the provider fields against Istio's
  // mesh config API (istio.mesh.v1alpha1 ExtensionProvider) here. The HTTP provider's fields are
  // also checked by extAuthzFilterFromExtensionProvider (envoyfilter-through-envoy.test.ts).
  const fields: Record<string, string[]> = {
    envoyExtAuthzHttp: [
      'service', 'port', 'timeout', 'pathPrefix', 'failOpen', 'clearRouteCache', 'statusOnError', 'includeRequestHeadersInCheck',
      'includeAdditionalHeadersInCheck', 'includeRequestBodyInCheck', 'headersToUpstreamOnAllow', 'headersToDownstreamOnDeny',
      'headersToDownstreamOnAllow',
    ],
    envoyExtAuthzGrpc: ['service', 'port', 'timeout', 'failOpen', 'clearRouteCache', 'statusOnError', 'includeRequestBodyInCheck'],
  }
  for (const entry of mesh.extensionProviders) {
    const [kind, ...others] = Object.keys(entry).filter((key) => key !== 'name')
    t.same(others, [], `${entry.name}: one provider kind`)
    t.ok(fields[kind!], `${entry.name}: ${kind} is an ext_authz provider kind`)
    t.same(Object.keys(entry[kind!]).filter((field) => !fields[kind!]!.includes(field)), [], `${entry.name}: only known ${kind} fields`)
  }
})

// Issue 15, finding 3: the dev overlay generated a fixed session key, so anyone could forge an admin
// session on a cluster that applied it. Now it generates no Secret at all, like every overlay.
t.test('dev: one replica, no autoscaler or budget, and the Secret is the operator\'s', { skip }, async (t) => {
  const objects = await objectsOf('overlays/dev')
  const deployment: Any = one(objects, 'Deployment', 'authservice')
  t.equal(deployment.spec.replicas, 1)
  t.ok(none(objects, 'HorizontalPodAutoscaler'), 'no HorizontalPodAutoscaler')
  t.ok(none(objects, 'PodDisruptionBudget'), 'no PodDisruptionBudget (it would block node drains with one replica)')
  t.ok(none(objects, 'Secret'), 'no generated Secret')
  const ref = deployment.spec.template.spec.containers[0].envFrom.find((source: Any) => source.secretRef).secretRef.name
  t.equal(ref, 'authservice-secrets', 'the Deployment reads the Secret the README has you create')
})

t.test('no literal secret anywhere in deploy/', async (t) => {
  const files: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else files.push(path)
    }
  }
  walk(DEPLOY)
  for (const file of files) {
    const where = relative(DEPLOY, file)
    const text = readFileSync(file, 'utf8')
    t.notMatch(text, /secretGenerator|kind:\s*Secret\b|stringData:/, `${where}: generates no Secret`)
    t.notMatch(text, /^\s*-?\s*(CLIENT_SECRET|SESSION_SECRETS|SESSION_STORE_REDIS_PWD)=/m, `${where}: sets no secret value`)
  }
})

t.test('the Dex settings match the overlays', { skip }, async (t) => {
  const dex = parseYaml(readFileSync(join(DEPLOY, 'dex', 'dex-config.yaml'), 'utf8')) as Any
  const legacy = podEnv(await objectsOf('overlays/kubeflow-legacy')).env
  const current = podEnv(await objectsOf('overlays/kubeflow')).env
  const client = dex.staticClients.find((candidate: Any) => candidate.id === legacy.CLIENT_ID)
  t.ok(client, 'the Dex client is the one CLIENT_ID names')
  t.equal(legacy.REDIRECT_URL, undefined, 'kubeflow-legacy uses the default redirect: <prefix>oidc/callback')
  t.ok(client.redirectURIs.includes(`${legacy.AUTHSERVICE_URL_PREFIX}oidc/callback`), 'the legacy callback is registered')
  t.ok(client.redirectURIs.includes(current.REDIRECT_URL), "kubeflow's REDIRECT_URL is registered")
  t.equal(current.CLIENT_ID, legacy.CLIENT_ID)
  t.equal(dex.expiry.refreshTokens.reuseInterval, '3s')
})
