/**
 * The pino logger options: JSON lines, and nothing secret ever written. Tokens, cookies, codes and
 * secrets are redacted wherever they could appear, and requests are logged by path only — the
 * query string can hold an authorization code or state (the OIDC callback).
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino'

export const REDACTED_PATHS = [
  'authorization',
  'cookie',
  'token',
  'idToken',
  'password',
  'client_secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-auth-token"]',
  'res.headers["set-cookie"]',
  '*.authorization',
  '*.cookie',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.idToken',
  // OAuth authorization codes travel in query strings; `*.code` would also hide error codes.
  '*.query.code',
  'query.code',
  '*.code_verifier',
  '*.client_secret',
  '*.clientSecret',
  '*.sessionSecrets',
  '*.password',
]

/** The path of a request target, without its query string. */
export function pathOnly(url: string | undefined): string {
  if (url === undefined) return ''
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[Redacted]' },
    serializers: {
      req: (req: { method?: string; url?: string; id?: unknown }) => ({ id: req.id, method: req.method, path: pathOnly(req.url) }),
      err: pino.stdSerializers.err,
    },
    base: { service: 'authservice' },
  }
}

/** How long a line may wait in the stdout buffer when traffic is too light to fill it. */
export const STDOUT_FLUSH_MS = 1_000

/**
 * Standard output, buffered — for the process entry (server.ts) only, once per process: it starts a
 * flush timer and adds an exit listener, which a library must never do behind its caller's back.
 * Lines are written 4 KiB at a time (or every STDOUT_FLUSH_MS), not one
 * write(2) per check — the per-line write was ~7 % of a cached check's CPU (npm run bench -- --profile). The
 * 4 KiB write is synchronous (pino's default mode): sonic-boom's asynchronous mode hands each write
 * to the libuv thread pool and keeps appending to a growing buffer meanwhile, which cost 3× the CPU
 * per line (1.9 vs 0.6 µs; `--profile` showed ~14 % of a cached check in it). A stalled log reader
 * therefore slows the service down (back-pressure) instead of growing its memory without bound.
 * The batch is flushed when the process exits, so a crash or SIGTERM loses nothing.
 */
export function bufferedStdout(fd = 1): DestinationStream {
  const stream = pino.destination({ dest: fd, sync: true, minLength: 4096 })
  setInterval(() => stream.flush(), STDOUT_FLUSH_MS).unref()
  // pino registers its exit flush for asynchronous destinations only: the tail of the batch
  // (the "stopped" line among it) would be lost on a normal exit. `flush()` of a sync destination
  // writes at once; `flushSync()` is not used because sonic-boom 4 retries it forever on an error
  // such as EBADF, which would turn a closed stdout into a process that never exits.
  process.once('exit', () => flushAtExit(stream))
  return stream
}

/**
 * A logger on `destination`; by default standard output, one synchronous write per line (no timer,
 * no exit listener: creating a logger changes nothing about the process). The service's entry passes
 * bufferedStdout() instead.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino(loggerOptions(level), destination)
}

function flushAtExit(stream: DestinationStream & { flush(): void }): void {
  try {
    stream.flush()
  } catch {
    // The output is gone (closed descriptor): there is nobody left to tell.
  }
}
