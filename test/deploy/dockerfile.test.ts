// There is no Docker engine in CI, so the Dockerfile is replayed: parsed, then each stage is rebuilt
// in a clean temporary directory — the files its COPY lines name (from the repository, filtered by
// .dockerignore, or from an earlier stage), its RUN commands run as written (npm ci, npm run build,
// the production install from the lockfile), its ENV — and the runtime stage's CMD is started with
// node (the distroless image's entrypoint) and a minimal environment. A step that breaks, a file
// the build needs but no COPY brings, or a runtime that cannot start fails here.
// The runtime stage is then inspected: production dependencies only (no oidc-provider, which only
// the local demo in dev/ uses), no demo or benchmark file in dist/, and no dist/ file importing
// anything but a production dependency, a node: builtin or another file of dist/.
// What the replay cannot prove: the base images themselves (Node 22 there, this machine's Node here).
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, posix, relative } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { freePort } from '../helpers/ports.js'
import { waitUntil } from '../helpers/wait.js'
import { REPO } from './kustomize.js'

interface Instruction {
  keyword: string
  args: string
  line: number
}
interface Stage {
  name: string
  from: string
  instructions: Instruction[]
}

/** Instructions per stage: comments and blank lines dropped, `\` continuations joined. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1
    let line = lines[i]!
    if (/^\s*(#|$)/.test(line)) continue
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ')
      i++
      if (!/^\s*#/.test(lines[i]!)) line += lines[i]!.trim()
    }
    const match = /^\s*(\w+)\s+(.*)$/.exec(line)
    if (!match) throw new Error(`Dockerfile line ${start}: cannot parse "${line}"`)
    const keyword = match[1]!.toUpperCase()
    const args = match[2]!.trim()
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      if (!from) throw new Error(`Dockerfile line ${start}: cannot parse FROM ${args}`)
      stages.push({ from: from[1]!, name: from[2] ?? String(stages.length), instructions: [] })
      continue
    }
    if (stages.length === 0) throw new Error(`Dockerfile line ${start}: ${keyword} before FROM`)
    stages.at(-1)!.instructions.push({ keyword, args, line: start })
  }
  return stages
}

/** `KEY=value KEY2="x y"` (ENV's modern form). */
function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const match of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    env[match[1]!] = match[2]!.startsWith('"') ? (JSON.parse(match[2]!) as string) : match[2]!
  }
  return env
}

/** .dockerignore as Docker reads it: patterns relative to the context, `!` re-includes, a match covers a folder's contents. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!')
      const pattern = posix.normalize((negate ? line.slice(1) : line).replace(/^\/+/, ''))
      const source = pattern
        .split('/')
        .map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
      return { negate, regexp: new RegExp(`^${source}(/.*)?$`) }
    })
  return (path) => {
    let excluded = false
    for (const rule of rules) if (rule.regexp.test(path)) excluded = !rule.negate
    return excluded
  }
}

function copyFiltered(from: string, to: string, contextPath: string, excluded: (path: string) => boolean): number {
  if (excluded(contextPath)) return 0
  if (statSync(from).isDirectory()) {
    let count = 0
    for (const name of readdirSync(from)) count += copyFiltered(join(from, name), join(to, name), posix.join(contextPath, name), excluded)
    return count
  }
  mkdirSync(dirname(to), { recursive: true })
  cpSync(from, to)
  return 1
}

async function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, output }
}

// Two npm installs and a TypeScript build: about 30 s alone, several times that on a busy machine.
t.setTimeout(600_000)

const dockerfileText = readFileSync(join(REPO, 'Dockerfile'), 'utf8')
const stages = parseDockerfile(dockerfileText)
const runtime = stages.at(-1)!
const instructionsOf = (stage: Stage, keyword: string) => stage.instructions.filter((instruction) => instruction.keyword === keyword)
const nodeMajor = (image: string) => Number(/^node:(\d+)/.exec(image)?.[1] ?? /nodejs(\d+)/.exec(image)?.[1])

t.test('the Dockerfile: multi-stage, production dependencies only, distroless non-root runtime', async (t) => {
  t.same(stages.map((stage) => stage.name), ['build', 'prod-deps', 'runtime'])
  const [build, prodDeps] = stages as [Stage, Stage, Stage]
  t.match(build.from, /^node:\d+-bookworm-slim$/, 'build on a supported Node LTS')
  t.match(runtime.from, /^gcr\.io\/distroless\/nodejs\d+-debian\d+:nonroot$/, 'distroless Node.js, nonroot variant')
  t.equal(nodeMajor(runtime.from), nodeMajor(build.from), 'build and runtime run the same Node major')
  t.equal(nodeMajor(prodDeps.from), nodeMajor(build.from), 'production dependencies installed by the same Node/npm')
  t.ok(nodeMajor(build.from) % 2 === 0 && nodeMajor(build.from) >= 20, 'an LTS line (even, >= 20, as package.json engines)')
  t.match(instructionsOf(build, 'RUN').map((run) => run.args), ['npm ci --no-audit --no-fund', 'npm run build'])
  t.match(instructionsOf(prodDeps, 'RUN').map((run) => run.args), [/^npm ci --omit=dev\b/])
  t.same(instructionsOf(runtime, 'RUN'), [], 'no RUN in the runtime stage: distroless has no shell')
  t.same(instructionsOf(runtime, 'USER').map((user) => user.args), ['65532:65532'], 'a numeric non-root user (runAsNonRoot can check it)')
  t.same(JSON.parse(instructionsOf(runtime, 'CMD')[0]!.args), ['dist/server.js'], 'exec-form CMD; the entrypoint is node')
  t.same(instructionsOf(runtime, 'ENTRYPOINT'), [], "distroless node's own entrypoint")
  t.same(instructionsOf(runtime, 'EXPOSE').flatMap((expose) => expose.args.split(/\s+/)), ['8080', '8081'])

  const deployment = parseYaml(readFileSync(join(REPO, 'deploy', 'base', 'deployment.yaml'), 'utf8')) as any
  const pod = deployment.spec.template.spec
  t.equal(pod.securityContext.runAsUser, 65532, "the Deployment's runAsUser is the image's user")
  const preStop = pod.containers[0].lifecycle.preStop.exec.command as string[]
  t.equal(preStop[0], '/nodejs/bin/node', "preStop runs the distroless image's node: there is no shell or sleep")

  const ignored = dockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'))
  for (const path of ['node_modules', 'dist', '.git', 'test', 'dev', 'deploy', 'charts', 'README.md', '.tap']) t.ok(ignored(path), `.dockerignore keeps ${path} out`)
  for (const path of ['package.json', 'package-lock.json', 'src/server.ts', 'tsconfig.json']) t.notOk(ignored(path), `${path} stays in the context`)
})

t.test('replaying the stages builds a runtime that starts, answers /healthz, and stops on SIGTERM', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'authservice-docker-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const ignored = dockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'))
  const rootfs = (stage: string) => join(root, stage)
  const baseEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME, // the npm cache
    npm_config_cache: process.env.npm_config_cache,
    npm_config_prefer_offline: 'true', // the cache is warm; the registry is asked only for what is missing
    npm_config_update_notifier: 'false',
  }
  // The Deployment's preStop hook, run meanwhile by this machine's node as the image's node runs it.
  const deploymentYaml = parseYaml(readFileSync(join(REPO, 'deploy', 'base', 'deployment.yaml'), 'utf8')) as any
  const [, ...preStopArgs] = deploymentYaml.spec.template.spec.containers[0].lifecycle.preStop.exec.command as string[]
  const preStopStarted = Date.now()
  const preStop = run(process.execPath, preStopArgs, root, { PATH: process.env.PATH }).then((result) => ({ ...result, ms: Date.now() - preStopStarted }))
  const workdirOf = new Map<string, string>()
  const envOf = new Map<string, Record<string, string>>()

  for (const stage of stages) {
    let workdir = '/'
    const env: Record<string, string> = {}
    for (const instruction of stage.instructions) {
      const where = `${stage.name}, Dockerfile line ${instruction.line}: ${instruction.keyword} ${instruction.args}`
      const here = join(rootfs(stage.name), workdir)
      switch (instruction.keyword) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, instruction.args)
          mkdirSync(join(rootfs(stage.name), workdir), { recursive: true })
          break
        case 'ENV':
          Object.assign(env, parseEnv(instruction.args))
          break
        case 'COPY': {
          const parts = instruction.args.split(/\s+/)
          const from = parts.find((part) => part.startsWith('--from='))?.slice('--from='.length)
          const unknownFlags = parts.filter((part) => part.startsWith('--') && !part.startsWith('--from='))
          t.same(unknownFlags, [], `${where}: flags the replay knows`)
          const [dest, ...sources] = parts.filter((part) => !part.startsWith('--')).reverse()
          sources.reverse()
          const destination = posix.resolve(workdir, dest!)
          for (const source of sources) {
            const target = dest!.endsWith('/') || sources.length > 1 ? join(rootfs(stage.name), destination, basename(source)) : join(rootfs(stage.name), destination)
            if (from) {
              const origin = join(rootfs(from), posix.resolve(workdirOf.get(from) ?? '/', source))
              t.ok(existsSync(origin), `${where}: ${source} exists in stage ${from}`)
              cpSync(origin, target, { recursive: true })
            } else {
              t.ok(existsSync(join(REPO, source)), `${where}: ${source} exists in the repository`)
              t.ok(copyFiltered(join(REPO, source), target, posix.normalize(source), ignored) > 0, `${where}: ${source} is not excluded by .dockerignore`)
            }
          }
          break
        }
        case 'RUN': {
          const started = Date.now()
          const result = await run('/bin/sh', ['-c', instruction.args], here, { ...baseEnv, ...env })
          t.equal(result.code, 0, `${where} (${Date.now() - started} ms)`, { output: result.output.slice(-4000) })
          if (result.code !== 0) return
          break
        }
        case 'USER':
        case 'EXPOSE':
        case 'CMD':
        case 'LABEL':
          break
        default:
          t.fail(`${where}: an instruction the replay does not know; teach test/deploy/dockerfile.test.ts`)
      }
    }
    workdirOf.set(stage.name, workdir)
    envOf.set(stage.name, env)
  }

  // What the runtime stage holds.
  const app = join(rootfs(runtime.name), workdirOf.get(runtime.name)!)
  t.same(readdirSync(app).sort(), ['dist', 'node_modules', 'package.json'], 'the image holds dist, production node_modules and package.json only')
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  const devOnly = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && !path.includes('/node_modules/', 'node_modules/'.length) && entry.dev)
    .map(([path]) => path.slice('node_modules/'.length))
  const leaked = devOnly.filter((name) => existsSync(join(app, 'node_modules', name)))
  t.same(leaked, [], `no development dependency in the image (${devOnly.length} checked)`)
  t.notOk(existsSync(join(app, 'node_modules', 'oidc-provider')), "no oidc-provider in the image (the local demo's identity provider)")

  // dist/: the service only. The local demo, the benchmark and the load script live in dev/, run as
  // TypeScript from the repository and never built; nothing in dist/ may reach for them, or for any
  // package the image does not install.
  const distFiles: string[] = []
  const walkDist = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walkDist(path)
      else distFiles.push(relative(join(app, 'dist'), path))
    }
  }
  walkDist(join(app, 'dist'))
  t.ok(distFiles.includes('server.js'), `dist/ holds the build (${distFiles.length} files)`)
  t.same(distFiles.filter((file) => /(^|\/)(demo|bench|dev)(\/|\.|-|$)/.test(file)), [], 'no demo or bench file in dist/')
  const production = new Set(Object.keys((JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {}))
  const strays: string[] = []
  for (const file of distFiles.filter((name) => name.endsWith('.js'))) {
    const text = readFileSync(join(app, 'dist', file), 'utf8')
    const specifiers = [
      ...text.matchAll(/^\s*(?:import|export)\s+[\w$*\s{},]+?\s*from\s*(['"])([^'"]+)\1/gm), // import x from '…', export { x } from '…'
      ...text.matchAll(/^\s*import\s*(['"])([^'"]+)\1/gm), // import '…'
      ...text.matchAll(/\b(?:import|require)\s*\(\s*(['"])([^'"]+)\1\s*\)/g), // import('…'), require('…')
    ].map((match) => match[2]!)
    for (const specifier of specifiers) {
      if (specifier.startsWith('node:')) continue
      if (specifier.startsWith('./') || specifier.startsWith('../')) {
        if (!existsSync(join(app, 'dist', dirname(file), specifier))) strays.push(`${file}: ${specifier} (no such file in dist/)`)
        continue
      }
      const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/')
      if (!production.has(name)) strays.push(`${file}: ${specifier} (not a production dependency)`)
    }
  }
  t.same(strays, [], `every import in dist/ is a production dependency, a node: builtin or a file of dist/ (${[...production].sort().join(', ')})`)
  const assets: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (!name.endsWith('.ts')) assets.push(relative(join(REPO, 'src'), path))
    }
  }
  walk(join(REPO, 'src'))
  t.same(assets.filter((asset) => !existsSync(join(app, 'dist', asset))), [], `every non-TypeScript file of src/ is in dist/ (${assets.length})`)

  // Start it as the image would: node <CMD> in WORKDIR, the image's ENV, a minimal configuration.
  const checkPort = await freePort()
  const opsPort = await freePort()
  const cmd = JSON.parse(instructionsOf(runtime, 'CMD')[0]!.args) as string[]
  const child: ChildProcess = spawn(process.execPath, cmd, {
    cwd: app,
    env: {
      PATH: process.env.PATH,
      ...envOf.get(runtime.name),
      OIDC_PROVIDER: `http://127.0.0.1:${await freePort()}/dex`, // nothing there: the provider is down
      CLIENT_ID: 'kubeflow-oidc-authservice',
      CLIENT_SECRET: 'docker-replay-secret',
      SERVER_HOSTNAME: '127.0.0.1',
      SERVER_PORT: String(checkPort),
      READINESS_PROBE_PORT: String(opsPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })

  try {
    await waitUntil('the replayed image answering /healthz', async () => (await fetch(`http://127.0.0.1:${opsPort}/healthz`)).status === 200, { timeoutMs: 15_000 })
  } catch (error) {
    t.fail(`the runtime did not answer /healthz: ${(error as Error).message}`, { output: output.slice(-4000) })
    return
  }
  t.pass('/healthz answers 200 on the ops port')
  t.equal((await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status, 503, '/readyz: not ready while the provider was never reached')
  t.equal((await fetch(`http://127.0.0.1:${opsPort}/metrics`)).status, 200, '/metrics')
  const check = await fetch(`http://127.0.0.1:${checkPort}/api/x`, { headers: { accept: 'application/json' } })
  t.equal(check.status, 401, 'the check port answers (provider down: 401)')
  t.equal(check.headers.get('retry-after'), '5')

  // Memory after some traffic: well inside the Deployment's limit (this machine's Node, not the
  // image's, hence the margin).
  for (let i = 0; i < 200; i++) {
    await (await fetch(`http://127.0.0.1:${checkPort}/api/x`, { headers: { accept: 'application/json' } })).arrayBuffer()
  }
  const limitMiB = Number(/^(\d+)Mi$/.exec(deploymentYaml.spec.template.spec.containers[0].resources.limits.memory)?.[1])
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
  const [rss, peak] = ['VmRSS', 'VmHWM'].map((field) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024))
  t.comment(`resident memory after 200 checks: ${rss} MiB, peak ${peak} MiB (limit ${limitMiB} Mi)`)
  t.ok(peak! < limitMiB * 0.75, `peak resident memory ${peak} MiB is well below the ${limitMiB} Mi limit`)

  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  const [code, signal] = await exited
  clearTimeout(timer)
  t.same({ code, signal }, { code: 0, signal: null }, 'SIGTERM: drains and exits 0 (a rolling update)', { output: output.slice(-2000) })
  t.notMatch(output, /docker-replay-secret/, 'the client secret is never printed')

  const hook = await preStop
  t.equal(hook.code, 0, 'the preStop command is valid node', { output: hook.output })
  t.ok(hook.ms >= 4000 && hook.ms < 15_000, `the preStop command waits (${hook.ms} ms) before Kubernetes sends SIGTERM`)
})
