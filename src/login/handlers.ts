/**
 * The login handlers as one object: login start and callback (login-flow.ts), logout, sign-out and
 * the after-logout page (logout.ts), over the shared replies and types of handler-replies.ts.
 */
import type { LoginHandlerOptions } from './handler-replies.js'
import { createLoginFlow } from './login-flow.js'
import { createLogout } from './logout.js'

export type { FlowRequest, HandlerResult, LoginHandlerOptions, ProviderEndpoints } from './handler-replies.js'

export function createLoginHandlers(options: LoginHandlerOptions) {
  return { ...createLoginFlow(options), ...createLogout(options) }
}

export type LoginHandlers = ReturnType<typeof createLoginHandlers>
