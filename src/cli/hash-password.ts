/**
 * `authservice hash-password [password]`: a bcrypt hash for a Dex `staticPasswords` entry, so
 * Kubeflow users no longer need Python's passlib. Cost 10 (Dex accepts 10 to 16), a `$2b$` hash
 * (Dex's Go bcrypt reads `$2a$` and `$2b$` alike). Only the hash goes to standard output, so
 * `hash=$(authservice hash-password)` works; notes go to standard error.
 */
import bcrypt from 'bcryptjs'

export const BCRYPT_COST = 10
/** bcrypt reads at most 72 bytes; Go's bcrypt (Dex) refuses longer passwords outright. */
export const MAX_PASSWORD_BYTES = 72

export interface HashPasswordIo {
  out(text: string): void
  err(text: string): void
  /** The first line of standard input (after a prompt on a terminal), without its line ending. */
  readLine(prompt: string): Promise<string>
}

/**
 * The first line of `stream` without its line ending (`\n` or `\r\n`), or everything when it
 * ends without one. Stops reading at the first newline, so a terminal needs no end-of-file.
 */
export function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const finish = (line: string) => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
      stream.pause()
      resolve(line.replace(/\r$/, ''))
    }
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString()
      const newline = text.indexOf('\n')
      if (newline !== -1) finish(text.slice(0, newline))
    }
    const onEnd = () => finish(text)
    const onError = (error: unknown) => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      reject(error)
    }
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('error', onError)
  })
}

/** Runs the command; resolves with the exit code (0 printed a hash, 1 the password was refused). */
export async function hashPassword(given: string | undefined, io: HashPasswordIo): Promise<number> {
  if (given !== undefined) {
    io.err('note: a password on the command line can end up in your shell history; run without it to type or pipe it instead\n')
  }
  const password = given ?? (await io.readLine('Password: '))
  if (password === '') {
    io.err('authservice hash-password: the password is empty\n')
    return 1
  }
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    io.err(`authservice hash-password: the password is longer than ${MAX_PASSWORD_BYTES} bytes, which bcrypt (and so Dex) cannot use\n`)
    return 1
  }
  io.out(`${await bcrypt.hash(password, BCRYPT_COST)}\n`)
  return 0
}
