/** Listening, closing and port probing for the demo's servers; everything binds 127.0.0.1 only. */
import type { Server } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'

export const HOST = '127.0.0.1'

/** Listens on HOST:port (0 = any free port) and resolves with the port. */
export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, HOST, () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** Stops accepting, ends idle and open connections, resolves once closed. */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

/**
 * Whether HOST:port can be bound right now, and the port actually bound (port 0 = a free port
 * chosen by the system). The error code (EADDRINUSE, EACCES, …) when it cannot.
 */
export function probePort(port: number): Promise<{ ok: true; port: number } | { ok: false; code: string }> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, code: String(error.code) }))
    probe.listen({ port, host: HOST, exclusive: true }, () => {
      const bound = (probe.address() as AddressInfo).port
      probe.close(() => resolve({ ok: true, port: bound }))
    })
  })
}
