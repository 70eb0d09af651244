/** The session cookie (SESSION_COOKIE_NAME, reassembled from chunks): the browser's login session. */
import { readSessionTicket } from '../session/session-cookie.js'
import { headerTicket } from '../session/tickets.js'
import type { CredentialSource } from './ports.js'
import { createSessionSource, type SessionSourceDependencies } from './session.js'

export function sessionCookieSource(cookie: string, sessionHeader: string, deps: SessionSourceDependencies): CredentialSource {
  return createSessionSource(
    'session-cookie',
    ({ headers, cookies }) => {
      const ticket = readSessionTicket(cookies, cookie)
      // The same ticket in the session header was already tried (a client that sends both).
      return ticket !== undefined && ticket === headerTicket(headers[sessionHeader]) ? undefined : ticket
    },
    deps,
    true,
  )
}
