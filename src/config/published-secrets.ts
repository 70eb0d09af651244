/**
 * Secret values printed in public, which must never protect a real install: every secret this
 * repository has ever published (manifests, README, examples) and the client secret Kubeflow's
 * manifests ship. A key derived from one of them lets anyone forge a session, so config/load.ts
 * refuses them for SESSION_SECRETS and SESSION_STORE_REDIS_PWD and warns about CLIENT_SECRET.
 *
 * A value once published stays here for good: deleting it from a manifest does not unpublish it.
 * test/unit/config/published-secrets.test.ts fails when a secret-looking literal in deploy/,
 * README.md or examples/ is missing from this list.
 */

/** Each published value, and where it was published (for whoever reads this list). */
export const PUBLISHED_SECRETS: ReadonlyMap<string, string> = new Map([
  ['pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok', 'kubeflow/manifests: CLIENT_SECRET of oidc-authservice and oauth2-proxy, Dex client kubeflow-oidc-authservice'],
  ['fake-dev-only-client-secret-change-me', 'deploy/overlays/dev: CLIENT_SECRET (until 0.1.0)'],
  ['RkFLRS1ERVYtT05MWS1LRVktTk9ULUZPUi1QUk9EISE=', 'deploy/overlays/dev: SESSION_SECRETS (until 0.1.0)'],
])

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, index) => byte === b[index])

/** The ways a published text can come back as key bytes: its base64 (or base64url) decoding, and its UTF-8 bytes. */
const PUBLISHED_KEYS: readonly Uint8Array[] = [...PUBLISHED_SECRETS.keys()].flatMap((value) => [
  new Uint8Array(Buffer.from(value, 'base64')),
  new TextEncoder().encode(value),
])

/** True when `text` is a published secret, exactly. */
export function isPublishedSecret(text: string): boolean {
  return PUBLISHED_SECRETS.has(text)
}

/** True when `key` (a decoded SESSION_SECRETS entry) has the bytes of a published secret, in any base64 spelling. */
export function isPublishedKey(key: Uint8Array): boolean {
  return PUBLISHED_KEYS.some((published) => sameBytes(published, key))
}
