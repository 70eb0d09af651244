/**
 * `authservice explain`: replays one request against the configuration the service runs with — the
 * same environment and loader (config/load.ts), the same composition (service.ts) with the live
 * provider for discovery and keys and the configured session store — through the check's replay
 * (check/handle.ts createReplayer: the pipeline's dry run, so no refresh, no token-endpoint call, no
 * session write or delete), and prints the verdict with every reason (explain-reasons.ts).
 *
 * Exit: 0 allowed or skipped, 1 denied (401, 403, a login redirect, or one of authservice's own
 * endpoints), 2 usage or configuration error, 3 undecidable (provider or session store unreachable,
 * or a log line whose credential was not given).
 */
import type { Clock } from '../clock.js'
import { loadConfig, type Env, type ReadFile } from '../config/load.js'
import { ConfigError } from '../errors.js'
import { createLogger } from '../log/logger.js'
import type { Fetch } from '../oidc/fetch.js'
import { createService, type KubernetesCredentials } from '../service.js'
import { compareWithLog, withLoggedKind } from './explain-log.js'
import { ExplainUsageError, readExplainInput } from './explain-input.js'
import { explain } from './explain-reasons.js'
import { renderText } from './explain-render.js'
import { explainUsage } from './help.js'

export interface ExplainIo {
  readonly env: Env
  readonly readFile: ReadFile
  readonly fetch: Fetch
  readonly clock: Clock
  /** How to reach the Kubernetes API as this pod, when in a cluster (service-account tokens). */
  readonly kubernetes?: KubernetesCredentials
  out(text: string): void
  err(text: string): void
  /** All of standard input (for `-H @-` and `--log-line -`). */
  readStdin(): Promise<string>
  /** How long the provider's first discovery and keys may take (default 10 s). */
  readonly startTimeoutMs?: number
}

/** Resolves after `promise` or `ms`, whichever comes first (the timer is cleared when the promise wins). */
function settleWithin(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    void promise.then(() => {
      clearTimeout(timer)
      resolve()
    })
  })
}

export async function explainCommand(argv: readonly string[], io: ExplainIo): Promise<number> {
  let input
  let loaded
  try {
    input = await readExplainInput(argv, () => io.readStdin())
    loaded = loadConfig(io.env, io.readFile)
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`authservice explain: the configuration is invalid:\n${error.problems.map((problem) => `  ${problem}\n`).join('')}`)
      return 2
    }
    if (!(error instanceof ExplainUsageError)) throw error
    io.err(`authservice explain: ${error.message}\n\n${explainUsage()}`)
    return 2
  }
  const { config } = loaded
  const service = createService(config, { logger: createLogger('silent'), clock: io.clock, fetch: io.fetch, kubernetes: io.kubernetes })
  try {
    await settleWithin(service.startIssuers(), io.startTimeoutMs ?? 10_000)
    const replayed = withLoggedKind(input)
    const replay = await service.replay({
      method: replayed.method,
      // As Envoy sends it: CHECK_PATH_PREFIX, then the client's path and query.
      target: `${config.checkPathPrefix}${replayed.target}`,
      headers: replayed.headers,
      ...(replayed.scheme ? { scheme: replayed.scheme } : {}),
    })
    const context = { config, nowMs: io.clock.now(), jwksUri: service.primaryIssuer.metadata()?.jwks_uri, providerReady: service.isReady() }
    const explanation = compareWithLog(explain(replayed, replay, context), input, replayed)
    io.out(input.json ? `${JSON.stringify(explanation, null, 2)}\n` : renderText(explanation))
    return explanation.exitCode
  } finally {
    await service.close()
  }
}
