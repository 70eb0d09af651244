/**
 * The benchmark's Dex-shaped issuer: the tests' own (test/helpers/test-issuer.ts) at
 * `http://127.0.0.1:<ephemeral>/dex`, with tokens valid for an hour so that a whole run stays valid,
 * and the tens of thousands of distinct tokens the cache-miss and memory runs walk through.
 */
import { KUBEFLOW_CLIENT_ID, startTestIssuer, type TestIssuer } from '../../../test/helpers/test-issuer.js'

export const CLIENT_ID = KUBEFLOW_CLIENT_ID

export function startIssuer(): Promise<TestIssuer> {
  return startTestIssuer({ path: '/dex', tokenLifetimeSeconds: 3600 })
}

/**
 * `count` distinct valid tokens (a distinct `jti` each), signed in parallel batches: WebCrypto signs
 * on libuv's thread pool, so 20,000 take seconds, not minutes. `onProgress(done)` is told every few thousand.
 */
export async function distinctTokens(issuer: TestIssuer, count: number, onProgress?: (done: number) => void): Promise<string[]> {
  const tokens: string[] = []
  const batch = 512
  for (let start = 0; start < count; start += batch) {
    const end = Math.min(count, start + batch)
    const signing: Array<Promise<string>> = []
    for (let i = start; i < end; i++) signing.push(issuer.sign({ jti: `bench-${i}` }))
    tokens.push(...(await Promise.all(signing)))
    if (onProgress && (end % 4096 < batch || end === count)) onProgress(end)
  }
  return tokens
}
