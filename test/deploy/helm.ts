/**
 * Renders charts/authservice with the real helm (built by test/peers/install.sh from the Go module
 * proxy, helm.sh/helm/v4) and puts a chart render and a kustomize render side by side: the chart
 * promises the same objects as deploy/, and what legitimately differs is normalised away here.
 */
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { installedPeer } from '../helpers/peer-manifest.js'
import { parseObjects, REPO, runTool, type KubeObject } from './kustomize.js'

export const CHART = join(REPO, 'charts', 'authservice')
/** deploy/'s namespace: the chart is installed into it (`helm install -n istio-system`). */
export const NAMESPACE = 'istio-system'

export interface HelmResult {
  code: number | null
  stdout: string
  stderr: string
}

/** `helm <args>` as it exits (the caller decides whether a failure is expected). */
export async function helm(args: string[]): Promise<HelmResult> {
  return runTool(installedPeer('helm'), args, REPO)
}

/** `helm template` of the chart in istio-system; throws with helm's own words when it fails. */
export async function helmTemplate(args: string[] = []): Promise<KubeObject[]> {
  const result = await helm(['template', 'authservice', CHART, '--namespace', NAMESPACE, ...args])
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`)
  return parseObjects(result.stdout)
}

/** The NOTES.txt `helm install` prints, rendered without a cluster (--dry-run=client). */
export async function helmNotes(args: string[] = []): Promise<string> {
  const result = await helm(['install', 'authservice', CHART, '--namespace', NAMESPACE, '--dry-run=client', ...args])
  if (result.code !== 0) throw new Error(`helm install --dry-run=client ${args.join(' ')} failed:\n${result.stderr}`)
  const at = result.stdout.indexOf('\nNOTES:\n')
  if (at < 0) throw new Error('helm install --dry-run=client printed no NOTES')
  return result.stdout.slice(at + '\nNOTES:\n'.length)
}

/** Labels Helm charts carry that kustomize's objects do not (the release, the chart, the tool). */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version']
/** The chart's ConfigMap keeps its name, so the pods roll on a change through this annotation. */
const HELM_POD_ANNOTATIONS = ['checksum/config']

type Loose = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }

function withoutKeys(map: Record<string, string> | undefined, keys: string[]): void {
  if (map) for (const key of keys) delete map[key]
}

/** A chart object without Helm's own labels and annotations. */
export function normaliseHelmObject(object: KubeObject): KubeObject {
  const copy = structuredClone(object)
  withoutKeys(copy.metadata.labels, HELM_LABELS)
  const template = (copy as { spec?: { template?: Loose } }).spec?.template
  withoutKeys(template?.metadata?.annotations, HELM_POD_ANNOTATIONS)
  return copy
}

/**
 * Kustomize's objects with each generated ConfigMap's name-hash suffix (`-<10 chars>`) removed,
 * everywhere the name appears, when the chart has that ConfigMap under the bare name.
 */
export function normaliseKustomizeObjects(objects: KubeObject[], chartConfigMaps: string[]): KubeObject[] {
  let text = JSON.stringify(objects)
  for (const object of objects) {
    if (object.kind !== 'ConfigMap') continue
    const bare = chartConfigMaps.find((name) => object.metadata.name.startsWith(`${name}-`) && /^[a-z0-9]{10}$/.test(object.metadata.name.slice(name.length + 1)))
    if (bare) text = text.split(JSON.stringify(object.metadata.name)).join(JSON.stringify(bare))
  }
  return JSON.parse(text) as KubeObject[]
}

const keyOf = (object: KubeObject) => `${object.kind} ${object.metadata.namespace ?? '-'}/${object.metadata.name}`

export interface Drift {
  key: string
  chart?: KubeObject
  kustomize?: KubeObject
}

/**
 * Object-by-object comparison after normalising: every object only one side renders, and every
 * object the two sides render differently. Empty when the chart and the overlay agree.
 */
export function driftBetween(chart: KubeObject[], kustomize: KubeObject[]): Drift[] {
  const chartObjects = new Map(chart.map((object) => [keyOf(object), normaliseHelmObject(object)]))
  const configMaps = chart.filter((object) => object.kind === 'ConfigMap').map((object) => object.metadata.name)
  const kustomizeObjects = new Map(normaliseKustomizeObjects(kustomize, configMaps).map((object) => [keyOf(object), object]))
  const keys = [...new Set([...chartObjects.keys(), ...kustomizeObjects.keys()])].sort()
  return keys
    .map((key) => ({ key, chart: chartObjects.get(key), kustomize: kustomizeObjects.get(key) }))
    .filter((drift) => !isDeepStrictEqual(drift.chart, drift.kustomize))
}
