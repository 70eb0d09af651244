/**
 * AUTH_HEADER (default `Authorization`, with `Bearer ` or bare): a session ticket sent as a header —
 * oidc-authservice clients and the Kubeflow Pipelines SDK send the session cookie's value that way.
 */
import { headerTicket } from '../session/tickets.js'
import type { CredentialSource } from './ports.js'
import { createSessionSource, type SessionSourceDependencies } from './session.js'

export function sessionHeaderSource(header: string, deps: SessionSourceDependencies): CredentialSource {
  return createSessionSource('session-header', ({ headers }) => headerTicket(headers[header]), deps, false)
}
