/**
 * Where the real peers live. `test/peers/install.sh` (run by `npm test`'s pretest) installs them
 * and writes a manifest in the user's cache directory; this module reads it.
 *
 * In CI (`CI=true`) a missing peer throws, so the run fails naming the install step. Elsewhere it
 * returns a skip reason that the caller hands to `t.test(name, { skip })` and that tap prints.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

export type PeerName = 'envoy' | 'dex' | 'redis' | 'redis-sentinel' | 'openssl' | 'chromium' | 'kustomize' | 'helm' | 'promtool' | 'oauth2-proxy'

interface PeerEntry {
  path: string | null
  version: string
}

export function peerManifestPath(): string {
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(cacheHome, 'authservice-peers', 'peers.json')
}

function readManifest(): Partial<Record<PeerName, PeerEntry>> {
  try {
    return JSON.parse(readFileSync(peerManifestPath(), 'utf8')) as Partial<Record<PeerName, PeerEntry>>
  } catch {
    return {}
  }
}

export class MissingPeerError extends Error {
  readonly code = 'ERR_TEST_PEER_MISSING'
}

/** The peer's executable as the manifest records it, or undefined; never throws (for the local demo). */
export function recordedPeerPath(name: PeerName): string | undefined {
  return readManifest()[name]?.path ?? undefined
}

/** The peer's executable, or throws (CI) / returns undefined (elsewhere) when it is not installed. */
export function peerPath(name: PeerName): string | undefined {
  const path = recordedPeerPath(name)
  if (path) return path
  const message =
    `${name} is not installed: run "bash test/peers/install.sh" (npm test runs it as pretest)` +
    ` — manifest ${peerManifestPath()}`
  if (process.env.CI === 'true') throw new MissingPeerError(message)
  return undefined
}

export function peerVersion(name: PeerName): string {
  return readManifest()[name]?.version ?? 'missing'
}

/** `false` when every named peer is installed, else a loud skip reason (never in CI: it throws). */
export function skipUnlessPeers(...names: PeerName[]): false | string {
  const missing = names.filter((name) => peerPath(name) === undefined)
  return missing.length === 0 ? false : `SKIPPED, peer not installed: ${missing.join(', ')}`
}

/** Like peerPath, for code that runs only after skipUnlessPeers said the peer is there. */
export function installedPeer(name: PeerName): string {
  const path = peerPath(name)
  if (!path) throw new MissingPeerError(`${name} is not installed`)
  return path
}
