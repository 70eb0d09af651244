/** A real redis-server (Debian's) on an ephemeral loopback port, without persistence by default. */
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installedPeer } from './peer-manifest.js'
import { startPeerProcess, type PeerProcess, type PeerProcessOptions } from './peer-process.js'
import { freePort } from './ports.js'
import { waitUntil } from './wait.js'

export interface Redis {
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  /** host:port, the form SESSION_STORE_REDIS_ADDR takes. */
  readonly address: string
  command(...args: string[]): Promise<string>
  output(): string
  /** The running server's pid (undefined while stopped). */
  pid(): number | undefined
  /** Stops the server; `start()` brings it back on the same port (with the same data if persisted). */
  stop(): Promise<void>
  start(): Promise<void>
  /** Stops the server and removes its directory. */
  close(): Promise<void>
}

/** Sends one command in RESP and returns the first reply line (enough for PING, DBSIZE, …). */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.setTimeout(2_000, () => socket.destroy(new Error('redis command timed out')))
    let reply = ''
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8')
      if (reply.includes('\r\n')) {
        socket.end()
        resolve(reply.split('\r\n')[0] ?? '')
      }
    })
    socket.on('error', reject)
    socket.write(`*${args.length}\r\n` + args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join(''))
  })
}

export async function startRedis(
  options: { persist?: boolean; password?: string } & Pick<PeerProcessOptions, 'prefix'> = {},
): Promise<Redis> {
  const binary = installedPeer('redis')
  // Port 0 would disable TCP in Redis, so pick a free port first.
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'authservice-redis-'))
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', options.persist ? '1 1' : '',
    '--appendonly', options.persist ? 'yes' : 'no',
    ...(options.password ? ['--requirepass', options.password] : []),
  ]
  let peer: PeerProcess | undefined
  const start = async () => {
    peer = startPeerProcess('redis', binary, args, { prefix: options.prefix })
    const ping = options.password ? ['AUTH', options.password] : ['PING']
    await waitUntil(`redis on ${port}`, async () => (await redisCommand(port, ...ping)).startsWith('+'))
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    command: (...commandArgs) => redisCommand(port, ...commandArgs),
    output: () => peer?.output() ?? '',
    pid: () => (peer?.alive() ? peer.child.pid : undefined),
    stop: async () => {
      await peer?.stop()
    },
    start,
    close: async () => {
      await peer?.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
