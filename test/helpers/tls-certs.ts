/**
 * A throwaway certificate authority and a server certificate for 127.0.0.1 and localhost, made with
 * the openssl command line (node:crypto cannot issue X.509 certificates), for peers that serve TLS
 * (Redis). The files live in a temporary directory removed by `remove()`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installedPeer } from './peer-manifest.js'
import { runToCompletion } from './peer-process.js'

export interface TlsFiles {
  readonly dir: string
  /** The CA certificate, PEM, and its file. */
  readonly ca: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
  remove(): void
}

export async function makeTlsFiles(): Promise<TlsFiles> {
  const openssl = installedPeer('openssl')
  const dir = mkdtempSync(join(tmpdir(), 'authservice-tls-'))
  const file = (name: string) => join(dir, name)
  const run = async (...args: string[]) => {
    const { code, output } = await runToCompletion(openssl, args, { timeoutMs: 30_000 })
    if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${output}`)
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await run('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=authservice test CA')
  await run('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1')
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  await run('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext'))
  return {
    dir,
    ca: readFileSync(file('ca.crt'), 'utf8'),
    caFile: file('ca.crt'),
    certFile: file('server.crt'),
    keyFile: file('server.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
