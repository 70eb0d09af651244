// Smoke test: Debian's Chromium, driven by playwright-core, loads a loopback page and the test reads its DOM.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { launchBrowser } from '../helpers/browser.js'
import { peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'

t.test('Chromium renders a page served on loopback', { skip: skipUnlessPeers('chromium') }, async (t) => {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' })
    response.end('<!doctype html><title>bench</title><p id="greeting">hello from loopback</p><script>document.getElementById("greeting").dataset.ran = "yes"</script>')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  t.comment(`chromium ${peerVersion('chromium')} (browser reports ${browser.version()})`)
  const page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  t.equal(await page.textContent('#greeting'), 'hello from loopback')
  t.equal(await page.getAttribute('#greeting', 'data-ran'), 'yes', 'scripts run')
})
