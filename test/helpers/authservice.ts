/**
 * Runs the real service in-process (createService with a config loaded from an env map, exactly
 * as server.ts does) on ephemeral loopback ports, and captures every log line it writes so tests
 * can assert on decisions and on what must never be logged.
 */
import { Writable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { systemClock, type Clock } from '../../src/clock.js'
import { loadConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import { createLogger } from '../../src/log/logger.js'
import type { Fetch } from '../../src/oidc/fetch.js'
import { createService, type KubernetesCredentials, type Service } from '../../src/service.js'
import { kubeflowParams, type Provider } from '../fixtures/config.js'

export interface RunningAuthservice {
  readonly service: Service
  readonly config: Config
  /** http://127.0.0.1:<check port> */
  readonly checkUrl: string
  readonly checkPort: number
  /** http://127.0.0.1:<ops port> */
  readonly opsUrl: string
  /** Every JSON log line written so far, parsed. */
  logs(): Array<Record<string, unknown>>
  /** The raw log text (for "no secret appears anywhere" assertions). */
  rawLogs(): string
  close(): Promise<void>
}

export interface StartOptions {
  clock?: Clock
  /** The fetch the service calls the provider with (default: the global fetch), e.g. to doctor its answers. */
  fetch?: Fetch
  /** How the service reaches the Kubernetes API (KUBERNETES_TOKENS): a test API server's credentials. */
  kubernetes?: KubernetesCredentials
  /** Wait until discovery and keys loaded (default true). */
  waitReady?: boolean
}

export async function startAuthservice(env: Record<string, string>, options: StartOptions = {}): Promise<RunningAuthservice> {
  const { config } = loadConfig({ LOG_LEVEL: 'info', ...env }, () => {
    throw new Error('tests pass no files')
  })
  let raw = ''
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw += chunk.toString('utf8')
      done()
    },
  })
  const logger = createLogger(config.logLevel, sink)
  const service = createService(config, { logger, clock: options.clock ?? systemClock, fetch: options.fetch ?? ((url, init) => fetch(url, init)), kubernetes: options.kubernetes })
  await service.checkApp.listen({ host: '127.0.0.1', port: 0 })
  await service.opsApp.listen({ host: '127.0.0.1', port: 0 })
  const started = service.startIssuers()
  if (options.waitReady !== false) await started
  const checkPort = (service.checkApp.server.address() as AddressInfo).port
  const opsPort = (service.opsApp.server.address() as AddressInfo).port
  return {
    service,
    config,
    checkPort,
    checkUrl: `http://127.0.0.1:${checkPort}`,
    opsUrl: `http://127.0.0.1:${opsPort}`,
    rawLogs: () => raw,
    logs: () =>
      raw
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    close: () => service.close(),
  }
}

/** The env a Kubeflow operator sets for oidc-authservice, pointed at a test Dex. */
export function kubeflowEnv(dex: Provider): Record<string, string> {
  // `/public`: a skip path that the test gateways route to the echo upstream (Kubeflow's `/dex` goes to
  // Dex), so a test can see what a skip path forwards.
  return { ...kubeflowParams(dex), SKIP_AUTH_URLS: '/dex,/public', SERVER_PORT: '8080', READINESS_PROBE_PORT: '8081' }
}
