// `authservice hash-password`: a bcrypt hash Dex accepts (cost 10), from the argument or the first
// line of standard input; only the hash on standard output.
import t from 'tap'
import { PassThrough } from 'node:stream'
import bcrypt from 'bcryptjs'
import { BCRYPT_COST, MAX_PASSWORD_BYTES, hashPassword, readFirstLine } from '../../../src/cli/hash-password.js'

function io(input = '') {
  const out: string[] = []
  const err: string[] = []
  const prompts: string[] = []
  return {
    out,
    err,
    prompts,
    io: {
      out: (text: string) => out.push(text),
      err: (text: string) => err.push(text),
      readLine: async (prompt: string) => {
        prompts.push(prompt)
        return input
      },
    },
  }
}

t.test('hashes the password given as an argument, with a note about shell history', async (t) => {
  const run = io()
  t.equal(await hashPassword('12341234', run.io), 0)
  t.equal(run.out.length, 1)
  const hash = run.out[0]!.trimEnd()
  t.match(run.out[0], /\n$/, 'one line')
  t.match(hash, /^\$2[ab]\$10\$[./A-Za-z0-9]{53}$/, 'a $2b$ (or $2a$) bcrypt hash of cost 10')
  t.equal(bcrypt.getRounds(hash), BCRYPT_COST)
  t.ok(await bcrypt.compare('12341234', hash), 'it verifies')
  t.notOk(await bcrypt.compare('12341235', hash))
  t.match(run.err.join(''), /shell history/)
  t.same(run.prompts, [], 'standard input is not read')
})

t.test('reads the password from standard input when none is given', async (t) => {
  const run = io('from stdin')
  t.equal(await hashPassword(undefined, run.io), 0)
  t.same(run.prompts, ['Password: '])
  t.ok(await bcrypt.compare('from stdin', run.out[0]!.trimEnd()))
  t.same(run.err, [], 'no note')
})

t.test('refuses an empty password and one longer than bcrypt can use', async (t) => {
  const empty = io('')
  t.equal(await hashPassword(undefined, empty.io), 1)
  t.same(empty.out, [], 'nothing on standard output')
  t.match(empty.err.join(''), /empty/)

  const long = io()
  t.equal(await hashPassword('é'.repeat(MAX_PASSWORD_BYTES / 2 + 1), long.io), 1, 'counted in bytes, not characters')
  t.same(long.out, [])
  t.match(long.err.join(''), /longer than 72 bytes/)
  t.equal(await hashPassword('a'.repeat(MAX_PASSWORD_BYTES), io().io), 0, '72 bytes is fine')
})

t.test('readFirstLine: the first line, without \\n or \\r\\n, and stops reading there', async (t) => {
  const stream = new PassThrough()
  const line = readFirstLine(stream)
  stream.write('sec')
  stream.write('ret\r\nsecond line\n')
  t.equal(await line, 'secret')
  t.equal(stream.listenerCount('data'), 0, 'no longer listening')
  t.ok(stream.isPaused(), 'paused, so a terminal lets the process exit')

  const piped = new PassThrough()
  const all = readFirstLine(piped)
  piped.end('no newline at all')
  t.equal(await all, 'no newline at all', 'everything when the input ends without a newline')

  const empty = new PassThrough()
  const nothing = readFirstLine(empty)
  empty.end()
  t.equal(await nothing, '')

  const failing = new PassThrough()
  const failed = readFirstLine(failing)
  failing.destroy(new Error('EIO'))
  await t.rejects(failed, /EIO/)
  t.equal(failing.listenerCount('data'), 0)
})
