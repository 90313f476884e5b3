// Spectra's dashboard, core: the API client (every action goes through /client/v4 with the
// credentials held in this browser session only), the views' router, sign-in and sign-out.
'use strict';

const S = (window.Spectra = { views: [] });
const API = '/client/v4';
const KEY = 'spectra.credentials';

S.$ = (selector, root = document) => root.querySelector(selector);
S.esc = (value) =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
S.view = () => S.$('#view');

S.credentials = () => {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
};

class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => `${e.message} (code ${e.code})`).join('; ') || `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
}
S.ApiError = ApiError;

/** One API call; resolves to the envelope, rejects with an ApiError naming the API's errors. */
S.api = async (method, path, body) => {
  const c = S.credentials() || {};
  const headers = c.token ? { Authorization: `Bearer ${c.token}` } : { 'X-Auth-Email': c.email || '', 'X-Auth-Key': c.key || '' };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  let envelope;
  try {
    envelope = await response.json();
  } catch {
    envelope = { success: false, errors: [] };
  }
  if (!response.ok || !envelope.success) throw new ApiError(response.status, envelope.errors || []);
  return envelope;
};

/** Every item of a paged list. */
S.all = async (path, perPage = 100) => {
  const items = [];
  for (let page = 1; ; page += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const env = await S.api('GET', `${path}${sep}page=${page}&per_page=${perPage}`);
    items.push(...env.result);
    if (env.result.length < perPage) return items;
  }
};

S.show = (html) => {
  S.view().innerHTML = html;
};

S.showError = (error) => {
  S.show(`<h1>Something went wrong</h1><p class="error-box" role="alert">${S.esc(error.message)}</p>
    <p><a href="#/">Back to the zones</a></p>`);
};

S.bytes = (n) => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n) || 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
};

/** Registers a view for hashes matching `pattern`; its captures are the view's arguments. */
S.route = (pattern, render) => S.views.push([pattern, render]);

let refresher = null;
/** Calls `f` every `ms` until the view changes. */
S.every = (ms, f) => {
  clearInterval(refresher);
  refresher = setInterval(f, ms);
};

function signIn(message) {
  S.$('#who').textContent = '';
  S.$('#sign-out').hidden = true;
  S.show(`<h1>Sign in</h1>
    <p>Use an API token, or an email and its global API key. They stay in this browser tab
    (session storage) and go only to this node's API.</p>
    <p class="error-box" role="alert" id="sign-in-error">${S.esc(message || '')}</p>
    <form id="sign-in" class="grid">
      <div><label for="token">API token</label><input type="password" id="token" autocomplete="off"></div>
      <p class="muted">or</p>
      <div class="two">
        <div><label for="email">Email</label><input type="text" id="email" autocomplete="username"></div>
        <div><label for="key">Global API key</label><input type="password" id="key" autocomplete="current-password"></div>
      </div>
      <div><button type="submit">Sign in</button></div>
    </form>`);
  S.$('#sign-in').addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = S.$('#token').value.trim();
    const email = S.$('#email').value.trim();
    const key = S.$('#key').value.trim();
    if (!token && !(email && key)) {
      S.$('#sign-in-error').textContent = 'Give an API token, or an email and a global API key.';
      return;
    }
    sessionStorage.setItem(KEY, JSON.stringify(token ? { token } : { email, key }));
    try {
      await S.api('GET', '/zones?per_page=1');
      if (location.hash === '' || location.hash === '#/') render();
      else location.hash = '#/';
    } catch (error) {
      sessionStorage.removeItem(KEY);
      signIn(`Sign-in failed: ${error.message}`);
    }
  });
  S.$('#token').focus();
}

S.signOut = () => {
  sessionStorage.removeItem(KEY);
  location.hash = '#/';
  render();
};

async function render() {
  clearInterval(refresher);
  const c = S.credentials();
  if (!c) return signIn();
  S.$('#who').textContent = c.token ? 'Signed in with a token' : `Signed in as ${c.email}`;
  S.$('#sign-out').hidden = false;
  const hash = location.hash || '#/';
  for (const [pattern, view] of S.views) {
    const match = hash.match(pattern);
    if (match) {
      try {
        await view(...match.slice(1));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          sessionStorage.removeItem(KEY);
          return signIn('Your credentials were refused: sign in again.');
        }
        S.showError(error);
      }
      const heading = S.$('h1');
      if (heading) document.title = `${heading.textContent} · Spectra`;
      return;
    }
  }
  S.show('<h1>Not found</h1><p><a href="#/">Back to the zones</a></p>');
}
S.render = render;

// Zones, with how many apps each has.
S.route(/^#\/?$/, async () => {
  const zones = await S.all('/zones', 50);
  const counts = await Promise.all(
    zones.map((z) =>
      S.api('GET', `/zones/${z.id}/spectrum/apps?page=1&per_page=1`).then(
        (env) => env.result_info?.total_count ?? env.result.length,
        () => '–',
      ),
    ),
  );
  const rows = zones
    .map(
      (z, i) => `<tr><td><a href="#/zones/${S.esc(z.id)}">${S.esc(z.name)}</a></td><td>${S.esc(counts[i])}</td>
        <td><a href="#/zones/${S.esc(z.id)}/rules">IP Access Rules</a> ·
        <a href="#/zones/${S.esc(z.id)}/certificates">Certificates</a></td></tr>`,
    )
    .join('');
  S.show(`<h1>Zones</h1>
    ${zones.length ? `<div class="table-wrap"><table><caption class="muted">${zones.length} zone(s)</caption>
      <thead><tr><th scope="col">Zone</th><th scope="col">Apps</th><th scope="col">Settings</th></tr></thead>
      <tbody id="zones">${rows}</tbody></table></div>` : '<p>No zone yet: create one with <code>spectra zone create NAME</code>.</p>'}`);
});

document.addEventListener('DOMContentLoaded', () => {
  S.$('#sign-out').addEventListener('click', S.signOut);
  window.addEventListener('hashchange', render);
  render();
});
