// The two Kubeflow settings end to end (test/helpers/kubeflow-settings.ts), each with the
// configuration its rendered overlay gives the pod (real `kustomize build`, as
// test/deploy/envoyfilter-through-envoy.test.ts renders them), the ext_authz filter the gateway gets
// from it, real Envoy, real Dex, real Chromium and our test Kubernetes API server
// (test/helpers/kube-apiserver.ts) for service-account tokens.
// For each: a browser login, a KFP-style API call with the session (cookie, and the session value as
// `Authorization: Bearer`, the KFP SDK way), a `kubectl create token` token, the same token refused
// after its service account was deleted, forged identity headers, and logout by POST and by GET.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { headerValues, SETTINGS, signIn, startSetting, USER } from '../helpers/kubeflow-settings.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { rawRequest } from '../helpers/raw-request.js'

const skip = skipUnlessPeers('kustomize', 'dex', 'envoy', 'chromium')

const NAMESPACE = 'kubeflow-user-example-com'
const ACCOUNT = 'default-editor'
const CACHE_SECONDS = 1
const FORGED = {
  'kubeflow-userid': 'admin@example.com',
  'kubeflow-groups': 'kubeflow-admins,system:masters',
  // oauth2-proxy's headers, which apps behind Kubeflow >= 1.9 may read.
  'x-auth-request-user': 'admin@example.com',
  'x-auth-request-email': 'admin@example.com',
  'x-auth-request-groups': 'kubeflow-admins',
  'x-auth-request-preferred-username': 'admin',
}
const PAGE = `/pipeline/?ns=${NAMESPACE}`
const KFP_API = '/pipeline/apis/v2beta1/runs?namespace=' + NAMESPACE

for (const setting of SETTINGS) {
  t.test(setting.title, { skip }, async (t) => {
    // The review cache time shortened so a deletion shows within the test.
    const { rendered, prefix, cookieName, kube, upstream, authservice, envoy, context, page, sessionCookie } = await startSetting(t, setting, {
      KUBERNETES_TOKENREVIEW_CACHE_SECONDS: String(CACHE_SECONDS),
    })
    t.equal(rendered.KUBERNETES_TOKENS, 'true', 'the rendered ConfigMap turns Kubernetes tokens on')
    kube.createServiceAccount(NAMESPACE, ACCOUNT)
    const api = (headers: Record<string, string>) =>
      rawRequest(`${envoy.url}${KFP_API}`, { headers: { accept: 'application/json', ...FORGED, ...headers } })

    await t.test('browser login in Chromium lands on the page first asked for, over a stale cookie of the same name', async (t) => {
      // What the browser still holds after the switch: the previous gateway's session under the same
      // name (oauth2-proxy's `<value>|<timestamp>|<signature>`, split into `_0`/`_1` when long).
      const stale = 'c3RhbGUtb2F1dGgyLXByb3h5LXNlc3Npb24|1764806400|c2lnbmF0dXJl'
      await context.addCookies([cookieName, `${cookieName}_0`].map((name) => ({ name, value: stale, url: envoy.url })))
      await page.goto(`${envoy.url}${PAGE}`)
      t.ok(await page.locator('input[name="login"]').isVisible(), 'an anonymous visit shows Dex’s login form')
      await signIn(page, envoy.url, PAGE)
      t.equal(page.url(), `${envoy.url}${PAGE}`, 'back on the page, query included')
      t.equal(await page.textContent('#whoami'), USER.email, 'the upstream sees kubeflow-userid')
      t.ok(await sessionCookie(), `session cookie ${cookieName} set`)
    })

    await t.test('a KFP-style API call with the session reaches the upstream with our identity only', async (t) => {
      const session = (await sessionCookie())!.value
      for (const [how, headers] of [
        ['the session cookie', { cookie: `${cookieName}=${session}` }],
        ['the session value as Authorization: Bearer (KFP SDK)', { authorization: `Bearer ${session}` }],
      ] as const) {
        const before = upstream.received.length
        const answer = await api(headers)
        t.equal(answer.status, 200, how)
        t.equal(upstream.received.length, before + 1, `${how}: reached the upstream`)
        const echoed = upstream.received.at(-1)
        t.equal(echoed?.path, KFP_API)
        t.same(headerValues(echoed, 'kubeflow-userid'), [USER.email], `${how}: one kubeflow-userid, ours`)
        t.same(headerValues(echoed, 'kubeflow-groups'), [USER.groups], `${how}: one kubeflow-groups, ours`)
        // SET_XAUTHREQUEST (>= 1.9): oauth2-proxy's headers are ours; otherwise (1.8) removed.
        const xAuth = rendered.SET_XAUTHREQUEST === 'true'
        t.same(headerValues(echoed, 'x-auth-request-user'), xAuth ? [USER.email] : [], `${how}: x-auth-request-user ours or none`)
        t.same(headerValues(echoed, 'x-auth-request-email'), xAuth ? [USER.email] : [], `${how}: x-auth-request-email ours or none`)
        t.same(headerValues(echoed, 'x-auth-request-groups'), xAuth ? [USER.groups] : [], `${how}: x-auth-request-groups ours or none`)
        t.same(headerValues(echoed, 'x-auth-request-preferred-username'), [], `${how}: the forged x-auth-request-preferred-username is removed`)
      }
    })

    await t.test('service-account tokens: allowed as system:serviceaccount, refused once deleted', async (t) => {
      const token = await kube.createToken(NAMESPACE, ACCOUNT)
      const allowed = await api({ authorization: `Bearer ${token}` })
      t.equal(allowed.status, 200, '`kubectl create token` token: 200')
      const echoed = upstream.received.at(-1)
      t.same(headerValues(echoed, 'kubeflow-userid'), [`system:serviceaccount:${NAMESPACE}:${ACCOUNT}`], 'kubeflow-userid, the forged one replaced')
      t.same(headerValues(echoed, 'kubeflow-groups'), [`system:serviceaccounts,system:serviceaccounts:${NAMESPACE},system:authenticated`])
      t.same(headerValues(echoed, 'authorization'), [`Bearer ${token}`], 'the token itself goes upstream unchanged')
      t.ok(kube.reviews() >= 1, 'confirmed by a TokenReview')

      kube.deleteServiceAccount(NAMESPACE, ACCOUNT)
      await sleep(CACHE_SECONDS * 1000 + 250)
      const before = upstream.received.length
      const refused = await api({ authorization: `Bearer ${token}` })
      t.equal(refused.status, 401, 'the same token after the service account was deleted: 401')
      t.match(refused.header('www-authenticate'), /error="invalid_token"/)
      t.notOk(refused.header('location'), 'no login redirect for a bearer request')
      t.match(authservice.rawLogs(), /ERR_TOKEN_REVIEW_REFUSED/, 'refused by the TokenReview, not by a cache or the signature')
      t.equal(upstream.received.length, before, 'the upstream never saw it')
    })

    await t.test('forged identity headers without a credential never reach the upstream', async (t) => {
      const before = upstream.received.length
      for (const headers of [{}, { authorization: 'Bearer not-a-token' }, { cookie: `${cookieName}=forged` }] as Array<Record<string, string>>) {
        t.equal((await api(headers)).status, 401, `refused: ${JSON.stringify(headers)}`)
      }
      t.equal(upstream.received.length, before)
    })

    // Logged out = the browser's cookie is gone and the page asks for a login. (A copied value of the
    // default cookie store stays valid until it expires: README, "Sessions"; not asserted here.)
    const loggedOutThenLogin = async (t: Test, how: string) => {
      t.notOk(await sessionCookie(), `${how}: the session cookie is gone`)
      await page.goto(`${envoy.url}${PAGE}`)
      t.ok(await page.locator('input[name="login"]').isVisible(), `${how}: the page asks for a login again`)
    }

    await t.test(`logout by POST ${prefix}${setting.postLogout}, as the dashboard does`, async (t) => {
      const before = upstream.received.length
      const answer = await page.evaluate(async (path) => {
        const response = await fetch(path, { method: 'POST' })
        return { status: response.status, body: await response.text() }
      }, `${prefix}${setting.postLogout}`)
      t.equal(answer.status, 201)
      t.same(JSON.parse(answer.body), { afterLogoutURL: rendered.AFTER_LOGOUT_URL }, 'answered by the service, not the upstream')
      t.equal(upstream.received.length, before, 'the upstream never saw the logout')
      await loggedOutThenLogin(t, 'POST')
    })

    await t.test(`logout by GET ${prefix}sign_out`, async (t) => {
      await signIn(page, envoy.url, PAGE)
      t.ok(await sessionCookie(), 'signed in again')
      const before = upstream.received.length
      await page.goto(`${envoy.url}${prefix}sign_out`)
      t.notOk(upstream.received.slice(before).some((echoed) => echoed.path.includes('sign_out')), 'the upstream never saw the logout')
      await loggedOutThenLogin(t, 'GET')
    })

    const stats = await envoy.extAuthzStats()
    t.equal(stats.error ?? 0, 0, `Envoy counted no failed check: ${JSON.stringify(stats)}`)
  })
}
