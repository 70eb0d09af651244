/**
 * The demo's own settings: environment variables (`DEMO_*`) or the matching flags
 * (`--port 8001`, `--gateway=builtin`, …); a flag wins over the variable. Every problem is
 * reported at once, naming the variable to change.
 */

export type GatewayChoice = 'auto' | 'envoy' | 'builtin'

export interface DemoSetting {
  readonly name: string
  readonly flag: string
  readonly default: string | undefined
  readonly description: string
}

export const PORT_SETTINGS = {
  DEMO_PORT: 'port',
  DEMO_IDP_PORT: 'idpPort',
  DEMO_APP_PORT: 'appPort',
  DEMO_SERVER_PORT: 'serverPort',
  DEMO_READINESS_PROBE_PORT: 'readinessProbePort',
} as const
export type PortName = keyof typeof PORT_SETTINGS

const setting = (name: string, dflt: string | undefined, description: string): DemoSetting => ({
  name,
  flag: `--${name.replace(/^DEMO_/, '').toLowerCase().replace(/_/g, '-')}`,
  default: dflt,
  description,
})

export const DEMO_SETTINGS: readonly DemoSetting[] = [
  setting('DEMO_PORT', '8000', 'The gateway: the one URL to open in the browser. 0 picks a free port.'),
  setting('DEMO_IDP_PORT', '5556', 'The demo identity provider (issuer http://127.0.0.1:<port>/dex, like Kubeflow\'s Dex).'),
  setting('DEMO_APP_PORT', '8090', 'The upstream app that shows the identity headers.'),
  setting('DEMO_SERVER_PORT', '8080', 'The authservice check (SERVER_PORT).'),
  setting('DEMO_READINESS_PROBE_PORT', '8081', 'The authservice /healthz, /readyz and /metrics (READINESS_PROBE_PORT).'),
  setting('DEMO_GATEWAY', 'auto', 'envoy (real Envoy, required), builtin (the development gateway) or auto (Envoy when found).'),
  setting('DEMO_ENVOY', undefined, 'Path of the envoy binary; default: envoy on PATH, then the one `npm test` installs.'),
  setting('DEMO_ADMIN_PASSWORD', undefined, 'Password of admin@example.com; default: generated and printed.'),
  setting('DEMO_LOG_LEVEL', 'info', 'The service\'s LOG_LEVEL (one JSON line per decision at info).'),
]

export interface DemoOptions {
  readonly ports: Readonly<Record<PortName, number>>
  readonly gateway: GatewayChoice
  readonly envoyPath: string | undefined
  readonly adminPassword: string | undefined
  readonly logLevel: string
  readonly help: boolean
}

export type DemoOptionsResult = { ok: true; options: DemoOptions } | { ok: false; problems: string[] }

/** Reads the flags (over) the environment; ports must be 0-65535 and, when not 0, all different. */
export function readDemoOptions(env: Readonly<Record<string, string | undefined>>, argv: readonly string[]): DemoOptionsResult {
  const problems: string[] = []
  const values = new Map<string, string>()
  for (const item of DEMO_SETTINGS) {
    const value = env[item.name]
    if (value !== undefined && value !== '') values.set(item.name, value)
  }
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      help = true
      continue
    }
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    const item = DEMO_SETTINGS.find((candidate) => candidate.flag === flag)
    if (!item) {
      problems.push(`unknown argument ${JSON.stringify(arg)} (see --help)`)
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined) problems.push(`${flag} needs a value`)
    else values.set(item.name, value)
  }
  const get = (name: string) => values.get(name) ?? DEMO_SETTINGS.find((item) => item.name === name)!.default

  const ports = {} as Record<PortName, number>
  for (const name of Object.keys(PORT_SETTINGS) as PortName[]) {
    const text = get(name)!
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
    if (!(port >= 0 && port <= 65535)) problems.push(`${name}: must be a port number (0-65535, 0 = any free port), got ${JSON.stringify(text)}`)
    ports[name] = port
  }
  const seen = new Map<number, PortName>()
  for (const name of Object.keys(PORT_SETTINGS) as PortName[]) {
    const port = ports[name]
    if (!(port > 0)) continue
    const other = seen.get(port)
    if (other) problems.push(`${name}: port ${port} is already used by ${other}; give each a different port`)
    else seen.set(port, name)
  }
  const gateway = get('DEMO_GATEWAY')!
  if (gateway !== 'auto' && gateway !== 'envoy' && gateway !== 'builtin') {
    problems.push(`DEMO_GATEWAY: must be auto, envoy or builtin, got ${JSON.stringify(gateway)}`)
  }
  const logLevel = get('DEMO_LOG_LEVEL')!
  if (problems.length > 0) return { ok: false, problems }
  return {
    ok: true,
    options: {
      ports,
      gateway: gateway as GatewayChoice,
      envoyPath: get('DEMO_ENVOY'),
      adminPassword: get('DEMO_ADMIN_PASSWORD'),
      logLevel,
      help,
    },
  }
}

export function demoHelp(): string {
  const lines = [
    'npm run demo [-- options]',
    '',
    'Starts, on 127.0.0.1 only: a development identity provider shaped like Kubeflow\'s Dex, the',
    'authservice, a small app, and a gateway in front of them (Envoy when installed, else a built-in',
    'development gateway). Development only. Ctrl-C stops everything.',
    '',
    'Settings (environment variable, or the flag; the flag wins):',
  ]
  for (const item of DEMO_SETTINGS) {
    lines.push(`  ${item.name} / ${item.flag}${item.default === undefined ? '' : `  (default ${item.default})`}`)
    lines.push(`      ${item.description}`)
  }
  return `${lines.join('\n')}\n`
}
