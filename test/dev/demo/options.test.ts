// The demo's settings: DEMO_* variables or flags (the flag wins), ports checked for range and
// clashes, every problem reported at once naming the variable.
import t from 'tap'
import { DEMO_SETTINGS, demoHelp, readDemoOptions } from '../../../dev/demo/options.js'

t.test('defaults: the ports of the README, auto gateway, info logs', async (t) => {
  const read = readDemoOptions({}, [])
  t.ok(read.ok)
  if (!read.ok) return
  t.same(read.options, {
    ports: { DEMO_PORT: 8000, DEMO_IDP_PORT: 5556, DEMO_APP_PORT: 8090, DEMO_SERVER_PORT: 8080, DEMO_READINESS_PROBE_PORT: 8081 },
    gateway: 'auto',
    envoyPath: undefined,
    adminPassword: undefined,
    logLevel: 'info',
    help: false,
  })
})

t.test('variables, then flags over them (--flag value and --flag=value)', async (t) => {
  const read = readDemoOptions(
    { DEMO_PORT: '9000', DEMO_IDP_PORT: '0', DEMO_APP_PORT: '', DEMO_GATEWAY: 'envoy', DEMO_ENVOY: '/opt/envoy', DEMO_ADMIN_PASSWORD: 'pw', DEMO_LOG_LEVEL: 'warn' },
    ['--port', '9001', '--gateway=builtin', '--server-port=0', '--readiness-probe-port', '0'],
  )
  t.ok(read.ok)
  if (!read.ok) return
  t.same(read.options.ports, { DEMO_PORT: 9001, DEMO_IDP_PORT: 0, DEMO_APP_PORT: 8090, DEMO_SERVER_PORT: 0, DEMO_READINESS_PROBE_PORT: 0 }, '0 may repeat; empty = default')
  t.equal(read.options.gateway, 'builtin')
  t.equal(read.options.envoyPath, '/opt/envoy')
  t.equal(read.options.adminPassword, 'pw')
  t.equal(read.options.logLevel, 'warn')
})

t.test('--help and -h ask for the help', async (t) => {
  for (const flag of ['--help', '-h']) {
    const read = readDemoOptions({}, [flag])
    t.ok(read.ok && read.options.help)
  }
})

t.test('every problem at once, naming the variable', async (t) => {
  const read = readDemoOptions(
    { DEMO_PORT: '8000', DEMO_APP_PORT: '8000', DEMO_IDP_PORT: '70000', DEMO_SERVER_PORT: 'http', DEMO_GATEWAY: 'nginx' },
    ['--bogus', '--envoy'],
  )
  t.notOk(read.ok)
  if (read.ok) return
  t.same(read.problems, [
    'unknown argument "--bogus" (see --help)',
    '--envoy needs a value',
    'DEMO_IDP_PORT: must be a port number (0-65535, 0 = any free port), got "70000"',
    'DEMO_SERVER_PORT: must be a port number (0-65535, 0 = any free port), got "http"',
    'DEMO_APP_PORT: port 8000 is already used by DEMO_PORT; give each a different port',
    'DEMO_GATEWAY: must be auto, envoy or builtin, got "nginx"',
  ])
})

t.test('the help names every setting, its flag and its default', async (t) => {
  const help = demoHelp()
  for (const setting of DEMO_SETTINGS) {
    t.match(help, `${setting.name} / ${setting.flag}`)
    if (setting.default !== undefined) t.match(help, `(default ${setting.default})`)
    t.match(help, setting.description)
  }
  t.match(help, 'DEMO_IDP_PORT / --idp-port  (default 5556)')
  t.match(help, 'DEMO_ENVOY / --envoy\n')
})
