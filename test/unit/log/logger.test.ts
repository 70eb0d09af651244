/** Logs are JSON lines that never carry a token, cookie, code or secret, and show requests by path only. */
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mock } from 'node:test'
import t from 'tap'
import { ProviderUnavailableError } from '../../../src/errors.js'
import { bufferedStdout, createLogger, pathOnly, STDOUT_FLUSH_MS } from '../../../src/log/logger.js'
import { runToCompletion } from '../../helpers/peer-process.js'

/** A logger writing into memory; `lines()` parses what was written. */
function capture(level = 'info') {
  const written: string[] = []
  const logger = createLogger(level, { write: (line: string) => void written.push(line) })
  return {
    logger,
    raw: () => written.join(''),
    lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>),
  }
}

const SECRET = 'eyJhbGciOiJSUzI1NiJ9.SECRET-PAYLOAD.sig'

t.test('secrets are redacted wherever the redaction paths name them', async (t) => {
  const cases: [name: string, object: Record<string, unknown>, path: string[]][] = [
    ['a request Authorization header', { req: { method: 'GET', url: '/', headers: { authorization: `Bearer ${SECRET}` } } }, []],
    ['a request Cookie header', { req: { method: 'GET', url: '/', headers: { cookie: `authservice_session=${SECRET}` } } }, []],
    ['a request x-auth-token header', { req: { method: 'GET', url: '/', headers: { 'x-auth-token': SECRET } } }, []],
    ['a response Set-Cookie header', { res: { statusCode: 302, headers: { 'set-cookie': `authservice_session=${SECRET}` } } }, ['res', 'headers', 'set-cookie']],
    ['any authorization field', { headers: { authorization: `Bearer ${SECRET}` } }, ['headers', 'authorization']],
    ['any cookie field', { headers: { cookie: SECRET } }, ['headers', 'cookie']],
    ['a token', { credential: { token: SECRET } }, ['credential', 'token']],
    ['an access token', { tokens: { access_token: SECRET } }, ['tokens', 'access_token']],
    ['a refresh token', { tokens: { refresh_token: SECRET } }, ['tokens', 'refresh_token']],
    ['an ID token', { tokens: { id_token: SECRET } }, ['tokens', 'id_token']],
    ['an ID token in camel case', { identity: { userId: 'alice', idToken: SECRET } }, ['identity', 'idToken']],
    ['an authorization code', { query: { code: SECRET, state: 'st' } }, ['query', 'code']],
    ['a PKCE code verifier', { login: { code_verifier: SECRET } }, ['login', 'code_verifier']],
    ['a client secret (form field)', { form: { client_secret: SECRET } }, ['form', 'client_secret']],
    ['a client secret (config field)', { config: { clientId: 'kubeflow', clientSecret: SECRET } }, ['config', 'clientSecret']],
    ['session secrets', { config: { sessionSecrets: [SECRET] } }, ['config', 'sessionSecrets']],
    ['a password', { redis: { password: SECRET } }, ['redis', 'password']],
  ]
  for (const [name, object, path] of cases) {
    const { logger, raw, lines } = capture()
    logger.info(object, 'event')
    t.notMatch(raw(), 'SECRET-PAYLOAD', `${name}: the secret is not written`)
    if (path.length > 0) {
      const value = path.reduce<unknown>((at, key) => (at as Record<string, unknown>)[key], lines()[0])
      t.equal(value, '[Redacted]', `${name}: marked as redacted`)
    }
  }
})

t.test('redaction also applies to child loggers (per-request and per-component logs)', async (t) => {
  const { logger, raw, lines } = capture()
  logger.child({ component: 'callback' }).info({ callback: { query: { code: SECRET, state: 's' } } }, 'callback')
  t.notMatch(raw(), 'SECRET-PAYLOAD')
  t.match(lines()[0], { component: 'callback', callback: { query: { code: '[Redacted]', state: 's' } } })
})

t.test('a request is logged by method and path, never its query string or headers', async (t) => {
  const { logger, raw, lines } = capture()
  logger.info({ req: { id: 'req-1', method: 'GET', url: `/authservice/oidc/callback?code=${SECRET}&state=abc`, headers: { host: 'kf' } } }, 'request')
  t.notMatch(raw(), 'SECRET-PAYLOAD')
  t.notMatch(raw(), 'state=abc')
  t.same(lines()[0]!.req, { id: 'req-1', method: 'GET', path: '/authservice/oidc/callback' })
})

t.test('every line is JSON with the service name, level, time and message', async (t) => {
  const { logger, lines } = capture()
  logger.info({ outcome: 'allow' }, 'decision')
  t.match(lines()[0], { service: 'authservice', level: 30, time: Number, msg: 'decision', outcome: 'allow' })
})

t.test('errors are logged with type, message and stack', async (t) => {
  const { logger, lines } = capture()
  logger.error({ err: new TypeError('boom') }, 'check failed; denying')
  t.match(lines()[0], { err: { type: 'TypeError', message: 'boom', stack: /TypeError: boom/ } })
})

t.test("an error's stable code stays readable in the log", async (t) => {
  const cases: [name: string, error: Error, code: string][] = [
    ['an AuthServiceError', new ProviderUnavailableError(), 'ERR_PROVIDER_UNAVAILABLE'],
    ['a Node system error', Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5556'), { code: 'ECONNREFUSED' }), 'ECONNREFUSED'],
  ]
  for (const [name, error, code] of cases) {
    const { logger, lines } = capture()
    logger.warn({ err: error }, 'identity provider not reachable yet; retrying')
    t.equal((lines()[0]!.err as Record<string, unknown>).code, code, name)
  }
})

t.test('LOG_LEVEL decides which lines are written', async (t) => {
  const warn = capture('warn')
  warn.logger.info('not written')
  warn.logger.debug('not written')
  warn.logger.warn('written')
  warn.logger.error('written too')
  t.same(warn.lines().map((line) => line.msg), ['written', 'written too'])

  const silent = capture('silent')
  silent.logger.fatal('not written')
  t.equal(silent.raw(), '', 'silent writes nothing')
})

t.test('without a destination the logger still honours LOG_LEVEL', async (t) => {
  const logger = createLogger('warn')
  t.notOk(logger.isLevelEnabled('info'))
  t.ok(logger.isLevelEnabled('warn'))
})

t.test('creating a logger adds no exit listener: only the process entry buffers standard output', async (t) => {
  const before = process.listenerCount('exit')
  createLogger('info')
  createLogger('info')
  t.equal(process.listenerCount('exit'), before)
})

t.test('standard output is written in 4 KiB batches, and a quiet logger still flushes within a second', async (t) => {
  const file = join(t.testdir(), 'stdout')
  const fd = openSync(file, 'w')
  t.teardown(() => closeSync(fd))
  // The flush timer on a mocked clock: STDOUT_FLUSH_MS passes without waiting for it.
  mock.timers.enable({ apis: ['setInterval'] })
  t.teardown(() => mock.timers.reset())
  const logger = createLogger('info', bufferedStdout(fd))
  logger.info({ outcome: 'allow' }, 'decision')
  mock.timers.tick(STDOUT_FLUSH_MS - 1)
  t.equal(readFileSync(file, 'utf8'), '', 'one line waits in the buffer (no write per line)')
  mock.timers.tick(1)
  t.match(readFileSync(file, 'utf8'), /"msg":"decision"/, 'it is written within STDOUT_FLUSH_MS')
  for (let i = 0; i < 100; i++) logger.info({ outcome: 'allow', i }, 'decision')
  // Synchronously, by the line that fills the buffer: a stalled reader pushes back, memory stays bounded.
  t.ok(readFileSync(file, 'utf8').split('\n').length > 50, 'a burst over 4 KiB is written at once, before the next tick')
})

t.test('the last batch reaches standard output when the process ends, and a closed output does not hold the exit', async (t) => {
  const child = fileURLToPath(new URL('../../fixtures/log-then-exit.ts', import.meta.url))
  const runChild = async (mode: string) => {
    const file = join(t.testdir(), `stdout-${mode}`)
    const fd = openSync(file, 'w')
    try {
      // A hang is caught by our own timeout, not tap's, so the failure names it.
      const result = await runToCompletion(process.execPath, [...process.execArgv, child, '3', mode], { fd3: fd, timeoutMs: 20_000 })
      return { ...result, written: readFileSync(file, 'utf8') }
    } finally {
      closeSync(fd)
    }
  }
  const normal = await runChild('normal')
  t.equal(normal.code, 0, 'the process exits 0')
  t.match(normal.written, /"msg":"authservice stopped"/, 'its last line, still in the batch, is written at exit')
  const closed = await runChild('close-output-first')
  t.notOk(closed.timedOut, 'a closed output does not keep the process from exiting')
  t.equal(closed.code, 0, 'and it exits 0')
})

t.test('pathOnly drops the query string', async (t) => {
  const cases: [input: string | undefined, expected: string][] = [
    ['/authservice/oidc/callback?code=abc&state=def', '/authservice/oidc/callback'],
    ['/notebooks', '/notebooks'],
    ['/a?b?c', '/a'],
    ['/a?', '/a'],
    ['?code=abc', ''],
    ['', ''],
    [undefined, ''],
  ]
  for (const [input, expected] of cases) t.equal(pathOnly(input), expected, `${String(input)} → ${expected}`)
})
