/**
 * A real redis-server (Debian's) on an ephemeral loopback port, without persistence by default;
 * optionally over TLS, with an ACL user, or with more arguments (a replica, a Cluster node).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { connect as tlsConnect } from 'node:tls'
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
  /** Kills the server (SIGKILL: no shutdown, no save), as a crash or a lost node would. */
  kill(): Promise<void>
  start(): Promise<void>
  /** Stops the server and removes its directory. */
  close(): Promise<void>
}

/** How to reach a server: its port, over TLS when `ca` (PEM) is given. */
export interface RedisEndpoint {
  readonly port: number
  readonly ca?: string | undefined
}

/** Sends one command in RESP and returns the first reply line (enough for PING, AUTH, DBSIZE, …). */
export function redisCommand(endpoint: number | RedisEndpoint, ...args: string[]): Promise<string> {
  const { port, ca } = typeof endpoint === 'number' ? { port: endpoint, ca: undefined } : endpoint
  return new Promise((resolve, reject) => {
    const socket = ca === undefined ? createConnection({ host: '127.0.0.1', port }) : tlsConnect({ host: '127.0.0.1', port, ca })
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

/** Server TLS files (test/helpers/tls-certs.ts): TLS only, on the server's port; clients need no certificate. */
export interface RedisTls {
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
  /** The CA certificate, PEM. */
  readonly ca: string
}

export interface RedisOptions extends Pick<PeerProcessOptions, 'prefix'> {
  persist?: boolean
  /** requirepass (the default user's password). */
  password?: string
  /** An ACL user as redis.conf's `user` takes it, one word per entry: `['authservice', 'on', '>pw', '~*', '+@all']`. */
  aclUser?: readonly string[]
  /** Serve TLS instead of plain TCP on the port. */
  tls?: RedisTls
  /** More server arguments (`--replicaof 127.0.0.1 <port>`, cluster settings, …). */
  args?: readonly string[]
}

export async function startRedis(options: RedisOptions = {}): Promise<Redis> {
  const binary = installedPeer('redis')
  // Port 0 would disable TCP in Redis, so pick a free port first.
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'authservice-redis-'))
  const { tls, aclUser } = options
  const args = [
    ...(tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no']
      : ['--port', String(port)]),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', options.persist ? '1 1' : '',
    '--appendonly', options.persist ? 'yes' : 'no',
    ...(options.password ? ['--requirepass', options.password] : []),
    ...(aclUser ? ['--user', ...aclUser] : []),
    ...(options.args ?? []),
  ]
  const endpoint = { port, ca: tls?.ca }
  const aclPassword = aclUser?.find((word) => word.startsWith('>'))?.slice(1)
  let peer: PeerProcess | undefined
  const start = async () => {
    peer = startPeerProcess('redis', binary, args, { prefix: options.prefix })
    const ping = aclUser ? ['AUTH', aclUser[0] as string, aclPassword ?? ''] : options.password ? ['AUTH', options.password] : ['PING']
    await waitUntil(`redis on ${port}`, async () => (await redisCommand(endpoint, ...ping)).startsWith('+'))
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    command: (...commandArgs) => redisCommand(endpoint, ...commandArgs),
    output: () => peer?.output() ?? '',
    pid: () => (peer?.alive() ? peer.child.pid : undefined),
    stop: async () => {
      await peer?.stop()
    },
    kill: async () => {
      peer?.child.kill('SIGKILL')
      await peer?.stop()
    },
    start,
    close: async () => {
      await peer?.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
