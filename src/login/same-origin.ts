/**
 * Whether a request was sent by a page of this site. Browsers send `Sec-Fetch-Site` on every request
 * (Fetch Metadata, W3C); older ones at least `Origin` on a POST (RFC 6454 §7, Fetch §3.1), whose host
 * must then be the one asked (`Host`, which Envoy always forwards to the check). Neither = not shown.
 */
export function fromSameOrigin(headers: Readonly<Record<string, string | undefined>>): boolean {
  const site = headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin'
  const origin = headers.origin
  const host = headers.host
  if (!origin || !host) return false
  try {
    return new URL(origin).host === host
  } catch {
    return false
  }
}
