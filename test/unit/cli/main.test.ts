// `authservice <command>`: serve by default, help and version, the commands, and exit 2 with the
// usage for anything unknown.
import t from 'tap'
import bcrypt from 'bcryptjs'
import { runCli, type CliIo } from '../../../src/cli/main.js'
import { describeVariables } from '../../../src/config/schema.js'

function cli(input = '') {
  const out: string[] = []
  const err: string[] = []
  const fetched: string[] = []
  const io: CliIo = {
    env: { OIDC_PROVIDER: 'http://127.0.0.1:5556/dex', CLIENT_ID: 'kubeflow-oidc-authservice', CLIENT_SECRET: 'secret' },
    readFile: () => {
      throw new Error('no files')
    },
    fetch: async (url) => {
      fetched.push(url)
      throw new TypeError('fetch failed')
    },
    version: '1.2.3',
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    readLine: async () => input,
    readStdin: async () => input,
    clock: { now: () => Date.now() },
  }
  return { io, out: () => out.join(''), err: () => err.join(''), fetched }
}

t.test('no command, or serve, runs the service', async (t) => {
  t.equal(await runCli([], cli().io), 'serve')
  t.equal(await runCli(['serve'], cli().io), 'serve')
  const extra = cli()
  t.equal(await runCli(['serve', '--port=1'], extra.io), 2, 'serve takes no arguments')
  t.match(extra.err(), 'serve: unexpected argument "--port=1"')
})

t.test('help, --help and -h print the generated help, anywhere on the line', async (t) => {
  for (const argv of [['help'], ['--help'], ['-h'], ['check-config', '--help'], ['bogus', '-h']]) {
    const run = cli()
    t.equal(await runCli(argv, run.io), 0, argv.join(' '))
    for (const variable of describeVariables()) t.match(run.out(), variable.name)
    t.equal(run.err(), '')
  }
})

t.test('version, --version and -v print the version', async (t) => {
  for (const argv of [['version'], ['--version'], ['-v']]) {
    const run = cli()
    t.equal(await runCli(argv, run.io), 0)
    t.equal(run.out(), 'authservice 1.2.3\n')
  }
})

t.test('check-config runs against the environment and reports through out', async (t) => {
  const run = cli()
  t.equal(await runCli(['check-config'], run.io), 1, 'the provider cannot be reached')
  t.same(run.fetched, ['http://127.0.0.1:5556/dex/.well-known/openid-configuration'])
  t.match(run.out(), 'Not usable')
  const extra = cli()
  t.equal(await runCli(['check-config', 'now'], extra.io), 2)
  t.same(extra.fetched, [], 'a usage error contacts nothing')
})

t.test('hash-password takes the argument or standard input, nothing more', async (t) => {
  const given = cli()
  t.equal(await runCli(['hash-password', 'pw-from-arg'], given.io), 0)
  t.ok(await bcrypt.compare('pw-from-arg', given.out().trim()))
  const piped = cli('pw-from-stdin')
  t.equal(await runCli(['hash-password'], piped.io), 0)
  t.ok(await bcrypt.compare('pw-from-stdin', piped.out().trim()))
  const extra = cli()
  t.equal(await runCli(['hash-password', 'a', 'b'], extra.io), 2)
  t.match(extra.err(), 'hash-password: unexpected argument "b"')
  t.equal(extra.out(), '')
})

t.test('an unknown command: a short error, the usage, exit 2', async (t) => {
  const run = cli()
  t.equal(await runCli(['frobnicate'], run.io), 2)
  t.match(run.err(), /^authservice: unknown command "frobnicate"\n\nUsage: authservice \[command\]/)
  t.match(run.err(), 'check-config')
  t.match(run.err(), 'authservice --help')
  t.notMatch(run.err(), 'OIDC_PROVIDER', 'the short usage, not the whole variable list')
  t.equal(run.out(), '')
  t.equal(await runCli(['--frobnicate'], cli().io), 2, 'an unknown option too')
})

t.test('explain: its own help, and the command with its arguments', async (t) => {
  const help = cli()
  t.equal(await runCli(['explain', '--help'], help.io), 0)
  t.match(help.out(), /^Usage: authservice explain /)
  const run = cli()
  t.equal(await runCli(['explain', '--bogus'], run.io), 2, 'explain parses its own arguments')
  t.match(run.err(), 'authservice explain: unknown option "--bogus"')
})
