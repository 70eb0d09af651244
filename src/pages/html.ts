/**
 * The pages the service renders inside its deny answers. Self-contained (inline style, no fonts,
 * scripts or images from anywhere: air-gapped clusters), and every value that could come from a
 * user or a token is escaped. Every answer carries a Content-Security-Policy that allows only the
 * inline style and scripts rendered here, by hash (CSP Level 3 §8.4), and no framing.
 */
import { createHash } from 'node:crypto'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

/** A tagged template that escapes every interpolated value; wrap trusted markup in `raw()`. */
export interface RawHtml {
  readonly html: string
}
export const raw = (html: string): RawHtml => ({ html })

export function html(strings: TemplateStringsArray, ...values: Array<string | number | RawHtml>): string {
  let out = strings[0]!
  values.forEach((value, i) => {
    out += typeof value === 'object' ? value.html : escapeHtml(String(value))
    out += strings[i + 1]!
  })
  return out
}

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}a{color:#1a5fb4}' +
  'code{background:#f2f2f2;padding:0 .2rem}dt{font-weight:600;margin-top:.6rem}dd{margin:0}button{font:inherit;padding:.3rem .8rem;margin:.8rem .5rem 0 0}' +
  'pre{background:#f2f2f2;padding:.5rem;white-space:pre-wrap;word-break:break-all}'

/** `'sha256-…'` of an inline `<style>` or `<script>` text, as a CSP source expression. */
export const cspHash = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

const STYLE_SOURCE = cspHash(STYLE)

/**
 * The policy of every answer: nothing loads but the page's own style (and `scripts`, by hash), no
 * `<base>`, no form posts anywhere, never inside a frame (clickjacking). `connect` allows fetch()
 * to this origin (the user page's buttons).
 */
export function contentSecurityPolicy(scripts: readonly string[] = [], connect = false): string {
  const script = scripts.length > 0 ? `; script-src ${scripts.join(' ')}` : ''
  return `default-src 'none'; style-src ${STYLE_SOURCE}${script}${connect ? "; connect-src 'self'" : ''}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
}

export function page(title: string, body: string, head = ''): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">${raw(head)}<title>${title}</title>
<style>${raw(STYLE)}</style>
</head><body><main><h1>${title}</h1>${raw(body)}</main></body></html>`
}
