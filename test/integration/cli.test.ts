// The built binary's command line (`node dist/server.js <command>`, what `authservice` runs):
// the help lists every variable, hash-password's hashes log in to real Dex, explain exits 0/1/2/3 and never echoes a token given on stdin, check-config reports
// a real Dex's issuer and keys and fails on a closed port, an unknown command is a usage error.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import bcrypt from 'bcryptjs'
import { describeVariables } from '../../src/config/schema.js'
import { startDex } from '../helpers/dex.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { freePort } from '../helpers/ports.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer } from '../helpers/test-issuer.js'

const entry = new URL('../../dist/server.js', import.meta.url).pathname
const built = existsSync(entry) ? false : 'dist/server.js missing: run `npm run build` (npm test does)'
if (built && process.env.CI === 'true') throw new Error(built)

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the built binary with only `env` (plus PATH) and `input` on standard input. */
async function authservice(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  const child = spawn(process.execPath, [entry, ...args], {
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

t.test('--help lists every environment variable of describeVariables() and the commands', { skip: built }, async (t) => {
  const run = await authservice(['--help'])
  t.equal(run.code, 0)
  t.equal(run.stderr, '')
  const lines = run.stdout.split('\n')
  for (const variable of describeVariables()) {
    const heading = lines.find((line) => line === `  ${variable.name}` || line.startsWith(`  ${variable.name}  (`))
    t.ok(heading, `${variable.name} is listed`)
    if (variable.default && !variable.secret) t.match(heading ?? '', `default: ${variable.default}`, `with its default`)
  }
  for (const command of ['serve', 'check-config', 'hash-password']) t.match(run.stdout, `  ${command}`)
  t.same((await authservice(['help'])).stdout, run.stdout, '`help` prints the same')
  t.match((await authservice(['--version'])).stdout, /^authservice \d+\.\d+\.\d+\n$/)
})

t.test('an unknown command: exit 2, a short error and the usage on stderr', { skip: built }, async (t) => {
  const run = await authservice(['frobnicate'])
  t.equal(run.code, 2)
  t.equal(run.stdout, '')
  t.match(run.stderr, 'authservice: unknown command "frobnicate"')
  t.match(run.stderr, 'Usage: authservice [command]')
})

t.test('hash-password: a bcrypt hash that verifies, and that real Dex accepts for a login', { skip: built || skipUnlessPeers('dex') }, async (t) => {
  const piped = await authservice(['hash-password'], { input: 'correct horse battery\n' })
  t.equal(piped.code, 0, piped.stderr)
  const hash = piped.stdout.trim()
  t.match(hash, /^\$2[ab]\$10\$/, 'cost 10, $2a$/$2b$')
  t.equal(piped.stdout, `${hash}\n`, 'only the hash on stdout')
  t.ok(await bcrypt.compare('correct horse battery', hash), 'verifies with bcryptjs')
  t.notOk(await bcrypt.compare('correct horse battery\n', hash), 'the newline is not part of the password')

  const given = await authservice(['hash-password', 'another-password'])
  t.equal(given.code, 0)
  t.ok(await bcrypt.compare('another-password', given.stdout.trim()))
  t.match(given.stderr, /shell history/)

  const empty = await authservice(['hash-password'], { input: '\n' })
  t.equal(empty.code, 1)
  t.equal(empty.stdout, '')

  const dex = await startDex({
    users: [
      { email: 'cli@example.com', password: 'correct horse battery', hash, username: 'cli', userID: '70000000000001' },
      // Dex must really use the given hash: this one is of another password.
      { email: 'wrong@example.com', password: 'correct horse battery', hash: given.stdout.trim(), username: 'wrong', userID: '70000000000002' },
    ],
  })
  t.teardown(() => dex.stop())
  const tokens = await dex.passwordGrant('cli@example.com', 'openid email')
  t.type(tokens.id_token, 'string', 'Dex logs the user in with the CLI’s hash')
  await t.rejects(dex.passwordGrant('wrong@example.com', 'openid email'), /password grant failed: 401/, 'and refuses a password the hash is not of')
})

t.test('check-config against real Dex: exit 0, the issuer, endpoints and every kid; no secret', { skip: built || skipUnlessPeers('dex') }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const run = await authservice(['check-config'], {
    env: { OIDC_PROVIDER: dex.issuer, OIDC_AUTH_URL: '/dex/auth', CLIENT_ID: dex.clientId, CLIENT_SECRET: dex.clientSecret },
  })
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.match(run.stdout, `issuer         ${dex.issuer}`)
  t.match(run.stdout, `token          ${dex.issuer}/token`)
  const { keys } = (await (await fetch(`${dex.issuer}/keys`)).json()) as { keys: Array<{ kid: string; alg: string }> }
  t.ok(keys.length > 0)
  for (const key of keys) t.match(run.stdout, `kid ${key.kid}  alg ${key.alg}`, `lists kid ${key.kid}`)
  t.match(run.stdout, 'Usable')
  t.notMatch(run.stdout + run.stderr, dex.clientSecret, 'the client secret is never printed')
})

t.test('check-config against a closed port: exit 1 naming the problem', { skip: built }, async (t) => {
  const port = await freePort()
  const run = await authservice(['check-config'], {
    env: { OIDC_PROVIDER: `http://127.0.0.1:${port}/dex`, CLIENT_ID: 'kubeflow-oidc-authservice', CLIENT_SECRET: 'do-not-print-me' },
  })
  t.equal(run.code, 1)
  t.match(run.stdout, 'discovery      FAILED')
  t.match(run.stdout, /ECONNREFUSED/)
  t.match(run.stdout, 'Not usable')
  t.notMatch(run.stdout + run.stderr, 'do-not-print-me')

  const invalid = await authservice(['check-config'], { env: { CLIENT_SECRET: 'do-not-print-me' } })
  t.equal(invalid.code, 1)
  t.match(invalid.stdout, 'problem: OIDC_PROVIDER: required')
  t.notMatch(invalid.stdout + invalid.stderr, 'do-not-print-me')
})

t.test('explain: exit 0 allowed, 1 denied, 2 usage or configuration error, 3 provider unreachable; a token on stdin is never echoed', { skip: built }, async (t) => {
  const issuer = await startTestIssuer({ path: '/dex' })
  t.teardown(() => issuer.close())
  const env = { OIDC_PROVIDER: issuer.issuer, CLIENT_ID: KUBEFLOW_CLIENT_ID, CLIENT_SECRET: 'do-not-print-me-0123456789', SKIP_AUTH_URLS: '/dex,/public' }
  const url = 'https://kubeflow.example.com/pipeline/apis/v2beta1/runs'
  const valid = await issuer.sign({ email: 'alice@example.com', groups: ['team-a'] })
  const expired = await issuer.sign({ email: 'alice@example.com', iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })

  const allowed = await authservice(['explain', '-H', '@-', url], { env, input: `Authorization: Bearer ${valid}\n` })
  t.equal(allowed.code, 0, allowed.stdout + allowed.stderr)
  t.match(allowed.stdout, 'Verdict      ALLOWED')
  t.match(allowed.stdout, 'kubeflow-userid: alice@example.com')

  const denied = await authservice(['explain', '-H', '@-', url], { env, input: `Authorization: Bearer ${expired}\n` })
  t.equal(denied.code, 1)
  t.match(denied.stdout, /ERR_TOKEN_EXPIRED — expired at/)
  for (const [token, run] of [[valid, allowed], [expired, denied]] as const) {
    t.notMatch(run.stdout + run.stderr, token.split('.')[2]!, 'the token given on stdin is not echoed')
    t.notMatch(run.stdout + run.stderr, token.split('.')[1]!, 'nor its claims part')
  }
  t.notMatch(allowed.stdout + denied.stdout, 'do-not-print-me')

  const skipped = await authservice(['explain', '/public/page'], { env })
  t.equal(skipped.code, 0, 'a skip path')
  t.match(skipped.stdout, 'matches SKIP_AUTH_URLS entry /public')

  const usage = await authservice(['explain', '--frobnicate', url], { env })
  t.equal(usage.code, 2)
  t.match(usage.stderr, 'unknown option "--frobnicate"')
  const noUrl = await authservice(['explain'], { env })
  t.equal(noUrl.code, 2)
  const invalid = await authservice(['explain', url], { env: { CLIENT_SECRET: 'do-not-print-me' } })
  t.equal(invalid.code, 2)
  t.match(invalid.stderr, 'OIDC_PROVIDER: required')
  t.notMatch(invalid.stderr, 'do-not-print-me')

  const port = await freePort()
  const unreachable = await authservice(['explain', '-H', '@-', url], { env: { ...env, OIDC_PROVIDER: `http://127.0.0.1:${port}/dex` }, input: `authorization: Bearer ${valid}\n` })
  t.equal(unreachable.code, 3, 'undecidable while the provider cannot be reached')
  t.match(unreachable.stdout, 'could not be reached')

  const help = await authservice(['explain', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, 'kubectl -n istio-system exec -i deploy/authservice')
})
