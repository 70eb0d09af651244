/**
 * The pages the service renders inside its deny answers. Self-contained (inline style, no fonts,
 * scripts or images from anywhere: air-gapped clusters), and every value that could come from a
 * user or a token is escaped.
 */

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

export function page(title: string, body: string, head = ''): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">${raw(head)}<title>${title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}a{color:#1a5fb4}code{background:#f2f2f2;padding:0 .2rem}</style>
</head><body><main><h1>${title}</h1>${raw(body)}</main></body></html>`
}
