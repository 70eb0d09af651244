/**
 * The login handlers as one object: login start and callback (login-flow.ts), logout, sign-out and
 * the after-logout page (logout.ts), over the shared types of results.ts.
 */
import type { LoginHandlerOptions } from './results.js'
import { createLoginFlow } from './login-flow.js'
import { createLogout } from './logout.js'

export type { FlowRequest, LoginAnswer, LoginHandlerOptions, LoginResult, ProviderEndpoints } from './results.js'

export function createLoginHandlers(options: LoginHandlerOptions) {
  return { ...createLoginFlow(options), ...createLogout(options) }
}

export type LoginHandlers = ReturnType<typeof createLoginHandlers>
