/**
 * The whole local demo, on 127.0.0.1: the development identity provider (idp.ts), the authservice
 * itself (createService with a config loaded from a demo environment, exactly as server.ts loads
 * one), the upstream app (app.ts) and a gateway in front — real Envoy when it is installed, else the
 * built-in development gateway. Ports are checked before anything starts.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { systemClock } from '../../src/clock.js'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import { ConfigError } from '../../src/errors.js'
import { createLogger } from '../../src/log/logger.js'
import { createService, type Service } from '../../src/service.js'
import { startDemoApp, type DemoApp } from './app.js'
import { startDevGateway } from './dev-gateway.js'
import { findEnvoy, startEnvoyGateway } from './envoy-gateway.js'
import { startDemoIdp, type DemoIdp, type DemoUser } from './idp.js'
import { HOST, probePort } from './net.js'
import { PORT_SETTINGS, type DemoOptions, type PortName } from './options.js'

export const CLIENT_ID = 'kubeflow-oidc-authservice'
export const URL_PREFIX = '/authservice/'

/** Kubeflow's default user (no groups) and an administrator. */
export function demoUsers(adminPassword: string): DemoUser[] {
  return [
    { email: 'user@example.com', password: '12341234', id: '15841185641784', name: 'Demo User', groups: [] },
    { email: 'admin@example.com', password: adminPassword, id: '15841185641785', name: 'Demo Admin', groups: ['kubeflow-admins'] },
  ]
}

/** A problem the person running the demo can fix (a busy port, no Envoy): printed without a stack. */
export class DemoSetupError extends Error {}

/** Probes every configured port at once; 0 becomes a free port. Throws naming each busy port and its variable. */
export async function reservePorts(ports: Readonly<Record<PortName, number>>): Promise<Record<PortName, number>> {
  const resolved = {} as Record<PortName, number>
  const problems: string[] = []
  for (const name of Object.keys(PORT_SETTINGS) as PortName[]) {
    const probe = await probePort(ports[name])
    if (probe.ok) resolved[name] = probe.port
    else {
      const why = probe.code === 'EADDRINUSE' ? 'is already in use' : `cannot be used (${probe.code})`
      problems.push(`port ${ports[name]} on ${HOST} ${why}: set ${name} to a free port (or 0 for any), e.g. ${name}=${ports[name] + 1} npm run demo`)
    }
  }
  if (problems.length > 0) throw new DemoSetupError(problems.join('\n'))
  return resolved
}

/** The environment a Kubeflow operator would set, pointed at the demo's identity provider. */
export function demoEnvironment(ports: Readonly<Record<PortName, number>>, clientSecret: string, logLevel: string): Record<string, string> {
  return {
    OIDC_PROVIDER: `http://${HOST}:${ports.DEMO_IDP_PORT}/dex`,
    OIDC_AUTH_URL: '/dex/auth',
    OIDC_SCOPES: 'profile email groups',
    CLIENT_ID,
    CLIENT_SECRET: clientSecret,
    // oidc-provider takes only absolute redirect URIs: Kubeflow's relative one, on the demo's origin.
    REDIRECT_URL: `http://${HOST}:${ports.DEMO_PORT}${URL_PREFIX}oidc/callback`,
    AUTHSERVICE_URL_PREFIX: URL_PREFIX,
    SKIP_AUTH_URLS: '/dex',
    AFTER_LOGOUT_URL: '/',
    SET_AUTHORIZATION_HEADER: 'true',
    SESSION_SECRETS: randomBytes(32).toString('base64'),
    SERVER_HOSTNAME: HOST,
    SERVER_PORT: String(ports.DEMO_SERVER_PORT),
    READINESS_PROBE_PORT: String(ports.DEMO_READINESS_PROBE_PORT),
    LOG_LEVEL: logLevel,
  }
}

export interface RunningDemo {
  readonly url: string
  readonly issuer: string
  readonly users: readonly DemoUser[]
  readonly gateway: string
  readonly ports: Readonly<Record<PortName, number>>
  readonly config: Config
  readonly ready: boolean
  close(): Promise<void>
}

export interface DemoDependencies {
  readonly env: Readonly<Record<string, string | undefined>>
  /** Where messages for the person go (the banner is printed by the caller). */
  readonly info: (line: string) => void
}

export async function startDemo(options: DemoOptions, deps: DemoDependencies): Promise<RunningDemo> {
  let envoy: ReturnType<typeof findEnvoy>
  if (options.gateway !== 'builtin') {
    envoy = findEnvoy(deps.env, options.envoyPath)
    if (!envoy && (options.gateway === 'envoy' || options.envoyPath)) {
      throw new DemoSetupError(
        options.envoyPath
          ? `DEMO_ENVOY: ${options.envoyPath} is not an executable file`
          : 'DEMO_GATEWAY=envoy, but no envoy binary was found: install Envoy, set DEMO_ENVOY to its path, or use DEMO_GATEWAY=builtin',
      )
    }
  }
  const ports = await reservePorts(options.ports)
  const adminPassword = options.adminPassword ?? randomBytes(9).toString('base64url')
  const users = demoUsers(adminPassword)
  const clientSecret = randomBytes(24).toString('base64url')
  const env = demoEnvironment(ports, clientSecret, options.logLevel)
  let loaded
  try {
    loaded = loadConfig(env, (path) => readFileSync(path, 'utf8'))
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    // Only DEMO_LOG_LEVEL reaches the service's configuration unchecked.
    throw new DemoSetupError(error.problems.map((problem) => problem.replace(/^LOG_LEVEL:/, 'DEMO_LOG_LEVEL:')).join('\n'))
  }
  const { config, warnings } = loaded

  const stack: Array<() => Promise<void>> = []
  const closeAll = async () => {
    for (const close of stack.splice(0).reverse()) await close().catch(() => undefined)
  }
  try {
    const idp: DemoIdp = await startDemoIdp({
      port: ports.DEMO_IDP_PORT,
      clientId: CLIENT_ID,
      clientSecret,
      redirectUris: [config.redirectUrl],
      users,
      hint: `Demo users: user@example.com / 12341234, admin@example.com / ${adminPassword}`,
    })
    stack.push(() => idp.close())

    const app: DemoApp = await startDemoApp({
      port: ports.DEMO_APP_PORT,
      userIdHeader: config.userIdHeader,
      groupsHeader: config.groupsHeader,
      logoutPath: `${URL_PREFIX}logout`,
    })
    stack.push(() => app.close())

    const logger = createLogger(config.logLevel)
    // The http:// issuer warning is expected here; the others would still be worth seeing.
    for (const warning of warnings) if (!warning.startsWith('OIDC_PROVIDER:')) logger.warn(warning)
    const service: Service = createService(config, { logger, clock: systemClock, fetch: (url, init) => fetch(url, init) })
    stack.push(() => service.close())
    await service.checkApp.listen({ host: HOST, port: config.serverPort })
    await service.opsApp.listen({ host: HOST, port: config.readinessProbePort })
    await service.startIssuers()

    let gateway: string
    if (envoy) {
      const running = await startEnvoyGateway({
        envoyPath: envoy.path,
        port: ports.DEMO_PORT,
        checkPort: config.serverPort,
        upstreamPort: app.port,
        idpPort: idp.port,
      })
      stack.push(() => running.close())
      gateway = `Envoy ${running.version} (${envoy.path}, from ${envoy.source})`
    } else {
      const running = await startDevGateway({
        port: ports.DEMO_PORT,
        checkPort: config.serverPort,
        upstreamPort: app.port,
        idpPort: idp.port,
        onError: (error) => deps.info(`development gateway: ${error instanceof Error ? error.message : String(error)}`),
      })
      stack.push(() => running.close())
      const why = options.gateway === 'builtin' ? 'DEMO_GATEWAY=builtin' : 'Envoy not found'
      gateway = `the built-in DEVELOPMENT gateway (${why}; it follows Envoy's ext_authz HTTP contract, for trying things only)`
    }
    return {
      url: `http://${HOST}:${ports.DEMO_PORT}/`,
      issuer: idp.issuer,
      users,
      gateway,
      ports,
      config,
      ready: service.isReady(),
      close: closeAll,
    }
  } catch (error) {
    await closeAll()
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new DemoSetupError(`a port was taken while the demo started: ${(error as Error).message}; try again or choose other ports`)
    }
    throw error
  }
}
