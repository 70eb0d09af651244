import t from 'tap'
import { describeVariables, PREFIX_PLACEHOLDER, VARIABLES, VARS } from '../../../src/config/schema.js'

t.test('every table row is keyed by its own name, once', async (t) => {
  for (const [key, variable] of Object.entries(VARS)) t.equal(variable.name, key)
  const names = VARIABLES.map((variable) => variable.name)
  t.equal(new Set(names).size, names.length)
  t.equal(VARIABLES.length, Object.keys(VARS).length)
})

t.test('every built-in default parses, derived ones once the prefix is filled in', async (t) => {
  for (const variable of VARIABLES) {
    if (variable.default === undefined) continue
    const parsed = variable.parse(variable.default.replace(PREFIX_PLACEHOLDER, '/authservice/'))
    t.ok(parsed.ok, `${variable.name} default parses`)
    t.notOk(parsed.ok && parsed.warning, `${variable.name} default gives no warning`)
  }
})

t.test('the defaults are those of oidc-authservice', async (t) => {
  t.equal(VARS.AUTHSERVICE_URL_PREFIX.default, '/authservice/')
  t.equal(VARS.REDIRECT_URL.default, '<AUTHSERVICE_URL_PREFIX>oidc/callback')
  t.equal(VARS.AFTER_LOGOUT_URL.default, '<AUTHSERVICE_URL_PREFIX>site/after_logout')
  t.equal(VARS.OIDC_SCOPES.default, 'openid,email')
  t.equal(VARS.USERID_HEADER.default, 'kubeflow-userid')
  t.equal(VARS.GROUPS_ALLOWLIST.default, '*')
  t.equal(VARS.SERVER_PORT.default, '8080')
  t.equal(VARS.READINESS_PROBE_PORT.default, '8081')
  t.equal(VARS.WEB_SERVER_PORT.default, '8082')
  t.equal(VARS.SESSION_MAX_AGE.default, '86400')
})

t.test('required variables have no default, and only the three the provider needs are required', async (t) => {
  const required = VARIABLES.filter((variable) => variable.required).map((variable) => variable.name)
  t.same(required, ['OIDC_PROVIDER', 'CLIENT_ID', 'CLIENT_SECRET'])
  for (const variable of VARIABLES.filter((v) => v.required)) t.equal(variable.default, undefined)
})

t.test('secrets are marked secret, have no default text and may come from a file', async (t) => {
  const secrets = VARIABLES.filter((variable) => variable.secret).map((variable) => variable.name)
  t.same(secrets, ['CLIENT_SECRET', 'SESSION_SECRETS', 'SESSION_STORE_REDIS_PWD', 'SESSION_STORE_REDIS_SENTINEL_PWD'])
  for (const variable of VARIABLES.filter((v) => v.secret)) {
    t.ok(variable.fromFile, `${variable.name} has a _FILE variant`)
    t.notOk(variable.default, `${variable.name} has no default value to print`)
  }
})

t.test('the choice parsers accept the values oidc-authservice and Kubernetes use', async (t) => {
  t.same(VARS.LOG_LEVEL.parse('PANIC'), { ok: true, value: 'fatal', warning: undefined })
  t.same(VARS.LOG_LEVEL.parse('Warning'), { ok: true, value: 'warn', warning: undefined })
  t.same(VARS.SECURE_COOKIES.parse('1'), { ok: true, value: 'true', warning: undefined })
  t.same(VARS.SECURE_COOKIES.parse('F'), { ok: true, value: 'false', warning: undefined })
  t.notOk(VARS.SESSION_STORE_TYPE.parse('boltdb').ok, 'boltdb is not a store we have')
  t.same(VARS.ALLOWED_EMAIL_DOMAINS.parse('Example.COM, example.com'), { ok: true, value: ['example.com'], warning: undefined })
})

t.test('legacy and unimplemented settings are in the table and say so', async (t) => {
  t.equal(VARS.PORT.use, 'ignored')
  t.equal(VARS.STORE_PATH.use, 'ignored')
  const unimplemented = VARIABLES.filter((variable) => variable.use === 'unimplemented')
  t.ok(unimplemented.some((variable) => variable.name === 'TEMPLATE_CONTEXT_*'))
  for (const variable of unimplemented) t.match(variable.description, /not implemented/, variable.name)
  t.equal(VARS.OIDC_PROVIDER.use, 'read')
})

t.test('the help rows list every variable, each _FILE variant right after its variable', async (t) => {
  const rows = describeVariables()
  const names = rows.map((row) => row.name)
  for (const variable of VARIABLES) t.ok(names.includes(variable.name), variable.name)
  for (const secret of ['CLIENT_SECRET', 'SESSION_SECRETS', 'SESSION_STORE_REDIS_PWD', 'SESSION_STORE_REDIS_SENTINEL_PWD']) {
    t.equal(names[names.indexOf(secret) + 1], `${secret}_FILE`)
  }
  t.equal(rows.length, VARIABLES.length + 4)
  t.same(rows.find((row) => row.name === 'CLIENT_SECRET_FILE'), {
    name: 'CLIENT_SECRET_FILE',
    default: undefined,
    description: 'File whose content (trailing newline removed) is used as CLIENT_SECRET; set one or the other.',
    secret: false,
    required: false,
  })
  t.same(rows.find((row) => row.name === 'SERVER_PORT'), {
    name: 'SERVER_PORT',
    default: '8080',
    description: 'Port of the ext_authz check server.',
    secret: false,
    required: false,
  })
  for (const row of rows) t.ok(row.description.length > 0, `${row.name} is described`)
})
