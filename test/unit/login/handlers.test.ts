/**
 * The composed login handlers: login start and callback with logout, sign-out and the after-logout
 * page, over one store. Each handler's own behaviour is tested in login-flow.test.ts and
 * logout.test.ts; this only checks that the composition exposes all five, working together.
 */
import t from 'tap'
import { createLoginHandlers } from '../../../src/login/handlers.js'
import { asDeny, clearedNames, header, loginHarness, loginUntilCallback, request } from '../../helpers/login-handlers.js'

t.test('one object carries a login through start, callback, logout, sign-out and the after-logout page', async (t) => {
  const h = loginHarness(createLoginHandlers)
  t.same(Object.keys(h.handlers).sort(), ['afterLogout', 'callback', 'logout', 'signOut', 'start'])

  const { login, callback } = await loginUntilCallback(h)
  t.same([asDeny(login.result.reply).status, login.result.outcome], [302, 'login'])
  t.ok(login.location.startsWith('/dex/auth?'), 'start redirects to the provider')

  const completed = await h.handlers.callback(callback)
  t.same([asDeny(completed.reply).status, completed.outcome, completed.user], [302, 'login-complete', 'alice@example.com'])
  t.same(header(asDeny(completed.reply).headers, 'location'), ['/jupyter/?ns=kubeflow-user'])

  const cookies = { authservice_session: 'ticket-1' }
  const loggedOut = await h.handlers.logout(request({ method: 'POST', target: '/authservice/logout', cookies }))
  t.same([asDeny(loggedOut.reply).status, loggedOut.outcome], [201, 'logout'])
  t.same([h.removed, h.revoked], [['ticket-1'], ['dex-refresh']], 'the session the callback created is ended')

  const signedOut = await h.handlers.signOut(request({ target: '/authservice/sign_out', headers: { 'sec-fetch-site': 'same-origin' }, cookies }))
  t.same(header(asDeny(signedOut.reply).headers, 'location'), ['/authservice/site/after_logout'])
  t.same(clearedNames(signedOut.reply), ['authservice_session'])

  const afterLogout = h.handlers.afterLogout()
  t.same([asDeny(afterLogout.reply).status, afterLogout.outcome], [401, 'after-logout'])
})
