/**
 * What a cluster would make of rendered objects, for the tests that build Kubeflow-shaped installs:
 *  - label selectors (meta/v1 LabelSelector: matchLabels and matchExpressions In, NotIn, Exists,
 *    DoesNotExist; an empty selector selects everything);
 *  - NetworkPolicy (networking.k8s.io/v1): whether a TCP connection from one pod to a pod or an
 *    address is allowed — a direction is open unless a policy of that direction selects the pod,
 *    then one rule of one such policy must admit the peer and the port (policies add up, they never
 *    subtract); `policyTypes` defaults to Ingress, plus Egress when `egress` is given; namespaces
 *    carry `kubernetes.io/metadata.name`;
 *  - Istio AuthorizationPolicy (security.istio.io/v1beta1): which policies apply to a workload
 *    (`selector.matchLabels`, in its namespace or the root namespace istio-system) and whether a
 *    request matches one: any rule; in a rule `from`, `to` (any entry) and `when` (every condition);
 *    values match exactly, by prefix (`abc*`), by suffix (`*abc`) or, alone, `*` any non-empty value;
 *    paths without the query.
 * A field this does not model throws, so a Kubeflow policy that grows one fails the test instead of
 * being read wrong.
 */
import type { KubeObject } from './kustomize.js'

// Loose views of rendered objects (their schema is checked by validateWithModel).
type Any = any

export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>
}

export function selectorMatches(selector: LabelSelector | undefined | null, labels: Record<string, string>): boolean {
  if (!selector) return true
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key)
    const ok =
      operator === 'In' ? has && values.includes(labels[key]!)
      : operator === 'NotIn' ? !has || !values.includes(labels[key]!)
      : operator === 'Exists' ? has
      : operator === 'DoesNotExist' ? !has
      : unsupported(`matchExpressions operator ${operator}`)
    if (!ok) return false
  }
  return true
}

function unsupported(what: string): never {
  throw new Error(`not modelled by test/deploy/cluster-policy.ts: ${what}`)
}

export interface Pod {
  /** The workload that runs it, `<Kind>/<name>`. */
  owner: string
  namespace: string
  labels: Record<string, string>
}

/** One pod per Deployment / StatefulSet: its namespace and the labels of its template. */
export function podsOf(objects: KubeObject[]): Pod[] {
  return objects
    .filter((object) => object.kind === 'Deployment' || object.kind === 'StatefulSet')
    .map((object) => ({
      owner: `${object.kind}/${object.metadata.name}`,
      namespace: object.metadata.namespace ?? 'default',
      labels: (object as Any).spec.template.metadata.labels ?? {},
    }))
}

export function podOf(objects: KubeObject[], kind: string, name: string): Pod {
  const pod = podsOf(objects).find((candidate) => candidate.owner === `${kind}/${name}`)
  if (!pod) throw new Error(`no ${kind} ${name} in the build`)
  return pod
}

const namespaceLabels = (namespace: string) => ({ 'kubernetes.io/metadata.name': namespace })

// ---------------------------------------------------------------------------------------------
// NetworkPolicy

type Direction = 'Ingress' | 'Egress'
export type Endpoint = Pod | { ip: string }

function policyTypes(policy: Any): Direction[] {
  if (policy.spec.policyTypes) return policy.spec.policyTypes
  return policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']
}

function ipInCidr(ip: string, cidr: string): boolean {
  const toNumber = (address: string) => address.split('.').reduce((sum, octet) => sum * 256 + Number(octet), 0)
  const [base, bits] = cidr.split('/')
  if (!base || base.includes(':') || ip.includes(':')) unsupported(`IPv6 ipBlock ${cidr}`)
  const size = 2 ** (32 - Number(bits ?? 32))
  return Math.floor(toNumber(ip) / size) === Math.floor(toNumber(base) / size)
}

function peerMatches(peer: Any, policyNamespace: string, endpoint: Endpoint): boolean {
  if (peer.ipBlock) {
    if (!('ip' in endpoint)) return false
    return ipInCidr(endpoint.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((cidr: string) => ipInCidr(endpoint.ip, cidr))
  }
  if ('ip' in endpoint) return false
  const namespaceOk = peer.namespaceSelector
    ? selectorMatches(peer.namespaceSelector, namespaceLabels(endpoint.namespace))
    : endpoint.namespace === policyNamespace
  return namespaceOk && selectorMatches(peer.podSelector, endpoint.labels)
}

function portMatches(ports: Any[] | undefined, port: number): boolean {
  if (!ports || ports.length === 0) return true
  return ports.some((entry) => {
    if ((entry.protocol ?? 'TCP') !== 'TCP') return false
    if (entry.port === undefined) return true
    if (typeof entry.port !== 'number') unsupported(`named port ${entry.port}`)
    return entry.endPort ? port >= entry.port && port <= entry.endPort : port === entry.port
  })
}

/** Whether `pod`'s side lets the connection through in `direction` (from or to `peer`, on `port`). */
function sideAllows(objects: KubeObject[], pod: Pod, direction: Direction, peer: Endpoint, port: number): boolean {
  const isolating = objects.filter(
    (object: Any) =>
      object.kind === 'NetworkPolicy' &&
      object.metadata.namespace === pod.namespace &&
      selectorMatches(object.spec.podSelector, pod.labels) &&
      policyTypes(object).includes(direction),
  ) as Any[]
  if (isolating.length === 0) return true
  const key = direction === 'Ingress' ? 'from' : 'to'
  return isolating.some((policy) =>
    (policy.spec[direction === 'Ingress' ? 'ingress' : 'egress'] ?? []).some(
      (rule: Any) =>
        (!rule[key] || rule[key].length === 0 || rule[key].some((entry: Any) => peerMatches(entry, policy.metadata.namespace, peer))) &&
        portMatches(rule.ports, port),
    ),
  )
}

/** A TCP connection from `from` to `to` (a pod, or an address outside the pod network) on `port`. */
export function connectionAllowed(objects: KubeObject[], from: Pod, to: Endpoint, port: number): boolean {
  return sideAllows(objects, from, 'Egress', to, port) && ('ip' in to || sideAllows(objects, to, 'Ingress', from, port))
}

// ---------------------------------------------------------------------------------------------
// Istio AuthorizationPolicy

export interface GatewayRequest {
  method: string
  /** Path with query, as the client sends it. */
  path: string
  /** Lower-case names. */
  headers?: Record<string, string>
  /** Set when a RequestAuthentication verified a JWT (`<iss>/<sub>`). */
  requestPrincipal?: string
}

/** Istio's string match: exact, `prefix*`, `*suffix`, or `*` (any non-empty value). */
function stringMatches(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false
  if (pattern.includes('{')) unsupported(`path template ${pattern}`)
  if (pattern === '*') return value !== ''
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1))
  if (pattern.startsWith('*')) return value.endsWith(pattern.slice(1))
  return value === pattern
}

function fieldMatches(spec: Any, field: string, value: string | undefined): boolean {
  const negated = `not${field[0]!.toUpperCase()}${field.slice(1)}`
  if (spec[field] && !spec[field].some((pattern: string) => stringMatches(pattern, value))) return false
  if (spec[negated] && spec[negated].some((pattern: string) => stringMatches(pattern, value))) return false
  return true
}

function checkFields(spec: Any, known: string[], where: string): void {
  const unknown = Object.keys(spec).filter((key) => !known.includes(key))
  if (unknown.length > 0) unsupported(`${where} fields ${unknown.join(', ')}`)
}

function sourceMatches(source: Any, request: GatewayRequest): boolean {
  checkFields(source, ['requestPrincipals', 'notRequestPrincipals'], 'source')
  return fieldMatches(source, 'requestPrincipals', request.requestPrincipal)
}

function operationMatches(operation: Any, request: GatewayRequest): boolean {
  checkFields(operation, ['paths', 'notPaths', 'methods', 'notMethods', 'hosts', 'notHosts'], 'operation')
  const path = request.path.split('?')[0]!
  return (
    fieldMatches(operation, 'paths', path) &&
    fieldMatches(operation, 'methods', request.method) &&
    fieldMatches(operation, 'hosts', request.headers?.host)
  )
}

function conditionMatches(condition: Any, request: GatewayRequest): boolean {
  const header = /^request\.headers\[(.+)\]$/.exec(condition.key)?.[1]
  if (!header) unsupported(`when key ${condition.key}`)
  const value = request.headers?.[header.toLowerCase()]
  if (condition.values && !condition.values.some((pattern: string) => stringMatches(pattern, value))) return false
  if (condition.notValues && condition.notValues.some((pattern: string) => stringMatches(pattern, value))) return false
  return true
}

function ruleMatches(rule: Any, request: GatewayRequest): boolean {
  checkFields(rule, ['from', 'to', 'when'], 'rule')
  return (
    (!rule.from || rule.from.some((entry: Any) => sourceMatches(entry.source ?? {}, request))) &&
    (!rule.to || rule.to.some((entry: Any) => operationMatches(entry.operation ?? {}, request))) &&
    (rule.when ?? []).every((condition: Any) => conditionMatches(condition, request))
  )
}

/** The AuthorizationPolicies with `action` that apply to the pod (ALLOW when none is given). */
export function authorizationPoliciesFor(objects: KubeObject[], pod: Pod, action: string): Any[] {
  return objects.filter(
    (object: Any) =>
      object.kind === 'AuthorizationPolicy' &&
      (object.spec?.action ?? 'ALLOW') === action &&
      (object.metadata.namespace === pod.namespace || object.metadata.namespace === 'istio-system') &&
      selectorMatches(object.spec?.selector, pod.labels),
  )
}

/** Whether `request` matches the policy (for CUSTOM: goes to its provider; for DENY: is denied). */
export function authorizationPolicyMatches(policy: Any, request: GatewayRequest): boolean {
  return (policy.spec?.rules ?? []).some((rule: Any) => ruleMatches(rule, request))
}

/** `kubectl -l` equality-based queries: `a=b` (or `a==b`), `a!=b`, `a`, `!a`, comma-joined (all must hold). */
export function labelQueryMatches(query: string, labels: Record<string, string>): boolean {
  return query
    .split(',')
    .map((term) => term.trim())
    .filter((term) => term !== '')
    .every((term) => {
      const match = /^(!?)([^=!]+?)\s*(?:(!=|==|=)\s*(.*))?$/.exec(term)
      if (!match) unsupported(`label query ${term}`)
      const [, not, key, operator, value] = match
      const has = Object.hasOwn(labels, key!)
      if (!operator) return not ? !has : has
      if (not) unsupported(`label query ${term}`)
      return operator === '!=' ? labels[key!] !== value : labels[key!] === value
    })
}
