/**
 * What the container image runs the service with, read from the Dockerfile so the benchmark and
 * the load script measure the service as deployed (one source: the Dockerfile's runtime stage).
 */
import { readFileSync } from 'node:fs'

const DOCKERFILE = new URL('../../../Dockerfile', import.meta.url)

/** The node flags of the image (NODE_OPTIONS in the Dockerfile), as a list of arguments. */
export function imageNodeArgs(): string[] {
  const match = /NODE_OPTIONS="([^"]*)"/.exec(readFileSync(DOCKERFILE, 'utf8'))
  if (!match) throw new Error('Dockerfile: NODE_OPTIONS not found (bench and load run the service with the image flags)')
  return match[1]!.split(' ').filter(Boolean)
}
