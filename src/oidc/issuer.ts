/**
 * An issuer we accept tokens from: its discovery (openid-client's, discovery.ts; retried here with
 * backoff until it succeeds, as openid-client does not retry) and its key set. Owns its retry
 * timer; `close()` stops it.
 */
import type { Clock } from '../clock.js'
import { ProviderUnavailableError } from '../errors.js'
import type { Fetch } from './fetch.js'
import { discover, type ProviderMetadata } from './discovery.js'
import { createKeySet, type KeySet } from './key-set.js'

export interface Issuer {
  readonly issuer: string
  /** Discovery done and keys loaded at least once. */
  isReady(): boolean
  metadata(): ProviderMetadata | undefined
  readonly keys: KeySet
  /** Starts discovery (and retries); resolves after the first attempt, whatever its outcome. */
  start(): Promise<void>
  close(): void
}

export interface IssuerOptions {
  issuer: string
  fetch: Fetch
  clock: Clock
  /** Extra request headers for discovery and keys (a service-account token for the Kubernetes issuer). */
  headers?: () => Record<string, string>
  /**
   * Keys from this URL, with no discovery (the Kubernetes API server's `/openid/v1/jwks`): a
   * discovery document's `jwks_uri` may name a host the pod cannot or must not reach.
   */
  jwksUri?: string
  onError?: (error: unknown, retryInMs: number) => void
  onReady?: () => void
  retry?: { initialMs: number; maxMs: number }
}

export function createIssuer(options: IssuerOptions): Issuer {
  let metadata: ProviderMetadata | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let delayMs = options.retry?.initialMs ?? 1_000
  const maxDelayMs = options.retry?.maxMs ?? 30_000
  const keys = createKeySet({
    jwksUri: () => metadata?.jwks_uri,
    fetch: options.fetch,
    clock: options.clock,
    headers: options.headers,
  })

  async function attempt(): Promise<void> {
    try {
      metadata ??= options.jwksUri
        ? { issuer: options.issuer, jwks_uri: options.jwksUri }
        : await discover({ issuer: options.issuer, fetch: options.fetch, headers: options.headers })
      await keys.refresh()
      options.onReady?.()
    } catch (error) {
      if (closed) return
      const retryInMs = delayMs
      // Scheduled before onError runs, so a close() from inside onError cancels it.
      timer = setTimeout(() => void attempt(), retryInMs)
      timer.unref()
      delayMs = Math.min(delayMs * 2, maxDelayMs)
      options.onError?.(error instanceof ProviderUnavailableError ? error : new ProviderUnavailableError(undefined, { cause: error }), retryInMs)
    }
  }

  return {
    issuer: options.issuer,
    keys,
    isReady: () => metadata !== undefined && keys.hasKeys(),
    metadata: () => metadata,
    start: attempt,
    close() {
      closed = true
      clearTimeout(timer)
    },
  }
}
