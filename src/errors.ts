/**
 * Errors with stable codes (the jose pattern): tests and callers switch on `code`, never on the
 * message. Messages are static and never contain a token, cookie, code or secret.
 */

export type AuthServiceErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_PROVIDER_UNAVAILABLE'
  | 'ERR_TOKEN_TOO_LARGE'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_ALG_NOT_ALLOWED'
  | 'ERR_TOKEN_UNKNOWN_ISSUER'
  | 'ERR_TOKEN_UNKNOWN_KEY'
  | 'ERR_TOKEN_SIGNATURE_INVALID'
  | 'ERR_TOKEN_CLAIM_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REVIEW_REFUSED'
  | 'ERR_TOKEN_EMAIL_UNVERIFIED'
  | 'ERR_IDENTITY_CLAIM_MISSING'
  | 'ERR_CLAIM_HEADER_UNSAFE'
  | 'ERR_GROUP_NAME_INVALID'
  | 'ERR_IDENTITY_SERVICE_ACCOUNT'
  | 'ERR_SESSION_STORE_UNAVAILABLE'
  | 'ERR_SESSION_INVALID'
  | 'ERR_SESSION_TOO_LARGE'
  | 'ERR_LOGIN_STATE_MISSING'
  | 'ERR_LOGIN_STATE_MISMATCH'
  | 'ERR_LOGIN_PROVIDER_ERROR'
  | 'ERR_LOGIN_EXCHANGE_FAILED'
  | 'ERR_LOGIN_TOKEN_INVALID'
  | 'ERR_REFRESH_FAILED'
  | 'ERR_REFRESH_REJECTED'

export class AuthServiceError extends Error {
  readonly code: AuthServiceErrorCode
  constructor(code: AuthServiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = this.constructor.name
    this.code = code
  }
}

/** Invalid configuration: `problems` names every offending variable, all at once. */
export class ConfigError extends AuthServiceError {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super('ERR_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`)
    this.problems = problems
  }
}

/** The identity provider (discovery or keys) cannot be reached and nothing usable is cached. */
export class ProviderUnavailableError extends AuthServiceError {
  constructor(message = 'identity provider unavailable', options?: { cause?: unknown }) {
    super('ERR_PROVIDER_UNAVAILABLE', message, options)
  }
}

export type TokenErrorCode = Extract<
  AuthServiceErrorCode,
  `ERR_TOKEN_${string}` | 'ERR_IDENTITY_CLAIM_MISSING' | 'ERR_IDENTITY_SERVICE_ACCOUNT' | 'ERR_CLAIM_HEADER_UNSAFE'
>

/** A credential was presented and refused. `claim` names the claim at fault, when there is one. */
export class TokenRejectedError extends AuthServiceError {
  declare readonly code: TokenErrorCode
  readonly claim: string | undefined
  constructor(code: TokenErrorCode, message: string, options?: { claim?: string; cause?: unknown }) {
    super(code, message, options)
    this.claim = options?.claim
  }

  /**
   * The same error without a stack trace, for credentials refused on the check path: a refusal is an
   * answer, not a bug, and capturing a stack for every junk token cost about 5 µs of a 401
   * (npm run bench -- --profile). Made from the prototype, so no Error constructor runs and no process-wide
   * setting (Error.stackTraceLimit) is touched; `instanceof` and the code work as for any other.
   */
  static refusal(code: TokenErrorCode, message: string, options?: { claim?: string; cause?: unknown }): TokenRejectedError {
    const error = Object.create(TokenRejectedError.prototype) as { -readonly [K in keyof TokenRejectedError]: TokenRejectedError[K] }
    error.name = 'TokenRejectedError'
    error.message = message
    error.code = code
    error.claim = options?.claim
    if (options?.cause !== undefined) error.cause = options.cause
    return error
  }
}

/** The session backend (Redis) cannot be reached: fail closed, never a 5xx. */
export class SessionStoreUnavailableError extends AuthServiceError {
  constructor(message = 'session store unavailable', options?: { cause?: unknown }) {
    super('ERR_SESSION_STORE_UNAVAILABLE', message, options)
  }
}
