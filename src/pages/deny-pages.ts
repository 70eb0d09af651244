/** The bodies of deny answers: an HTML page for a browser navigation, JSON for an API call. */
import { html, page } from './html.js'

export interface DenyBody {
  readonly contentType: string
  readonly body: string
  /** The page's Content-Security-Policy when it needs more than the default (html.ts). */
  readonly contentSecurityPolicy?: string
}

/** A JSON body (API callers and the logout endpoint). */
export const jsonBody = (value: Record<string, unknown>): DenyBody => ({
  contentType: 'application/json; charset=utf-8',
  body: JSON.stringify(value),
})
const htmlPage = (title: string, body: string, head = ''): DenyBody => ({
  contentType: 'text/html; charset=utf-8',
  body: page(title, body, head),
})

const unauthenticated = (kind: 'api' | 'navigation', rejected: boolean): DenyBody => {
  const message = rejected ? 'The credential presented is not valid.' : 'Authentication is required.'
  if (kind === 'api') return jsonBody({ error: 'unauthenticated', message })
  return htmlPage('Sign-in required', html`<p>${message}</p><p><a href="/">Go to the start page</a></p>`)
}
/** The 401 bodies are the same for every request: built once, not per refusal (issue #17: a refusal must cost less than an allow). */
const UNAUTHENTICATED = {
  api: { rejected: unauthenticated('api', true), missing: unauthenticated('api', false) },
  navigation: { rejected: unauthenticated('navigation', true), missing: unauthenticated('navigation', false) },
} as const

export function unauthenticatedBody(kind: 'api' | 'navigation', rejected: boolean): DenyBody {
  return UNAUTHENTICATED[kind][rejected ? 'rejected' : 'missing']
}

export function forbiddenBody(kind: 'api' | 'navigation', userId: string, reason: string): DenyBody {
  const message =
    reason === 'EMAIL_DOMAIN_NOT_ALLOWED'
      ? 'Your email domain is not allowed to use this service.'
      : 'None of your groups is allowed to use this service.'
  if (kind === 'api') return jsonBody({ error: 'forbidden', message, user: userId })
  return htmlPage(
    'Access denied',
    html`<p>Signed in as <code>${userId}</code>.</p><p>${message}</p><p>Ask an administrator for access.</p>`,
  )
}

export function unavailableBody(kind: 'api' | 'navigation', retryAfterSeconds: number): DenyBody {
  const message = 'The identity provider is unavailable. Try again shortly.'
  if (kind === 'api') return jsonBody({ error: 'identity_provider_unavailable', message, retryAfter: retryAfterSeconds })
  // The page retries by itself: the outage is usually Dex starting up.
  return htmlPage(
    'Sign-in temporarily unavailable',
    html`<p>${message}</p><p>This page reloads in ${retryAfterSeconds} seconds.</p>`,
    html`<meta http-equiv="refresh" content="${retryAfterSeconds}">`,
  )
}
