/**
 * Renders deploy/ with the real kustomize (built by test/peers/install.sh from the Go module proxy)
 * and checks every rendered object against its Kubernetes / Istio schema:
 *  - `.validate()` of its kubernetes-models / @kubernetes-models/istio class (types, enums,
 *    required fields, formats); a kind without a model fails;
 *  - the TypeScript interface of the same model, with the object as a literal: tsc's excess
 *    property check catches the misspelled fields (`readinesProbe`) the JSON schemas let through.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml'
import { installedPeer } from '../helpers/peer-manifest.js'

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)))
export const DEPLOY = join(REPO, 'deploy')
/** Install trees shaped like kubeflow/manifests at one release each (our own minimal content). */
export const KUBEFLOW_FIXTURES = join(REPO, 'test', 'fixtures', 'kubeflow')

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  [key: string]: unknown
}

/** Directories under deploy/<folder> that hold a kustomization.yaml. */
export function kustomizationsUnder(folder: string): string[] {
  const root = join(DEPLOY, folder)
  return readdirSync(root)
    .filter((name) => statSync(join(root, name)).isDirectory())
    .filter((name) => readdirSync(join(root, name)).includes('kustomization.yaml'))
    .sort()
}

/** Runs a tool to completion: its exit code and what it printed. */
export async function runTool(command: string, args: string[], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

/** `kustomize build <dir>`; throws with kustomize's own words when it fails. */
export async function kustomizeBuild(dir: string): Promise<string> {
  const result = await runTool(installedPeer('kustomize'), ['build', dir])
  if (result.code !== 0) throw new Error(`kustomize build ${dir} failed:\n${result.stderr}`)
  return result.stdout
}

/** Runs `use` with a fresh temporary folder holding `files` (relative path -> text), then removes it. */
async function inTemporaryFolder<T>(files: Record<string, string>, use: (dir: string) => Promise<T>, copyOf?: string): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'authservice-kustomize-'))
  try {
    if (copyOf) cpSync(copyOf, dir, { recursive: true })
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true })
      writeFileSync(join(dir, name), text)
    }
    return await use(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** An absolute path as kustomize wants it in a kustomization in `dir` (it refuses absolute ones). */
const relativeEntry = (dir: string, entry: string) => (isAbsolute(entry) ? relative(dir, entry) : entry)

/**
 * Builds a throw-away kustomization (in a temporary folder) from `resources`/`components` given
 * as absolute paths or as paths of the extra `files` written beside it.
 */
export async function kustomizeBuildOf(
  kustomization: { resources?: string[]; components?: string[] },
  files: Record<string, string> = {},
): Promise<string> {
  return inTemporaryFolder(files, async (dir) => {
    const lines = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization']
    for (const key of ['resources', 'components'] as const) {
      const entries = kustomization[key]
      if (entries?.length) lines.push(`${key}:`, ...entries.map((entry) => `  - ${JSON.stringify(relativeEntry(dir, entry))}`))
    }
    writeFileSync(join(dir, 'kustomization.yaml'), lines.join('\n') + '\n')
    return await kustomizeBuild(dir)
  })
}

/** How an operator edits their copy of Kubeflow's example/kustomization.yaml. */
export interface KubeflowEdit {
  /**
   * The `resources:` entry that contains `containing` becomes `by` (an absolute path, or one
   * relative to example/ as Kubeflow writes them), e.g. another oauth2-proxy overlay.
   */
  replaceResource?: { containing: string; by: string }
  /** Appended in order as the LAST entries of `components:`: absolute paths, or paths of `files`. */
  components?: string[]
  /** Extra files written into the copy (path relative to the copy's root -> text). */
  files?: Record<string, string>
}

/**
 * `kustomize build example` of a copy of test/fixtures/kubeflow/<version> whose
 * example/kustomization.yaml was edited as `edit` says (the fixture itself is never written).
 */
export async function kustomizeBuildKubeflow(version: string, edit: KubeflowEdit = {}): Promise<string> {
  return inTemporaryFolder(
    edit.files ?? {},
    async (dir) => {
      const example = join(dir, 'example')
      const file = join(example, 'kustomization.yaml')
      const kustomization = parseYaml(readFileSync(file, 'utf8')) as { resources: string[]; components?: string[] | null }
      if (edit.replaceResource) {
        const { containing, by } = edit.replaceResource
        const at = kustomization.resources.findIndex((entry) => entry.includes(containing))
        if (at < 0) throw new Error(`${version}: example/kustomization.yaml lists no resource containing ${containing}`)
        kustomization.resources[at] = relativeEntry(example, by)
      }
      const added = (edit.components ?? []).map((entry) => relativeEntry(example, isAbsolute(entry) ? entry : join(dir, entry)))
      kustomization.components = [...(kustomization.components ?? []), ...added]
      writeFileSync(file, stringify(kustomization))
      return await kustomizeBuild(example)
    },
    join(KUBEFLOW_FIXTURES, version),
  )
}

/** The objects of a multi-document YAML stream; a YAML error throws. */
export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`)
      return doc.toJS() as KubeObject | null
    })
    .filter((object): object is KubeObject => object !== null)
}

interface ModelRef {
  /** Module that exports the class and its `I<Kind>` interface. */
  module: string
  kind: string
}

/** The kubernetes-models module for an apiVersion: core `v1`, `<group>/<version>`, Istio groups. */
export function modelRef(object: { apiVersion?: unknown; kind?: unknown }): ModelRef {
  if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
    throw new Error(`not a Kubernetes object (apiVersion/kind missing): ${JSON.stringify(object).slice(0, 200)}`)
  }
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion]
  const module = group.endsWith('.istio.io')
    ? `@kubernetes-models/istio/${group}/${version}`
    : group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${group}/${version}`
    : group === ''
      ? `kubernetes-models/${version}`
      : `kubernetes-models/${group}/${version}`
  return { module, kind: object.kind }
}

type ModelClass = new (data: unknown) => { validate(): void }

/** Constructs the object with its model class and validates it; throws naming the object. */
export async function validateWithModel(object: KubeObject): Promise<void> {
  const ref = modelRef(object)
  const what = `${object.apiVersion} ${object.kind} ${object.metadata?.name ?? '(no name)'}`
  let exports: Record<string, unknown>
  try {
    exports = (await import(ref.module)) as Record<string, unknown>
  } catch (error) {
    throw new Error(`${what}: no model module ${ref.module} (unknown apiVersion)`, { cause: error })
  }
  const Model = exports[ref.kind] as ModelClass | undefined
  if (typeof Model !== 'function') throw new Error(`${what}: ${ref.module} has no model for kind ${ref.kind} (unknown kind)`)
  try {
    new Model(object).validate()
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`, { cause: error })
  }
}

const require = createRequire(import.meta.url)

/**
 * Type-checks the objects as literals of their model's `I<Kind>` interface (strict: unknown
 * fields are errors). Resolves to tsc's complaints, '' when there are none.
 */
export async function typecheckObjects(objects: Array<{ label: string; object: KubeObject }>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'authservice-typecheck-'))
  try {
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir')
    mkdirSync(join(dir, 'src'))
    const imports: string[] = []
    const body: string[] = []
    objects.forEach(({ label, object }, index) => {
      const ref = modelRef(object)
      imports.push(`import type { I${ref.kind} as T${index} } from '${ref.module}'`)
      body.push(`// ${label}: ${object.kind} ${object.metadata.name}`, `export const o${index}: T${index} = ${JSON.stringify(object, null, 2)}`)
    })
    writeFileSync(join(dir, 'src', 'objects.ts'), [...imports, '', ...body, ''].join('\n'))
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        include: ['src/objects.ts'],
      }),
    )
    const tsc = require.resolve('typescript/bin/tsc')
    const result = await runTool(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], dir)
    if (result.code === 0) return ''
    // Each error names a line of objects.ts: point it at the object it belongs to.
    const source = readFileSync(join(dir, 'src', 'objects.ts'), 'utf8').split('\n')
    return (result.stdout + result.stderr)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const match = /objects\.ts\((\d+),/.exec(line)
        if (!match) return line
        const lineNo = Number(match[1])
        const owner = source.slice(0, lineNo).reverse().find((text) => text.startsWith('// '))
        return `${owner?.slice(3) ?? '?'} -> ${line}`
      })
      .join('\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// A loose view of rendered objects (their schema is checked by validateWithModel / typecheckObjects).
type Any = any

/** The env a pod of this render gets: the ConfigMap behind envFrom, then the Secret (when rendered). */
export function podEnv(objects: KubeObject[]): { env: Record<string, string>; secretKeys: string[]; secretRendered: boolean } {
  const deployment = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === 'authservice') as Any
  const container = deployment.spec.template.spec.containers[0]
  const env: Record<string, string> = {}
  let secretKeys: string[] = []
  let secretRendered = false
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      const configMap = objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === source.configMapRef.name) as Any
      Object.assign(env, configMap.data)
    }
    if (source.secretRef) {
      const secret = objects.find((object) => object.kind === 'Secret' && object.metadata.name === source.secretRef.name) as Any
      if (secret) {
        secretRendered = true
        for (const [key, value] of Object.entries<string>(secret.data ?? {})) env[key] = Buffer.from(value, 'base64').toString('utf8')
        for (const [key, value] of Object.entries<string>(secret.stringData ?? {})) env[key] = value
        secretKeys = [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})]
      }
    }
  }
  return { env, secretKeys, secretRendered }
}
