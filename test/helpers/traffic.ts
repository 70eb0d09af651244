/**
 * Bounded traffic for fault tests: requests with a hard timeout (a hang is a finding, not a stuck
 * test), a pool of workers that stops on a condition, a deadline or a request budget — whichever
 * comes first — and the one classification every fault test needs: did the answer come from us,
 * or is it Envoy's bare 403 (the ext_authz call failed: a 5xx, a reset or a timeout on our side)?
 */
import { request as httpRequest, Agent } from 'node:http'

export interface Answer {
  readonly label: string
  /** 0 when no answer came (connection error or timeout). */
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  readonly startedAt: number
  readonly ms: number
  readonly error?: string
  header(name: string): string | undefined
  setCookies(): string[]
}

export interface SendOptions {
  method?: string
  headers?: Record<string, string | string[]>
  timeoutMs?: number
  agent?: Agent
  label?: string
  body?: string
  /** Largest response head accepted; default 256 KiB (a browser's limit, above Node's 16 KiB). */
  maxHeaderSize?: number
}

/** One HTTP/1.1 request with exactly these headers; never rejects, never waits past timeoutMs. */
export function send(url: string, options: SendOptions = {}): Promise<Answer> {
  const startedAt = Date.now()
  const label = options.label ?? ''
  const timeoutMs = options.timeoutMs ?? 10_000
  return new Promise((resolve) => {
    let settled = false
    const finish = (status: number, headers: Answer['headers'], body: string, error?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({
        label,
        status,
        headers,
        body,
        startedAt,
        ms: Date.now() - startedAt,
        ...(error === undefined ? {} : { error }),
        header: (name) => {
          const value = headers[name.toLowerCase()]
          return Array.isArray(value) ? value.join(', ') : value
        },
        setCookies: () => {
          const value = headers['set-cookie']
          return Array.isArray(value) ? value : value === undefined ? [] : [value]
        },
      })
    }
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, maxHeaderSize: options.maxHeaderSize ?? 256 * 1024, ...(options.agent ? { agent: options.agent } : {}) }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (body.length < 1_000_000) body += chunk
      })
      res.on('end', () => finish(res.statusCode ?? 0, res.headers, body))
      res.on('error', (error) => finish(0, {}, body, error.message))
    })
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    req.on('error', (error) => finish(0, {}, '', error.message))
    req.end(options.body)
  })
}

/** Envoy's own 403 after a failed ext_authz call: no body, none of the headers every answer of ours carries. */
export function isBare403(answer: Pick<Answer, 'status' | 'body' | 'header'>): boolean {
  return answer.status === 403 && answer.body === '' && answer.header('cache-control') === undefined
}

/** An answer the service produced (through Envoy: the upstream's 200 after our allow, or our deny). */
export function isOurs(answer: Pick<Answer, 'status' | 'body' | 'header'>): boolean {
  if (answer.status === 0 || answer.status >= 500 || isBare403(answer)) return false
  return true
}

export interface WorkerLimits {
  /** Hard stop, in ms from now. */
  readonly maxMs: number
  /** Hard stop, requests per worker. */
  readonly maxPerWorker: number
  /** Soft stop, polled between requests. */
  readonly stop?: () => boolean
}

/** Runs `workers` loops of `work` until a limit says stop; returns every answer, in completion order. */
export async function runWorkers<T>(workers: number, limits: WorkerLimits, work: (worker: number, iteration: number) => Promise<T>): Promise<T[]> {
  const deadline = Date.now() + limits.maxMs
  const results: T[] = []
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; i < limits.maxPerWorker && Date.now() < deadline && !(limits.stop?.() ?? false); i++) {
        results.push(await work(worker, i))
      }
    }),
  )
  return results
}

/** Counts by a key, for readable failure messages ("{ '200': 40, '403 bare': 2 }"). */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1
  return counts
}

/** "200", "401", "403 bare", "0 (error)" */
export const statusKey = (answer: Answer) => (answer.status === 0 ? `0 (${answer.error ?? 'no answer'})` : isBare403(answer) ? '403 bare' : String(answer.status))

/** Collects unhandled rejections of this process (the in-process service's) while a test runs. */
export function watchUnhandledRejections(): { readonly reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = []
  const listener = (reason: unknown) => reasons.push(reason)
  process.on('unhandledRejection', listener)
  return { reasons, stop: () => process.off('unhandledRejection', listener) }
}
