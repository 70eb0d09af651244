// What explain is asked about: a curl-like command line, headers from standard input, a decision log line.
import t from 'tap'
import { ExplainUsageError, parseHeaderLines, parseLogLine, readExplainInput } from '../../../src/cli/explain-input.js'

const LOG = '{"level":30,"outcome":"unauthenticated","reason":"CREDENTIAL_REJECTED","codes":["ERR_TOKEN_EXPIRED",7],"kind":"api","source":"authorization","credential":"0a1b2c3d","method":"GET","path":"/pipeline/apis/v2beta1/runs","msg":"decision"}'

const noStdin = async (): Promise<string> => {
  throw new Error('standard input is not read')
}

t.test('a curl command line: URL, -X, repeated -H, -b, ignored curl flags', async (t) => {
  const input = await readExplainInput(['curl', '-s', '--compressed', '-X', 'post', '-H', 'Accept: application/json', '--header', 'X-Test: a', '-H', 'x-test: b', '-b', 'a=1', '--cookie', 'b=2', 'https://kubeflow.example.com/pipeline/apis/v2beta1/runs?x=1'], noStdin)
  t.same(input, {
    method: 'POST',
    target: '/pipeline/apis/v2beta1/runs?x=1',
    scheme: 'https',
    headers: { accept: 'application/json', 'x-test': 'a, b', cookie: 'a=1; b=2', host: 'kubeflow.example.com' },
    json: false,
  })
  const path = await readExplainInput(['--json', '-H', 'Host: given.example', '/jupyter/'], noStdin)
  t.same(path, { method: 'GET', target: '/jupyter/', headers: { host: 'given.example' }, json: true }, 'a path; GET by default')
  const explicitHost = await readExplainInput(['-H', 'host: given.example', 'http://url.example/'], noStdin)
  t.equal(explicitHost.headers.host, 'given.example', 'an explicit Host wins over the URL')
  t.equal((await readExplainInput(['-d', '{}', '/x'], noStdin)).method, 'POST', '-d makes it a POST, as with curl')
  t.equal((await readExplainInput(['https://kubeflow.example.com/public/../pipeline/?a=b#frag'], noStdin)).target, '/public/../pipeline/?a=b', 'the path as typed, for the check to normalise')
  t.equal((await readExplainInput(['http://kubeflow.example.com'], noStdin)).target, '/', 'no path: /')
  t.equal((await readExplainInput(['--data-raw', '{}', '-X', 'PUT', '/x'], noStdin)).method, 'PUT')
})

t.test('-H @- reads headers from standard input, once', async (t) => {
  let reads = 0
  const stdin = async () => {
    reads++
    return 'Authorization: Bearer abc.def.ghi\r\n\ncookie: s=1\n'
  }
  const input = await readExplainInput(['-H', '@-', '-b', 'c=2', '/x'], stdin)
  t.same(input.headers, { authorization: 'Bearer abc.def.ghi', cookie: 's=1; c=2' })
  t.equal(reads, 1)
})

t.test('a decision log line: method and path from it, on the line or on standard input', async (t) => {
  const input = await readExplainInput(['--log-line', LOG], noStdin)
  t.same(input, {
    method: 'GET',
    target: '/pipeline/apis/v2beta1/runs',
    headers: {},
    json: false,
    logged: { outcome: 'unauthenticated', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'], kind: 'api', source: 'authorization', credential: '0a1b2c3d', method: 'GET', path: '/pipeline/apis/v2beta1/runs' },
  })
  const fromStdin = await readExplainInput(['--from-log', '-'], async () => `${LOG}\n`)
  t.same(fromStdin.logged, input.logged)
  t.same(parseLogLine('{"outcome":"skip","method":"GET","path":"/dex"}'), { outcome: 'skip', reason: '', method: 'GET', path: '/dex' }, 'optional fields left out')
})

t.test('usage errors, never echoing a header line', async (t) => {
  const cases: Array<[string[], RegExp, string?]> = [
    [['-H'], /-H needs a value/],
    [['--frobnicate', '/x'], /unknown option "--frobnicate"/],
    [['/x', '/y'], /unexpected argument "\/y"/],
    [[], /give the URL/],
    [['not a url'], /not a URL or a path/],
    [['ftp://example.com/x'], /only http and https/],
    [['-H', 'Authorization Bearer secret-token', '/x'], /not of the form "name: value"/],
    [['-H', '@-', '--log-line', '-'], /cannot both read standard input/],
    [['--log-line', 'not json'], /not a JSON log line/],
    [['--log-line', 'null'], /not a decision line/],
    [['--log-line', '{"outcome":"allow"}'], /not a decision line/],
  ]
  for (const [argv, message] of cases) {
    const error = await readExplainInput(argv, noStdin).catch((caught: unknown) => caught)
    t.type(error, ExplainUsageError, argv.join(' '))
    t.match((error as Error).message, message)
    t.notMatch((error as Error).message, 'secret-token')
  }
  t.throws(() => parseHeaderLines([": no name"]), { message: /not of the form/ })
})
