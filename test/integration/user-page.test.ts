// The user's own page end to end, in both Kubeflow settings (test/helpers/kubeflow-settings.ts: the
// rendered overlay's configuration with USER_PAGE_API_TOKEN=true, its ext_authz filter, real Envoy,
// real Dex, real Chromium): log in, open <prefix>me, read who you are, copy the API token, call a
// KFP-style API with it from outside the browser, log out, and the page asks for a login again.
// UPDATE_SCREENSHOTS=1 saves the page (≥ 1.9 setting) to docs/user-page.png for the README.
import t from 'tap'
import { join } from 'node:path'
import { headerValues, SETTINGS, signIn, startSetting, USER } from '../helpers/kubeflow-settings.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { rawRequest } from '../helpers/raw-request.js'
import { waitUntil } from '../helpers/wait.js'

const skip = skipUnlessPeers('kustomize', 'dex', 'envoy', 'chromium')

const KFP_API = '/pipeline/apis/v2beta1/runs?namespace=kubeflow-user-example-com'
const SCREENSHOT = join(import.meta.dirname, '..', '..', 'docs', 'user-page.png')

for (const setting of SETTINGS) {
  t.test(setting.title, { skip }, async (t) => {
    const { prefix, cookieName, upstream, authservice, envoy, page, sessionCookie } = await startSetting(t, setting, { USER_PAGE_API_TOKEN: 'true' })
    const me = `${prefix}me`
    let token = ''

    await t.test(`log in, then ${me} shows who you are`, async (t) => {
      await page.goto(`${envoy.url}${me}`)
      t.ok(await page.locator('input[name="login"]').isVisible(), 'no session: the normal login')
      await signIn(page, envoy.url, me)
      const answer = await page.reload()
      t.equal(answer?.status(), 203, 'answered by the service (203), never forwarded')
      const headers = answer!.headers()
      t.equal(headers['cache-control'], 'no-store')
      t.match(headers['content-security-policy'], /frame-ancestors 'none'/, 'the policy reaches the browser through the gateway')
      t.equal(await page.textContent('#user'), USER.email)
      t.same(await page.locator('dd code').allTextContents(), USER.groups.split(','), 'the groups')
      t.match(await page.textContent('#expires'), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/, 'when the session ends')
      t.ok(await page.locator('#logout').isVisible(), 'a Log out button')
      t.equal(upstream.received.filter((echoed) => echoed.path.startsWith(prefix)).length, 0, 'the upstream never saw the page')
    })

    await t.test(`${prefix}userinfo answers oauth2-proxy's JSON to a script with the session`, async (t) => {
      const cookie = `${cookieName}=${(await sessionCookie())!.value}`
      const answer = await rawRequest(`${envoy.url}${prefix}userinfo`, { headers: { accept: 'application/json', cookie } })
      t.equal(answer.status, 203)
      t.match(JSON.parse(answer.body), { user: USER.email, email: USER.email, groups: USER.groups.split(',') })
      t.equal((await rawRequest(`${envoy.url}${prefix}userinfo`, { headers: { accept: 'application/json' } })).status, 401, 'without a session: 401')
      const crossSite = await rawRequest(`${envoy.url}${me}/token`, { method: 'POST', headers: { cookie, 'x-requested-with': 'x', origin: 'https://evil.example' } })
      t.equal(crossSite.status, 403, 'the token is not handed to another origin')
    })

    await t.test('copy the API token and call a KFP-style API with it from outside the browser', async (t) => {
      await page.click('#copy-token')
      await page.locator('#curl-example').waitFor({ state: 'visible' })
      const curl = (await page.textContent('#curl-example'))!
      const bearer = /Authorization: Bearer (\S+)"/.exec(curl)
      t.ok(bearer, 'a curl example with the token')
      token = bearer![1]!
      t.equal(curl, `curl -H "Authorization: Bearer ${token}" ${envoy.url}/pipeline/apis/v2beta1/runs`)
      t.equal(await page.textContent('#kfp-example'), `kfp.Client(host="${envoy.url}/pipeline", existing_token="${token}")`)
      t.match(await page.textContent('#token-expiry'), /^This token expires at \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$/)
      t.ok(await page.locator('#token-status').isVisible(), 'copied, or told where to copy it from')
      t.notOk(page.url().includes(token), 'the token is not in the URL')

      const before = upstream.received.length
      const answer = await rawRequest(`${envoy.url}${KFP_API}`, { headers: { accept: 'application/json', authorization: `Bearer ${token}` } })
      t.equal(answer.status, 200, 'the API call goes through')
      t.equal(upstream.received.length, before + 1)
      t.same(headerValues(upstream.received.at(-1), 'kubeflow-userid'), [USER.email], 'the upstream saw kubeflow-userid')
      t.notMatch(authservice.rawLogs(), token.split('.')[2]!, 'the token is never logged')

      if (process.env.UPDATE_SCREENSHOTS === '1' && prefix === '/oauth2/') {
        // The example lines keep the token's start only: a screenshot holds no credential.
        await page.evaluate((value) => {
          for (const id of ['kfp-example', 'curl-example']) {
            const node = document.getElementById(id)!
            node.textContent = node.textContent!.replace(value, `${value.slice(0, 16)}…`)
          }
        }, token)
        await page.screenshot({ path: SCREENSHOT, fullPage: true })
      }
    })

    await t.test('log out: the page asks for a login again', async (t) => {
      // The button posts the logout, then goes to the afterLogoutURL it was answered.
      await Promise.all([page.waitForURL((url) => url.pathname !== me), page.click('#logout')])
      await waitUntil('the session cookie to go', async () => (await sessionCookie()) === undefined, { timeoutMs: 30_000 })
      await page.goto(`${envoy.url}${me}`)
      t.ok(await page.locator('input[name="login"]').isVisible(), `${me} now redirects to the login`)
    })

    const stats = await envoy.extAuthzStats()
    t.equal(stats.error ?? 0, 0, `Envoy counted no failed check: ${JSON.stringify(stats)}`)
  })
}
