/** Pages of the login and logout flow: readable, self-contained, with a way forward — never a loop. */
import { html, page } from './html.js'
import type { DenyBody } from './deny-pages.js'

const htmlBody = (title: string, body: string): DenyBody => ({ contentType: 'text/html; charset=utf-8', body: page(title, body) })

/** A login that could not finish (IdP error, expired or missing state, failed exchange). */
export function loginFailedBody(reason: string): DenyBody {
  return htmlBody(
    'Sign-in did not complete',
    html`<p>${reason}</p><p><a id="login-again" href="/">Log in again</a></p>`,
  )
}

export function afterLogoutBody(): DenyBody {
  return htmlBody('Signed out', html`<p>You have signed out.</p><p><a id="login-again" href="/">Log in again</a></p>`)
}

export function crossSiteSignOutBody(): DenyBody {
  return htmlBody('Sign-out refused', html`<p>Sign-out must start from a page of this site.</p><p><a href="/">Continue</a></p>`)
}
