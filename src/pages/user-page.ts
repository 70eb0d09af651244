/**
 * The user's own page (`<prefix>me`, `<prefix>userinfo`): who the signed-in user is, as JSON in
 * oauth2-proxy's userinfo shape (`user`, `email`, `groups`, `preferredUsername`) or as a small page
 * with a Log out button and, when the operator allows it, a "Copy API token" button. The token is
 * only ever fetched by the page's script (POST, same origin) and written into the page as text:
 * never into a URL, never into the markup the service renders.
 */
import { contentSecurityPolicy, cspHash, html, page, raw } from './html.js'
import { jsonBody, type DenyBody } from './deny-pages.js'

export interface UserView {
  readonly user: string
  readonly email: string | undefined
  readonly preferredUsername: string | undefined
  readonly groups: readonly string[]
  /** ms: when the session (or the token the caller presented) ends. */
  readonly expiresAt: number | undefined
  /** AUTHSERVICE_URL_PREFIX's path (ends with `/`): where the page's buttons post. */
  readonly prefix: string
  /** USER_PAGE_API_TOKEN: show the "Copy API token" button. */
  readonly apiToken: boolean
}

/**
 * The page's one script, constant so that its hash is (the policy names it). It reads the prefix
 * from the page, logs out the way the Kubeflow dashboard does (POST <prefix>logout, then go to the
 * afterLogoutURL it answers), and fetches the token with a custom header (a cross-origin page cannot
 * send one without a CORS preflight, which the check refuses).
 */
const SCRIPT = `(function () {
  var root = document.getElementById('me');
  var prefix = root.getAttribute('data-prefix');
  function post(path) {
    return fetch(prefix + path, { method: 'POST', credentials: 'same-origin', cache: 'no-store', headers: { 'X-Requested-With': 'authservice' } });
  }
  function show(id, text) { var node = document.getElementById(id); node.textContent = text; node.hidden = false; }
  document.getElementById('logout').addEventListener('click', function () {
    post('logout').then(function (response) { return response.json(); })
      .then(function (answer) { window.location.assign(answer.afterLogoutURL || '/'); }, function () { window.location.assign('/'); });
  });
  var copy = document.getElementById('copy-token');
  if (!copy) return;
  copy.addEventListener('click', function () {
    post('me/token').then(function (response) {
      if (!response.ok) throw new Error('the token could not be fetched (' + response.status + ')');
      return response.json();
    }).then(function (answer) {
      var host = window.location.origin;
      show('token-expiry', 'This token expires at ' + new Date(answer.expiresAt).toISOString().slice(0, 16).replace('T', ' ') + ' UTC.');
      show('kfp-example', 'kfp.Client(host="' + host + '/pipeline", existing_token="' + answer.token + '")');
      show('curl-example', 'curl -H "Authorization: Bearer ' + answer.token + '" ' + host + '/pipeline/apis/v2beta1/runs');
      var copied = navigator.clipboard ? navigator.clipboard.writeText(answer.token) : Promise.reject(new Error('no clipboard'));
      copied.then(function () { show('token-status', 'Copied to the clipboard.'); },
        function () { show('token-status', 'Copy it from the examples below.'); });
    }).catch(function (error) { show('token-status', String(error.message)); });
  });
})();`

const USER_PAGE_POLICY = contentSecurityPolicy([cspHash(SCRIPT)], true)

const utc = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`

/** oauth2-proxy's userinfo: absent values are left out. */
export function userInfoBody(view: UserView): DenyBody {
  return jsonBody({
    user: view.user,
    ...(view.email === undefined ? {} : { email: view.email }),
    groups: view.groups,
    ...(view.preferredUsername === undefined ? {} : { preferredUsername: view.preferredUsername }),
  })
}

export function userPageBody(view: UserView): DenyBody {
  const groups = raw(view.groups.length === 0 ? '<dd>none</dd>' : view.groups.map((group) => html`<dd><code>${group}</code></dd>`).join(''))
  const optional = (id: string, label: string, value: string | undefined) =>
    value === undefined ? '' : html`<dt>${label}</dt><dd id="${id}">${value}</dd>`
  const token = view.apiToken
    ? html`<section><h2>API token</h2><p>For the Kubeflow Pipelines SDK or <code>curl</code>: your current ID token, valid until it expires.</p>
<button type="button" id="copy-token">Copy API token</button><p id="token-status" hidden></p><p id="token-expiry" hidden></p>
<pre id="kfp-example" hidden></pre><pre id="curl-example" hidden></pre></section>`
    : ''
  const body = html`<div id="me" data-prefix="${view.prefix}"><dl>
<dt>User</dt><dd id="user">${view.user}</dd>${raw(optional('email', 'Email', view.email))}${raw(optional('preferred-username', 'Username', view.preferredUsername))}
<dt>Groups</dt>${groups}${raw(optional('expires', 'Session ends', view.expiresAt === undefined ? undefined : utc(view.expiresAt)))}
</dl><button type="button" id="logout">Log out</button>${raw(token)}</div><script>${raw(SCRIPT)}</script>`
  return { contentType: 'text/html; charset=utf-8', body: page('Your account', body), contentSecurityPolicy: USER_PAGE_POLICY }
}

/** The current ID token and its end (ms), for the page's script only. */
export function userTokenBody(token: string, expiresAt: number | undefined): DenyBody {
  return jsonBody({ token, expiresAt })
}
