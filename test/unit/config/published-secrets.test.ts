/**
 * The published-secrets denylist (issue 15, finding 3) and the scan that keeps it complete: every
 * secret-looking literal in what this repository publishes for operators (deploy/, the Markdown
 * at the root, docs/, examples/) must be on the list, so a value printed there can never protect a
 * real install. A value stays on the list after it leaves the files (see the module comment).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import { isPublishedKey, isPublishedSecret, PUBLISHED_SECRETS } from '../../../src/config/published-secrets.js'

const ROOT = new URL('../../../', import.meta.url).pathname
const SCANNED = ['deploy', 'docs', 'examples', 'README.md', 'SECURITY.md', 'CHANGELOG.md']
const TEXT = /\.(?:ya?ml|env|md|txt|json|conf|ini|sh)$|(?:^|\/)[^./]+$/

interface Literal {
  readonly where: string
  readonly value: string
}

/**
 * A variable or key whose value is a secret: …SECRET(S), …PASSWORD, …PASSWD, …PWD, …TOKEN, …_KEY(S)
 * (not `topologyKey`); never a `_FILE` path.
 */
const SECRET_NAME = /(?:secrets?|passw(?:or)?d|pwd|token|[_-]keys?|(?:private|api|signing|session|cookie)keys?)$/i
/** `name=value` anywhere (env files, `--from-literal=name=…`), `name: value` as a key (YAML, JSON); the value is read after it. */
const NAME = /(?<![A-Za-z0-9_.-])([A-Za-z_][A-Za-z0-9_.-]*)["']?[ \t]*([=:])[ \t]*/g
/** Where `name:` is a key rather than prose: at the start of a line (YAML, `- ` items) or after `{` or `,` (JSON). */
const KEY_POSITION = /(?:^|\n)[ \t-]*["']?$|[{,][ \t]*["']?$/
/** Not a value but a placeholder, a reference or a path: `...`, `<…>`, `$VAR`, `$(…)`, `/path`, `*`, a boolean, nothing. */
const PLACEHOLDER = /^(?:\.\.\.|<.*|\$.*|\/.*|\*|true|false|null|—|-|)$/i
/** A long random-looking run (base64, base64url): 32+ characters mixing upper case, lower case and digits, not a /path. */
const RANDOM = /(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])/g
const looksRandom = (run: string) => /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run) && !run.startsWith('/')

function valueAt(text: string, index: number): string {
  const quote = text[index]
  if (quote === '"' || quote === "'") {
    const end = text.indexOf(quote, index + 1)
    return text.slice(index + 1, end === -1 ? text.length : end)
  }
  return /^[^\s"'`,;|)\]}]*/.exec(text.slice(index))?.[0] ?? ''
}

/** Every secret-looking literal of `text` (once per line): values given to secret names, and long random-looking runs. */
export function secretLiterals(text: string, file: string): Literal[] {
  const found = new Map<string, Literal>()
  const add = (index: number, value: string) => {
    const where = `${file}:${text.slice(0, index).split('\n').length}`
    found.set(`${where} ${value}`, { where, value })
  }
  for (const match of text.matchAll(NAME)) {
    const [, name, separator] = match as unknown as [string, string, string]
    const index = match.index as number
    if (!SECRET_NAME.test(name) || /_FILE$/i.test(name)) continue
    if (separator === ':' && !KEY_POSITION.test(text.slice(0, index))) continue
    const value = valueAt(text, index + match[0].length)
    // An upper-case name as value is a reference (`secretEnv: OIDC_CLIENT_SECRET`), not a secret.
    if (!PLACEHOLDER.test(value) && !/^[A-Z][A-Z0-9_]*$/.test(value)) add(index, value)
  }
  for (const match of text.matchAll(RANDOM)) if (looksRandom(match[0])) add(match.index as number, match[0])
  return [...found.values()]
}

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return []
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path).flatMap((name) => filesUnder(join(path, name)))
}

const onTheList = (value: string) =>
  isPublishedSecret(value) || (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value) && isPublishedKey(new Uint8Array(Buffer.from(value, 'base64'))))

t.test('every secret-looking literal in deploy/, docs/, examples/ and the root Markdown is on the denylist', async (t) => {
  const files = SCANNED.flatMap((path) => filesUnder(join(ROOT, path))).filter((file) => TEXT.test(file))
  t.ok(files.some((file) => file.endsWith('kustomization.yaml')) && files.some((file) => file.endsWith('README.md')), 'the manifests and the README are scanned')
  for (const file of files) {
    for (const literal of secretLiterals(readFileSync(file, 'utf8'), relative(ROOT, file))) {
      t.ok(onTheList(literal.value), `${literal.where}: a secret-looking literal missing from src/config/published-secrets.ts`)
    }
  }
})

t.test('the scan finds what was published before, and leaves placeholders alone', async (t) => {
  // deploy/overlays/dev until 0.1.0, as it stood.
  const devOverlay = `secretGenerator:
  - name: authservice-secrets
    literals:
      - CLIENT_SECRET=fake-dev-only-client-secret-change-me
      - SESSION_SECRETS=RkFLRS1ERVYtT05MWS1LRVktTk9ULUZPUi1QUk9EISE=`
  t.same(secretLiterals(devOverlay, 'kustomization.yaml'), [
    { where: 'kustomization.yaml:4', value: 'fake-dev-only-client-secret-change-me' },
    { where: 'kustomization.yaml:5', value: 'RkFLRS1ERVYtT05MWS1LRVktTk9ULUZPUi1QUk9EISE=' },
  ])
  t.ok(secretLiterals(devOverlay, 'x').every((literal) => onTheList(literal.value)), 'and all of it is on the list')

  const other = [
    `kubectl create secret generic x --from-literal=SESSION_STORE_REDIS_PWD='hunter2-hunter2'`,
    'stringData: { "client_secret": "s3cr3t-value" }',
    'password: correct-horse',
    'some text, then a key: C1Sd5i94wQpTnOUud8AJUpvkLXa/CFGa4yx1vgdQmeI=',
    'sessionKey: abc-123-def',
  ].join('\n')
  t.same(secretLiterals(other, 'f').map((literal) => literal.value), ['hunter2-hunter2', 's3cr3t-value', 'correct-horse', 'abc-123-def', 'C1Sd5i94wQpTnOUud8AJUpvkLXa/CFGa4yx1vgdQmeI='])
  t.notOk(secretLiterals(other, 'f').some((literal) => onTheList(literal.value)), 'none of which is on the list: the first test would fail')

  const placeholders = [
    "--from-literal=CLIENT_SECRET='<the secret of Dex client kubeflow-oidc-authservice>' \\",
    '--from-literal=SESSION_SECRETS="$(openssl rand -base64 32)"',
    'CLIENT_SECRET=... SKIP_AUTH_URLS=/dex npm start',
    'SESSION_SECRETS=<new>,<old>',
    'CLIENT_SECRET_FILE=/var/run/secrets/client',
    'secretKeyRef: {name: x}',
    '  secretEnv: OIDC_CLIENT_SECRET',
    '- every token: bearer JWTs, and the session key: it is prose',
    '          topologyKey: kubernetes.io/hostname',
    '        path: /spec/template/spec/containers/0/envFrom/1',
    'image: ghcr.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'envoy.filters.network.http_connection_manager authorization_response.allowed_client_headers_on_success',
  ].join('\n')
  t.same(secretLiterals(placeholders, 'f'), [])
})

t.test('a published secret is recognised exactly; a published key in any base64 spelling', async (t) => {
  for (const [value, where] of PUBLISHED_SECRETS) t.ok(isPublishedSecret(value), where)
  t.notOk(isPublishedSecret('fake-dev-only-client-secret-change-me '))
  const devKey = Buffer.from('RkFLRS1ERVYtT05MWS1LRVktTk9ULUZPUi1QUk9EISE=', 'base64')
  t.ok(isPublishedKey(new Uint8Array(devKey)), 'the decoded bytes, however they were spelled')
  t.ok(isPublishedKey(new TextEncoder().encode('fake-dev-only-client-secret-change-me')), 'a published text used as key bytes')
  t.notOk(isPublishedKey(new Uint8Array(32).fill(7)))
  t.notOk(isPublishedKey(new Uint8Array(devKey.subarray(1))), 'a prefix is another key')
})
