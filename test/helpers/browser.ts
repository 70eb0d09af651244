/**
 * Debian's Chromium driven by playwright-core. The flags keep it off the network (this machine's
 * network is closed: background services would only produce refused connections) and headless as
 * root. Playwright gives every launch a fresh, temporary --user-data-dir.
 */
import { chromium, type Browser } from 'playwright-core'
import { installedPeer } from './peer-manifest.js'

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: installedPeer('chromium'),
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: 30_000,
  })
}
