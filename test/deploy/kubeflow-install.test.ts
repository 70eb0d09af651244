// authservice inside Kubeflow's own kustomization, built with the real kustomize on install trees
// shaped like kubeflow/manifests (test/fixtures/kubeflow/<release>: same kinds, names, namespaces
// and patch targets, minimal content of our own):
//  - Kubeflow >= 1.9 (v1.9.1, v1.10.0, 26.03, master): components/kubeflow-replace-oauth2-proxy
//    added LAST to a copy of example/kustomization.yaml, with Kubeflow's m2m-dex-only (its default)
//    and m2m-dex-and-kind overlays. What the build leaves is read the way Istio and the network
//    plugin would (./cluster-policy.ts): the CUSTOM policy names our provider, which the mesh
//    config defines; every request reaches the check (bearer, /oauth2/callback, /dex); our pods
//    reach Dex; Kubeflow's dex-jwt, m2m and require-jwt objects are untouched. Each problem the
//    checks name is provoked once (a mutated build), so a check that cannot fail fails the test;
//  - Kubeflow 1.8 (v1.8.1): overlays/kubeflow-legacy in place of oidc-authservice: what replaces
//    what, what the README's cleanup deletes, and the values 1.8's own ConfigMap and Secret give;
//  - the README's order of steps, install and rollback, replayed object by object: the gateway
//    never names a provider or a Service that is missing or not ready, old and new pods never
//    serve side by side.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import {
  authorizationPoliciesFor,
  authorizationPolicyMatches,
  connectionAllowed,
  labelQueryMatches,
  podOf,
  selectorMatches,
  type GatewayRequest,
  type Pod,
} from './cluster-policy.js'
import {
  DEPLOY,
  KUBEFLOW_FIXTURES,
  REPO,
  kustomizeBuild,
  kustomizeBuildKubeflow,
  parseObjects,
  podEnv,
  typecheckObjects,
  validateWithModel,
  type KubeflowEdit,
  type KubeObject,
} from './kustomize.js'

const skip = skipUnlessPeers('kustomize')

// Loose views of rendered objects (their schema is checked by validateWithModel / typecheckObjects).
type Any = any

const RELEASES = ['v1.9.1', 'v1.10.0', '26.03', 'master']
const COMPONENT = join(DEPLOY, 'components', 'kubeflow-replace-oauth2-proxy')
const TOKENS = join(DEPLOY, 'components', 'kubernetes-tokens')
const KIND: KubeflowEdit = { replaceResource: { containing: '/oauth2-proxy/overlays/', by: '../common/oauth2-proxy/overlays/m2m-dex-and-kind' } }
const README = readFileSync(join(REPO, 'README.md'), 'utf8')
const MESH_PROVIDERS = (parseYaml(readFileSync(join(DEPLOY, 'components', 'istio-ext-authz', 'mesh-config', 'mesh.yaml'), 'utf8')) as Any)
  .extensionProviders as Any[]

/** Whether one of `problems` matches. */
const found = (problems: string[], expected: RegExp) => problems.some((problem) => expected.test(problem))
const idOf = (object: KubeObject) => `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`
const find = (objects: KubeObject[], id: string): Any => objects.find((object) => idOf(object) === id)
const ofProvider = (policy: Any): string | undefined => policy.spec?.provider?.name

const built = new Map<string, KubeObject[]>()
/** The objects of a Kubeflow fixture build (cached by release and edit). */
async function kubeflow(release: string, edit: KubeflowEdit = {}): Promise<KubeObject[]> {
  const key = `${release} ${JSON.stringify(edit)}`
  if (!built.has(key)) built.set(key, parseObjects(await kustomizeBuildKubeflow(release, edit)))
  return built.get(key)!
}
const withComponents = (edit: KubeflowEdit, ...components: string[]): KubeflowEdit => ({ ...edit, components: [...(edit.components ?? []), ...components] })

/** The Kubeflow objects the component patches; everything else of Kubeflow's must come out unchanged. */
const PATCHED = new Set([
  'ConfigMap istio-system/istio',
  'AuthorizationPolicy istio-system/istio-ingressgateway-oauth2-proxy',
  'Deployment oauth2-proxy/oauth2-proxy',
  'NetworkPolicy auth/allow-istio-and-oauth2-proxy',
])

/** Requests that must all reach authservice's check (none may be waved through or left to oauth2-proxy). */
const REQUESTS: Array<[string, GatewayRequest]> = [
  ['a page without credentials', { method: 'GET', path: '/' }],
  ['a bearer request', { method: 'GET', path: '/pipeline/apis/v2beta1/runs', headers: { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln' } }],
  ['the callback /oauth2/callback', { method: 'GET', path: '/oauth2/callback?code=c&state=s' }],
  ['logout (POST /oauth2/sign_out)', { method: 'POST', path: '/oauth2/sign_out' }],
  ['the login start /oauth2/start', { method: 'GET', path: '/oauth2/start?rd=%2F' }],
  ['Dex (/dex/auth, a skip path of the check)', { method: 'GET', path: '/dex/auth?client_id=kubeflow-oidc-authservice' }],
]

/**
 * What is wrong with `objects` (a Kubeflow build with the component) for a gateway that must run
 * every request through authservice, compared with `kubeflow` (the same build without it).
 */
function problemsOf(objects: KubeObject[], kubeflow: KubeObject[]): string[] {
  const problems: string[] = []
  for (const before of kubeflow) {
    const after = find(objects, idOf(before))
    if (!after) problems.push(`${idOf(before)} is missing`)
    else if (!PATCHED.has(idOf(before)) && !isDeepStrictEqual(after, before)) problems.push(`${idOf(before)} was changed`)
  }

  const settings = (mesh: Any) => ({ ...mesh, extensionProviders: undefined })
  const mesh = parseYaml(find(objects, 'ConfigMap istio-system/istio').data.mesh) as Any
  const kubeflowMesh = parseYaml(find(kubeflow, 'ConfigMap istio-system/istio').data.mesh) as Any
  const provider = (name: string | undefined) => (mesh.extensionProviders ?? []).find((entry: Any) => entry.name === name)
  for (const entry of MESH_PROVIDERS) {
    if (!isDeepStrictEqual(provider(entry.name), entry)) problems.push(`the mesh config lacks mesh-config/mesh.yaml's provider ${entry.name}`)
  }
  for (const entry of kubeflowMesh.extensionProviders ?? []) {
    if (!isDeepStrictEqual(provider(entry.name), entry)) problems.push(`the mesh config lost Kubeflow's provider ${entry.name}`)
  }
  if (!isDeepStrictEqual(settings(mesh), settings(kubeflowMesh))) problems.push("the mesh settings are not Kubeflow's")

  const gateway = podOf(objects, 'Deployment', 'istio-ingressgateway')
  const custom = authorizationPoliciesFor(objects, gateway, 'CUSTOM')
  for (const policy of custom) {
    if (!provider(ofProvider(policy))) {
      problems.push(`CUSTOM policy ${policy.metadata.name} names provider ${ofProvider(policy)}, which the mesh config does not define`)
    }
  }
  const providers = [...new Set(custom.map(ofProvider))]
  if (providers.join() !== 'authservice') problems.push(`the gateway's CUSTOM providers are [${providers.join(', ')}], not authservice alone`)
  for (const [label, request] of REQUESTS) {
    if (!custom.some((policy) => ofProvider(policy) === 'authservice' && authorizationPolicyMatches(policy, request))) {
      problems.push(`${label} does not reach authservice's check`)
    }
  }
  const oauth2Proxy = find(objects, 'Deployment oauth2-proxy/oauth2-proxy')
  if (oauth2Proxy && oauth2Proxy.spec.replicas !== 0) problems.push(`oauth2-proxy still runs ${oauth2Proxy.spec.replicas ?? 1} replicas`)

  if (!find(objects, 'Deployment istio-system/authservice')) return [...problems, 'no authservice Deployment in istio-system']
  const service = find(objects, 'Service istio-system/authservice')
  const ours = provider('authservice')?.envoyExtAuthzHttp
  if (ours && (ours.service !== 'authservice.istio-system.svc.cluster.local' || !service.spec.ports.some((port: Any) => port.port === ours.port))) {
    problems.push("the authservice provider does not name authservice's Service and check port")
  }
  const authservice = podOf(objects, 'Deployment', 'authservice')
  const dex = podOf(objects, 'Deployment', 'dex')
  const dexPort: number = find(objects, `Deployment ${dex.namespace}/dex`).spec.template.spec.containers[0].ports[0].containerPort
  const reaches: Array<[string, Pod, Pod, number]> = [
    ['authservice cannot reach Dex', authservice, dex, dexPort],
    ['the gateway cannot reach authservice', gateway, authservice, ours?.port ?? 8080],
    ['the gateway cannot reach Dex', gateway, dex, dexPort],
    ['istiod cannot reach Dex (keys for dex-jwt)', podOf(objects, 'Deployment', 'istiod'), dex, dexPort],
  ]
  for (const [problem, from, to, port] of reaches) if (!connectionAllowed(objects, from, to, port)) problems.push(problem)

  // A path the check lets through without a token is still denied by Kubeflow's require-jwt.
  const deny = authorizationPoliciesFor(objects, gateway, 'DENY')
  for (const path of podEnv(objects).env.SKIP_AUTH_URLS?.split(',').map((entry) => entry.trim()).filter(Boolean) ?? []) {
    const denying = deny.find((policy) => authorizationPolicyMatches(policy, { method: 'GET', path: `${path.replace(/\/$/, '')}/auth` }))
    if (denying) problems.push(`the skip path ${path} is denied by ${denying.metadata.name}`)
  }
  return problems
}

t.test('the fixtures: one install tree per Kubeflow release', async (t) => {
  t.same(readdirSync(KUBEFLOW_FIXTURES).sort(), ['26.03', 'master', 'v1.10.0', 'v1.8.1', 'v1.9.1'])
})

for (const release of RELEASES) {
  t.test(`${release}: the component, added last, puts authservice in charge and leaves Kubeflow's auth intact`, { skip }, async (t) => {
    for (const [overlay, edit] of [['m2m-dex-only', {}], ['m2m-dex-and-kind', KIND]] as Array<[string, KubeflowEdit]>) {
      const alone = await kubeflow(release, edit)
      const objects = await kubeflow(release, withComponents(edit, COMPONENT))
      t.same(problemsOf(objects, alone), [], `${overlay}: no problem`)
      t.ok(find(alone, 'AuthorizationPolicy istio-system/istio-ingressgateway-require-jwt'), `${overlay}: Kubeflow's require-jwt is in the fixture`)
      t.ok(find(alone, 'RequestAuthentication istio-system/dex-jwt'), `${overlay}: Kubeflow's dex-jwt is in the fixture`)
    }
    const kind = await kubeflow(release, KIND)
    t.ok(find(kind, 'RequestAuthentication istio-system/m2m-token-issuer'), 'm2m-dex-and-kind has the m2m RequestAuthentication')
    t.ok(find(kind, 'Deployment istio-system/cluster-jwks-proxy'), 'and the JWKS proxy')

    // Kubeflow without the component: what the component is for.
    const problems = problemsOf(kind, kind)
    t.ok(problems.includes("the gateway's CUSTOM providers are [oauth2-proxy], not authservice alone"), 'oauth2-proxy is the provider', { found: problems })
    t.ok(problems.includes('no authservice Deployment in istio-system'))
  })
}

t.test("each check fails when what it guards is broken (master and v1.9.1 with m2m-dex-and-kind)", { skip }, async (t) => {
  const releases = { master: await kubeflow('master', withComponents(KIND, COMPONENT)), 'v1.9.1': await kubeflow('v1.9.1', withComponents(KIND, COMPONENT)) }
  const kubeflowOf = { master: await kubeflow('master', KIND), 'v1.9.1': await kubeflow('v1.9.1', KIND) }
  const kubeflowPolicy = find(kubeflowOf.master, 'AuthorizationPolicy istio-system/istio-ingressgateway-oauth2-proxy')
  const without = (objects: KubeObject[], id: string) => objects.filter((object) => idOf(object) !== id)
  const edited = (objects: KubeObject[], id: string, edit: (object: Any) => void) =>
    objects.map((object) => {
      if (idOf(object) !== id) return object
      const copy = structuredClone(object) as Any
      edit(copy)
      return copy
    })
  const policyId = 'AuthorizationPolicy istio-system/istio-ingressgateway-oauth2-proxy'
  const cases: Array<[string, 'master' | 'v1.9.1', (objects: KubeObject[]) => KubeObject[], RegExp]> = [
    ['the m2m RequestAuthentication removed', 'master', (o) => without(o, 'RequestAuthentication istio-system/m2m-token-issuer'), /m2m-token-issuer is missing/],
    ["Kubeflow's dex-jwt changed", 'master', (o) => edited(o, 'RequestAuthentication istio-system/dex-jwt', (ra) => (ra.spec.jwtRules[0].forwardOriginalToken = false)), /dex-jwt was changed/],
    ["Kubeflow's `when` (no authorization header) kept", 'master', (o) => edited(o, policyId, (p) => (p.spec.rules = [{ when: kubeflowPolicy.spec.rules[0].when }])), /^a bearer request does not reach/],
    ["Kubeflow's notPaths kept", 'master', (o) => edited(o, policyId, (p) => (p.spec.rules = [{ to: kubeflowPolicy.spec.rules[0].to }])), /^the callback \/oauth2\/callback does not reach/],
    ['the provider renamed', 'master', (o) => edited(o, policyId, (p) => (p.spec.provider.name = 'authservice-http')), /names provider authservice-http, which the mesh config does not define/],
    ['the authservice provider left out of the mesh', 'master', (o) => edited(o, 'ConfigMap istio-system/istio', (c) => (c.data.mesh = find(kubeflowOf.master, 'ConfigMap istio-system/istio').data.mesh)), /lacks mesh-config\/mesh.yaml's provider authservice/],
    ["oauth2-proxy's provider left out of the mesh", 'master', (o) => edited(o, 'ConfigMap istio-system/istio', (c) => (c.data.mesh = c.data.mesh.replace(/\n\s*- name: oauth2-proxy[^]*$/, ''))), /lost Kubeflow's provider oauth2-proxy/],
    ['oauth2-proxy left running', 'master', (o) => edited(o, 'Deployment oauth2-proxy/oauth2-proxy', (d) => (d.spec.replicas = 2)), /oauth2-proxy still runs 2 replicas/],
    ["the Dex rule for authservice's pods missing", 'master', (o) => edited(o, 'NetworkPolicy auth/allow-istio-and-oauth2-proxy', (n) => n.spec.ingress.pop()), /^authservice cannot reach Dex$/],
    ["a NetworkPolicy of our own selecting Dex (it isolates Dex where Kubeflow has no policy)", 'v1.9.1', (o) => [...o, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'own', namespace: 'auth' }, spec: { podSelector: { matchLabels: { app: 'dex' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'authservice' } } }] }] } }], /^the gateway cannot reach Dex$/],
    ['an extra skip path, not excluded from require-jwt', 'master', (o) => edited(o, `ConfigMap istio-system/${podEnvName(o)}`, (c) => (c.data.SKIP_AUTH_URLS = '/dex,/public')), /^the skip path \/public is denied by istio-ingressgateway-require-jwt$/],
  ]
  for (const [label, release, mutate, expected] of cases) {
    const problems = problemsOf(mutate(releases[release]), kubeflowOf[release])
    t.ok(found(problems, expected), label, { found: problems })
  }
  t.equal(problemsOf(edited(releases.master, policyId, (p) => (p.spec.rules = [{ when: kubeflowPolicy.spec.rules[0].when }])), kubeflowOf.master).length, 1, 'only the bearer request is excluded by `when`')
})

/** The name of the authservice Deployment's ConfigMap (hash-suffixed). */
function podEnvName(objects: KubeObject[]): string {
  return find(objects, 'Deployment istio-system/authservice').spec.template.spec.containers[0].envFrom[0].configMapRef.name
}

t.test("a build without oauth2-proxy's Deployment still builds, and the component leaves it out", { skip }, async (t) => {
  const drop = {
    'drop-oauth2-proxy/kustomization.yaml': [
      'apiVersion: kustomize.config.k8s.io/v1alpha1',
      'kind: Component',
      'patches:',
      '  - target: {kind: Deployment, name: oauth2-proxy}',
      '    patch: |-',
      '      $patch: delete',
      '      apiVersion: apps/v1',
      '      kind: Deployment',
      '      metadata: {name: oauth2-proxy}',
    ].join('\n'),
  }
  const alone = await kubeflow('master', { files: drop, components: ['drop-oauth2-proxy'] })
  const objects = await kubeflow('master', { files: drop, components: ['drop-oauth2-proxy', COMPONENT] })
  t.notOk(find(objects, 'Deployment oauth2-proxy/oauth2-proxy'), 'no oauth2-proxy Deployment')
  t.same(problemsOf(objects, alone), [])
})

t.test("the component's configuration is overlays/kubeflow's, which the Envoy tests run", { skip }, async (t) => {
  const objects = await kubeflow('master', withComponents(KIND, COMPONENT))
  const overlay = parseObjects(await kustomizeBuild(join(DEPLOY, 'overlays', 'kubeflow')))
  t.same(podEnv(objects).env, podEnv(overlay).env)
  const policy = find(objects, 'AuthorizationPolicy istio-system/istio-ingressgateway-oauth2-proxy')
  t.same(
    (parseYaml(find(objects, 'ConfigMap istio-system/istio').data.mesh) as Any).extensionProviders.find((entry: Any) => entry.name === ofProvider(policy)),
    MESH_PROVIDERS.find((entry) => entry.name === 'authservice'),
    "the policy's provider is mesh.yaml's authservice entry (envoyfilter-through-envoy.test.ts runs it through Envoy)",
  )
})

t.test('Kubernetes tokens: TokenReview RBAC under names of our own, egress to the API server', { skip }, async (t) => {
  const objects = await kubeflow('master', withComponents(KIND, COMPONENT, TOKENS))
  t.same(problemsOf(objects, await kubeflow('master', KIND)), [])
  const binding = find(objects, 'ClusterRoleBinding /authservice-tokenreview')
  const deployment = find(objects, 'Deployment istio-system/authservice')
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' })
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: deployment.spec.template.spec.serviceAccountName, namespace: 'istio-system' }])
  t.notOk(
    objects.some((object) => /^authn-delegators?$/.test(object.metadata.name)),
    "nothing named like Kubeflow's authn-delegator(s), which 1.7-1.9.0 bind to other accounts",
  )
  const authservice = podOf(objects, 'Deployment', 'authservice')
  for (const port of [443, 6443]) t.ok(connectionAllowed(objects, authservice, { ip: '172.18.0.2' }, port), `API server on ${port}`)
  t.notOk(connectionAllowed(objects, authservice, { ip: '172.18.0.2' }, 80), 'nothing else outside the cluster')
  t.notOk(connectionAllowed(await kubeflow('master', withComponents(KIND, COMPONENT)), authservice, { ip: '172.18.0.2' }, 6443), 'not without the component')
})

// ---------------------------------------------------------------------------------------------
// The README's order of steps, replayed. A step applies the objects of a build a label query
// selects (replacing what has the same id), patches one object, or deletes; a workload applied in
// one step counts as ready from the next on (the README waits for its rollout in between).

interface Step {
  /** `kubectl apply -l <query>` of `objects` ('' = all of them). */
  apply?: { objects: KubeObject[]; query: string }
  /** Any other command; returns the ids of the workloads it (re)starts. */
  change?: (state: Map<string, Any>) => string[] | void
}
type Invariant = (state: Map<string, Any>, ready: (id: string) => boolean) => string[]

/** Replays `steps` from `initial`: what `invariant` found wrong after each step, and the end state. */
function replay(initial: KubeObject[], steps: Step[], invariant: Invariant): { problems: string[]; state: Map<string, Any> } {
  const state = new Map<string, Any>(initial.map((object) => [idOf(object), structuredClone(object)]))
  const since = new Map<string, number>(initial.map((object) => [idOf(object), -1]))
  const problems: string[] = []
  steps.forEach((step, index) => {
    for (const object of step.apply?.objects ?? []) {
      if (!labelQueryMatches(step.apply!.query, object.metadata.labels ?? {})) continue
      if (!state.has(idOf(object))) since.set(idOf(object), index)
      state.set(idOf(object), structuredClone(object))
    }
    for (const id of step.change?.(state) ?? []) since.set(id, index)
    const ready = (id: string) => state.has(id) && (since.get(id) ?? index) < index
    problems.push(...invariant(state, ready).map((problem) => `after step ${index + 1}: ${problem}`))
  })
  return { problems, state }
}

/** The state as the list of its objects, in the order of `like` (to compare with a build). */
const stateAs = (state: Map<string, Any>, like: KubeObject[]) => like.map((object) => state.get(idOf(object)) ?? null)

/** Kubeflow >= 1.9: every CUSTOM provider exists and what it calls is ready. */
function gatewayProblems(state: Map<string, Any>, ready: (id: string) => boolean): string[] {
  const objects = [...state.values()] as KubeObject[]
  const mesh = parseYaml(state.get('ConfigMap istio-system/istio').data.mesh) as Any
  const problems: string[] = []
  for (const policy of authorizationPoliciesFor(objects, podOf(objects, 'Deployment', 'istio-ingressgateway'), 'CUSTOM')) {
    const name = ofProvider(policy)
    if (!(mesh.extensionProviders ?? []).some((entry: Any) => entry.name === name)) problems.push(`the gateway names provider ${name}, which the mesh lacks`)
    if (name === 'authservice' && !ready('Deployment istio-system/authservice')) problems.push('the gateway calls authservice before it is ready')
    else if (name === 'authservice' && !connectionAllowed(objects, podOf(objects, 'Deployment', 'authservice'), podOf(objects, 'Deployment', 'dex'), 5556)) {
      problems.push('the gateway calls authservice, which cannot reach Dex (never ready)')
    }
    const oauth2Proxy = 'Deployment oauth2-proxy/oauth2-proxy'
    if (name === 'oauth2-proxy' && ((state.get(oauth2Proxy)?.spec.replicas ?? 1) === 0 || !ready(oauth2Proxy))) problems.push('the gateway calls oauth2-proxy, not running or not ready')
  }
  return problems
}

const INSTALL_QUERIES = ['app.kubernetes.io/part-of=authservice', 'authservice-step=prepare', 'authservice-step=switch', '']

t.test('Kubeflow >= 1.9: the README order of steps never points the gateway at what is missing or not ready', { skip }, async (t) => {
  for (const query of INSTALL_QUERIES.filter(Boolean)) t.ok(README.includes(`-f kubeflow.yaml -l ${query}`), `the README applies -l ${query}`)
  for (const release of RELEASES) {
    const alone = await kubeflow(release, KIND)
    const objects = await kubeflow(release, withComponents(KIND, COMPONENT, TOKENS))
    const kubeflowIds = new Set(alone.map(idOf))
    t.same(
      objects.filter((object) => labelQueryMatches(INSTALL_QUERIES[0]!, object.metadata.labels ?? {})).map(idOf).sort(),
      objects.map(idOf).filter((id) => !kubeflowIds.has(id)).sort(),
      `${release}: app.kubernetes.io/part-of=authservice selects exactly what the component adds (a delete by it never takes Kubeflow's)`,
    )
    t.same(
      objects.filter((object) => object.metadata.labels?.['authservice-step'] === 'switch').map(idOf),
      ['AuthorizationPolicy istio-system/istio-ingressgateway-oauth2-proxy'],
      `${release}: one object moves the gateway`,
    )
    const install = replay(alone, INSTALL_QUERIES.map((query) => ({ apply: { objects, query } })), gatewayProblems)
    t.same(install.problems, [], `${release}: install`)
    t.same(stateAs(install.state, objects), objects, `${release}: ends as the build`)
    t.ok(found(replay(alone, [{ apply: { objects, query: '' } }], gatewayProblems).problems, /before it is ready/), `${release}: one apply of everything would not do`)

    // Rollback: oauth2-proxy back first, the policy back, Kubeflow's objects, then ours deleted.
    const policy = 'AuthorizationPolicy istio-system/istio-ingressgateway-oauth2-proxy'
    const scaleUp = (state: Map<string, Any>) => {
      state.get('Deployment oauth2-proxy/oauth2-proxy').spec.replicas = 2
      return ['Deployment oauth2-proxy/oauth2-proxy']
    }
    const policyBack = (state: Map<string, Any>) => {
      state.get(policy).spec.provider.name = 'oauth2-proxy'
    }
    const deleteOurs = (state: Map<string, Any>) =>
      [...state].forEach(([id, object]) => labelQueryMatches(INSTALL_QUERIES[0]!, object.metadata.labels ?? {}) && state.delete(id))
    const rollback = replay(objects, [{ change: scaleUp }, { change: policyBack }, { apply: { objects: alone, query: '' } }, { change: deleteOurs }], gatewayProblems)
    t.same(rollback.problems, [], `${release}: rollback`)
    t.same([...rollback.state.keys()].sort(), alone.map(idOf).sort(), `${release}: ends as Kubeflow alone`)
    const both = (state: Map<string, Any>) => {
      policyBack(state)
      return scaleUp(state)
    }
    t.ok(found(replay(objects, [{ change: both }], gatewayProblems).problems, /not running or not ready/), `${release}: not the policy while oauth2-proxy starts`)
  }
  t.ok(README.includes('kubectl -n oauth2-proxy scale deployment oauth2-proxy --replicas=2'), 'the README scales oauth2-proxy up first on rollback')
  t.ok(README.includes(`patch authorizationpolicy istio-ingressgateway-oauth2-proxy --type=merge -p '{"spec":{"provider":{"name":"oauth2-proxy"}}}'`))
})

// ---------------------------------------------------------------------------------------------
// Kubeflow 1.8

const OLD_POD_NAME = { 'statefulset.kubernetes.io/pod-name': 'oidc-authservice-0' }
const KIND_OF: Record<string, string> = { statefulset: 'StatefulSet', pvc: 'PersistentVolumeClaim', clusterrole: 'ClusterRole', clusterrolebinding: 'ClusterRoleBinding' }
const LEGACY_SECTION = README.slice(README.indexOf('### Kubeflow 1.7 / 1.8'), README.indexOf('### Kubeflow 1.9 and later'))

/** The README's 1.8 cleanup: the `kubectl delete` lines of its code block that starts `# Cleanup`. */
function cleanup(): Array<{ id: string }> {
  const block = /```sh\n# Cleanup[^]*?```/.exec(LEGACY_SECTION)?.[0] ?? ''
  return [...block.matchAll(/^kubectl (?:-n (\S+) )?delete (\w+) (\S+)$/gm)].map(([, namespace, kind, name]) => ({
    id: `${KIND_OF[kind!] ?? kind} ${namespace ?? ''}/${name}`,
  }))
}

/** The selectors the README's JSON patches give the Service `authservice`. */
const readmeSelectors = () =>
  [...LEGACY_SECTION.matchAll(/"path":"\/spec\/selector","value":(\{[^}]*\})/g)].map(([, value]) => JSON.parse(value!) as Record<string, string>)

t.test('Kubeflow 1.8: kubeflow-legacy replaces oidc-authservice in place, and the cleanup names what 1.8 ships', { skip }, async (t) => {
  const old = parseObjects(await kustomizeBuild(join(KUBEFLOW_FIXTURES, 'v1.8.1', 'common', 'oidc-client', 'oidc-authservice', 'base')))
  const legacy = parseObjects(await kustomizeBuild(join(DEPLOY, 'overlays', 'kubeflow-legacy')))
  const ids = new Set(legacy.map(idOf))
  t.same(
    old.map(idOf).filter((id) => ids.has(id)).sort(),
    ['ConfigMap istio-system/oidc-authservice-parameters', 'EnvoyFilter istio-system/authn-filter', 'Service istio-system/authservice', 'ServiceAccount istio-system/authservice'],
    'replaced in place (same kind, namespace and name)',
  )
  const deleted = cleanup().map(({ id }) => id)
  const read = ['Secret istio-system/oidc-authservice-client']
  t.same(
    [...deleted, ...read].sort(),
    old.map(idOf).filter((id) => !ids.has(id)).sort(),
    "every other 1.8 object is deleted by the README's cleanup, or read by authservice",
  )
  const deployment = find(legacy, 'Deployment istio-system/authservice')
  t.same(deployment.spec.template.spec.containers[0].envFrom, [
    { configMapRef: { name: 'oidc-authservice-parameters' } },
    { secretRef: { name: 'oidc-authservice-client', optional: true } },
    { secretRef: { name: 'authservice-secrets' } },
  ])

  // Pods: the new carry app: authservice; only the old Service's selector sees both generations.
  const oldPod = { ...podOf(old, 'StatefulSet', 'oidc-authservice'), labels: { ...podOf(old, 'StatefulSet', 'oidc-authservice').labels, ...OLD_POD_NAME } }
  const newPod = podOf(legacy, 'Deployment', 'authservice')
  const ours = find(legacy, 'Service istio-system/authservice').spec.selector
  const theirs = find(old, 'Service istio-system/authservice').spec.selector
  t.equal(newPod.labels.app, 'authservice')
  t.ok(selectorMatches({ matchLabels: ours }, newPod.labels) && !selectorMatches({ matchLabels: ours }, oldPod.labels), "our Service: the new pods only")
  t.ok(selectorMatches({ matchLabels: theirs }, newPod.labels), "1.8's Service, applied again, still finds authservice's pods")
  t.notOk(Object.hasOwn(ours, 'app'), 'no `app` key in our selector')

  // 1.8's own ConfigMap and Secret, applied again over ours, give a configuration the service takes.
  const configMap = find(old, 'ConfigMap istio-system/oidc-authservice-parameters').data
  const secret = Object.fromEntries(Object.entries<string>(find(old, 'Secret istio-system/oidc-authservice-client').data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]))
  const noFiles = () => {
    throw new Error('no *_FILE variables')
  }
  t.ok(loadConfig({ ...configMap, ...secret, SESSION_SECRETS: Buffer.alloc(32, 9).toString('base64') }, noFiles).config, "1.8's values + SESSION_SECRETS")
  t.ok(loadConfig({ ...podEnv(legacy).env, ...secret, SESSION_SECRETS: Buffer.alloc(32, 9).toString('base64') }, noFiles).config, "ours + 1.8's Secret")
  t.throws(() => loadConfig({ ...configMap, ...secret }, noFiles), /SESSION_SECRETS: required while CLIENT_SECRET is a value published/, "1.8's published client secret alone is refused")

  // Kubeflow 1.8's example with the oidc-authservice line replaced by the overlay: no clash.
  const example = await kubeflow('v1.8.1', { replaceResource: { containing: '/oidc-client/oidc-authservice/', by: join(DEPLOY, 'overlays', 'kubeflow-legacy') } })
  t.notOk(example.some((object) => object.kind === 'StatefulSet'), "no oidc-authservice in the edited example")
  t.same(find(example, 'Service istio-system/authservice').spec.selector, ours)
})

/** Kubeflow 1.8: the Service the gateway calls selects ready pods of one generation, never both. */
function legacyProblems(state: Map<string, Any>, ready: (id: string) => boolean): string[] {
  const service = state.get('Service istio-system/authservice')
  const filter = state.get('EnvoyFilter istio-system/authn-filter')
  const cluster = filter?.spec.configPatches[0].patch.value.typed_config.http_service.server_uri.cluster
  if (!service || cluster !== 'outbound|8080||authservice.istio-system.svc.cluster.local') return ['the gateway calls no authservice Service']
  const workloads = [...state.values()].filter((object) => object.kind === 'StatefulSet' || object.kind === 'Deployment')
  const selected = workloads.filter((workload) => {
    const labels = { ...workload.spec.template.metadata.labels, ...(workload.kind === 'StatefulSet' ? OLD_POD_NAME : {}) }
    return workload.metadata.namespace === 'istio-system' && selectorMatches({ matchLabels: service.spec.selector }, labels)
  })
  const problems: string[] = []
  if (selected.length === 0) problems.push('the Service selects no pod')
  if (selected.length > 1) problems.push(`the Service selects old and new pods: ${selected.map((workload) => workload.metadata.name).join(', ')}`)
  for (const workload of selected) if (!ready(idOf(workload))) problems.push(`the Service selects ${workload.metadata.name} before it is ready`)
  return problems
}

t.test('Kubeflow 1.8: the README order of steps never mixes old and new pods, nor selects unready ones', { skip }, async (t) => {
  const old = parseObjects(await kustomizeBuild(join(KUBEFLOW_FIXTURES, 'v1.8.1', 'common', 'oidc-client', 'oidc-authservice', 'base')))
  const legacy = parseObjects(await kustomizeBuild(join(DEPLOY, 'overlays', 'kubeflow-legacy')))
  const selectorOf = (objects: KubeObject[]) => find(objects, 'Service istio-system/authservice').spec.selector
  const setSelector = (selector: Record<string, string>) => (state: Map<string, Any>) => {
    state.get('Service istio-system/authservice').spec.selector = selector
  }
  const PREPARE = 'app.kubernetes.io/part-of=authservice,authservice-step!=switch'
  const pinned = { ...selectorOf(old), ...OLD_POD_NAME }
  t.same(readmeSelectors(), [pinned, selectorOf(legacy), pinned], "the README's selector patches: pin, switch; on rollback, back to the old pod")
  t.ok(LEGACY_SECTION.includes(`-f kubeflow.yaml -l '${PREPARE}'`), 'the README applies authservice without its Service and EnvoyFilter first')
  const steps: Step[] = [
    { change: setSelector(pinned) },
    { apply: { objects: legacy, query: PREPARE } },
    { change: setSelector(selectorOf(legacy)) },
    { apply: { objects: legacy, query: '' } },
    { change: (state) => void cleanup().forEach(({ id }) => state.delete(id)) },
  ]
  const install = replay(old, steps, legacyProblems)
  t.same(install.problems, [], 'install and cleanup')
  t.ok(found(replay(old, [{ apply: { objects: legacy, query: '' } }], legacyProblems).problems, /before it is ready/), 'one apply of everything would not do')
  t.ok(found(replay(old, [{ apply: { objects: legacy, query: PREPARE } }], legacyProblems).problems, /old and new pods/), 'nor authservice beside an unpinned old Service')

  // Rollback: 1.8's values back into the ConfigMap, the old pod back (`kubectl create` makes only
  // what is missing), the Service pinned to it, authservice's workload deleted, 1.8's objects applied.
  const configMap = 'ConfigMap istio-system/oidc-authservice-parameters'
  const recreate = (state: Map<string, Any>) => {
    state.set(configMap, structuredClone(find(old, configMap)))
    const missing = old.filter((object) => !state.has(idOf(object)))
    for (const object of missing) state.set(idOf(object), structuredClone(object))
    return missing.map(idOf)
  }
  const WORKLOAD = ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'ClusterRoleBinding']
  const deleteOurs = (state: Map<string, Any>) =>
    [...state].forEach(([id, object]) => WORKLOAD.includes(object.kind) && object.metadata.labels?.['app.kubernetes.io/part-of'] === 'authservice' && state.delete(id))
  const rollback = replay([...install.state.values()], [{ change: recreate }, { change: setSelector(pinned) }, { change: deleteOurs }, { apply: { objects: old, query: '' } }], legacyProblems)
  t.same(rollback.problems, [], 'rollback')
  t.same([...rollback.state.keys()].sort(), old.map(idOf).sort(), 'ends as Kubeflow 1.8')
  for (const command of [
    'kubectl create --save-config -f oidc-authservice.yaml',
    `kubectl delete ${WORKLOAD.map((kind) => kind.toLowerCase()).join(',')} -A -l app.kubernetes.io/part-of=authservice`,
  ]) {
    t.ok(LEGACY_SECTION.includes(command), `the README runs: ${command}`)
  }
})

t.test('every object of the Kubeflow builds with the component validates against its schema', { skip }, async (t) => {
  const all: Array<{ label: string; object: KubeObject }> = []
  for (const release of RELEASES) {
    for (const object of await kubeflow(release, withComponents(KIND, COMPONENT, TOKENS))) {
      await t.resolves(validateWithModel(object), `${release}: ${idOf(object)}`)
      all.push({ label: release, object })
    }
  }
  t.equal(await typecheckObjects(all), '', 'no field its schema does not know')
})
