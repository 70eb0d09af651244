/** Waits on a condition instead of sleeping: peers are ready when they answer, not after N ms. */
import { setTimeout as delay } from 'node:timers/promises'

export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  {
    timeoutMs = 20_000,
    intervalMs = 50,
    giveUpIf,
  }: {
    timeoutMs?: number
    intervalMs?: number
    /** Says why waiting any longer is pointless (a process that exited), or undefined to go on. */
    giveUpIf?: () => string | undefined
  } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    const reason = giveUpIf?.()
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}`, { cause: lastError })
    try {
      if (await probe()) return
    } catch (error) {
      lastError = error
    }
    await delay(intervalMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError })
}

/** True when GET url answers with the expected status. */
export async function answers(url: string, status = 200): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
  await response.arrayBuffer()
  return response.status === status
}
