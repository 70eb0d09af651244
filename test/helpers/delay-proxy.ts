/**
 * A loopback TCP proxy that can make a peer slow, silent or unreachable without touching it: every
 * byte the peer sends back is held for `delayMs` (order kept), `hang` forwards requests but never
 * an answer, `refuse` closes each new connection at once. Used in front of Dex to push its answers
 * past the service's own 3 s timeouts (discovery, keys, token endpoint) while Envoy waits 5 s.
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export type ProxyMode = 'pass' | 'hang' | 'refuse'

export interface DelayProxy {
  readonly port: number
  /** Delay added to every chunk of the peer's answers (0 = none). */
  setDelay(ms: number): void
  setMode(mode: ProxyMode): void
  /** Connections accepted so far. */
  connections(): number
  /** Drops every open connection (a peer restart as seen by keep-alive clients). */
  dropConnections(): void
  close(): Promise<void>
}

export async function startDelayProxy(targetPort: number, options: { port?: number } = {}): Promise<DelayProxy> {
  let delayMs = 0
  let mode: ProxyMode = 'pass'
  let accepted = 0
  const open = new Set<Socket>()

  const server: Server = createServer((client) => {
    accepted++
    if (mode === 'refuse') {
      client.destroy()
      return
    }
    open.add(client)
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort })
    open.add(upstream)
    let releaseAt = 0
    const timers = new Set<NodeJS.Timeout>()
    const closeBoth = () => {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on('data', (chunk) => upstream.write(chunk))
    upstream.on('data', (chunk) => {
      if (mode === 'hang') return // swallowed: the client waits for an answer that never comes
      const now = Date.now()
      releaseAt = Math.max(releaseAt, now + delayMs)
      const wait = releaseAt - now
      if (wait <= 0) {
        client.write(chunk)
        return
      }
      const timer = setTimeout(() => {
        timers.delete(timer)
        if (!client.destroyed) client.write(chunk)
      }, wait)
      timers.add(timer)
    })
    // The peer finished: close towards the client only after the delayed bytes went out.
    upstream.on('end', () => {
      const wait = Math.max(0, releaseAt - Date.now())
      const timer = setTimeout(() => {
        timers.delete(timer)
        client.end()
      }, wait)
      timers.add(timer)
    })
    client.on('end', () => upstream.end())
    client.on('error', closeBoth)
    upstream.on('error', closeBoth)
    client.on('close', closeBoth)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve())
  })

  return {
    port: (server.address() as AddressInfo).port,
    setDelay(ms) {
      delayMs = ms
    },
    setMode(next) {
      mode = next
    },
    connections: () => accepted,
    dropConnections() {
      for (const socket of open) socket.destroy()
      open.clear()
    },
    close() {
      for (const socket of open) socket.destroy()
      open.clear()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
