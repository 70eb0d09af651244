/** Errors carry stable codes callers switch on; a refused credential is cheap and changes nothing process-wide. */
import t from 'tap'
import {
  AuthServiceError,
  ConfigError,
  ProviderUnavailableError,
  SessionStoreUnavailableError,
  TokenRejectedError,
} from '../../src/errors.js'

t.test('a refusal is a TokenRejectedError with its code and claim, and no stack trace', async (t) => {
  const limit = Error.stackTraceLimit
  const cause = new Error('underlying')
  const refusal = TokenRejectedError.refusal('ERR_TOKEN_EXPIRED', 'token expired', { claim: 'exp', cause })
  t.ok(refusal instanceof TokenRejectedError && refusal instanceof AuthServiceError && refusal instanceof Error)
  t.match(refusal, { name: 'TokenRejectedError', code: 'ERR_TOKEN_EXPIRED', message: 'token expired', claim: 'exp', cause })
  t.equal(refusal.stack, undefined, 'no stack is captured')
  t.equal(Error.stackTraceLimit, limit, 'and the process-wide limit is untouched')
  const bare = TokenRejectedError.refusal('ERR_TOKEN_MALFORMED', 'token is not a JWT')
  t.same([bare.claim, 'cause' in bare], [undefined, false])
})

t.test('constructed errors keep their stack, name and code', async (t) => {
  const rejected = new TokenRejectedError('ERR_TOKEN_UNKNOWN_KEY', 'token signed by an unknown key', { claim: 'kid' })
  t.match(rejected, { name: 'TokenRejectedError', code: 'ERR_TOKEN_UNKNOWN_KEY', claim: 'kid', stack: /TokenRejectedError/ })
  t.match(new ProviderUnavailableError(), { name: 'ProviderUnavailableError', code: 'ERR_PROVIDER_UNAVAILABLE', message: 'identity provider unavailable' })
  t.match(new SessionStoreUnavailableError(), { code: 'ERR_SESSION_STORE_UNAVAILABLE', message: 'session store unavailable' })
})

t.test('a configuration error names every problem at once', async (t) => {
  const error = new ConfigError(['CLIENT_ID: required', 'OIDC_PROVIDER: must be a URL'])
  t.equal(error.code, 'ERR_CONFIG_INVALID')
  t.same(error.problems, ['CLIENT_ID: required', 'OIDC_PROVIDER: must be a URL'])
  t.match(error.message, /CLIENT_ID: required\n {2}OIDC_PROVIDER: must be a URL/)
})
