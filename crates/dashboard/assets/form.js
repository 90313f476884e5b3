// Spectra's dashboard: the form that creates or edits an app. It covers every field of the app
// object, previews the JSON it sends, and puts each API validation message next to the field
// the message names.
'use strict';

(() => {
  const S = window.Spectra;

  const select = (id, label, options, hint = '') => `<div>
    <label for="f-${id}">${label}${hint ? `<span class="hint">${hint}</span>` : ''}</label>
    <select id="f-${id}" data-field="${id}" aria-describedby="err-${id}">
      ${options.map((o) => `<option value="${S.esc(o)}">${S.esc(o === '' ? '(A and AAAA)' : o)}</option>`).join('')}
    </select><p class="field-error" id="err-${id}"></p></div>`;
  const text = (id, label, hint = '', type = 'text') => `<div>
    <label for="f-${id}">${label}${hint ? `<span class="hint">${hint}</span>` : ''}</label>
    <input type="${type}" id="f-${id}" data-field="${id}" aria-describedby="err-${id}">
    <p class="field-error" id="err-${id}"></p></div>`;
  const check = (id, label) => `<div class="check">
    <input type="checkbox" id="f-${id}" data-field="${id}" aria-describedby="err-${id}">
    <label for="f-${id}">${label}</label><p class="field-error" id="err-${id}"></p></div>`;

  const FORM = `<form id="app-form" class="grid" novalidate>
    <p class="error-box" role="alert" id="form-error"></p>
    <div class="two">${text('protocol', 'Protocol', 'tcp/22, udp/27015, tcp/1000-2000 or a named protocol')}
      ${select('traffic_type', 'Traffic type', ['direct', 'http', 'https'])}</div>
    <fieldset><legend>Hostname</legend><div class="two">
      ${text('dns.name', 'Name', 'ssh.example.com: in this zone')}
      ${select('dns.type', 'Record', ['CNAME', 'ADDRESS'], 'CNAME for dynamic edge IPs, ADDRESS for static')}</div></fieldset>
    <fieldset><legend>Origin</legend>
      <div class="check"><input type="radio" name="origin-kind" id="kind-direct" value="direct" checked>
        <label for="kind-direct">Addresses</label>
        <input type="radio" name="origin-kind" id="kind-dns" value="dns"> <label for="kind-dns">A DNS name</label></div>
      <div id="origin-direct"><label for="f-origin_direct">Origin addresses<span class="hint">one URI per line,
        tcp://192.0.2.1:22; several balance the load</span></label>
        <textarea id="f-origin_direct" data-field="origin_direct" rows="3" aria-describedby="err-origin_direct"></textarea>
        <p class="field-error" id="err-origin_direct"></p></div>
      <div id="origin-dns" hidden><div class="two">${text('origin_dns.name', 'Origin name', 'a name in this zone')}
        ${select('origin_dns.type', 'Record type', ['', 'A', 'AAAA', 'SRV'])}</div>
        <div class="two">${text('origin_dns.ttl', 'TTL', 'seconds, at least 600', 'number')}
        ${text('origin_port', 'Origin port', '22, or a range 2000-2100')}</div></div>
      <p class="field-error" id="err-origin"></p>
    </fieldset>
    <fieldset><legend>Edge IPs</legend><div class="two">
      ${select('edge_ips.type', 'Type', ['dynamic', 'static'])}
      ${select('edge_ips.connectivity', 'Connectivity', ['all', 'ipv4', 'ipv6'], 'dynamic only')}</div>
      ${text('edge_ips.ips', 'Static addresses', 'comma-separated; static only')}</fieldset>
    <div class="two">${select('proxy_protocol', 'PROXY protocol', ['off', 'v1', 'v2', 'simple'])}
      ${select('tls', 'TLS', ['off', 'flexible', 'full', 'strict'])}</div>
    ${check('ip_firewall', 'Apply the zone’s IP Access Rules (ip_firewall)')}
    ${check('argo_smart_routing', 'Argo Smart Routing')}
    <div><h2 id="preview-label">JSON sent</h2><pre id="preview" aria-labelledby="preview-label"></pre></div>
    <div class="actions"><button type="submit" id="save">Save</button><a href="" id="cancel">Cancel</a></div>
  </form>`;

  const field = (id) => S.$(`#f-${CSS.escape(id)}`);

  /** The app object the form describes (optional fields left out when empty). */
  function config() {
    const v = (id) => field(id).value.trim();
    const c = { protocol: v('protocol'), dns: { type: v('dns.type'), name: v('dns.name') }, traffic_type: v('traffic_type') };
    if (S.$('#kind-dns').checked) {
      c.origin_dns = { name: v('origin_dns.name'), type: v('origin_dns.type') };
      if (v('origin_dns.ttl')) c.origin_dns.ttl = Number(v('origin_dns.ttl'));
      if (v('origin_port')) c.origin_port = /^\d+$/.test(v('origin_port')) ? Number(v('origin_port')) : v('origin_port');
    } else {
      c.origin_direct = v('origin_direct').split(/\s+/).filter(Boolean);
    }
    c.edge_ips = v('edge_ips.type') === 'static'
      ? { type: 'static', ips: v('edge_ips.ips').split(/[\s,]+/).filter(Boolean) }
      : { type: 'dynamic', connectivity: v('edge_ips.connectivity') };
    c.proxy_protocol = v('proxy_protocol');
    c.tls = v('tls');
    c.ip_firewall = field('ip_firewall').checked;
    c.argo_smart_routing = field('argo_smart_routing').checked;
    return c;
  }

  function fill(app) {
    const set = (id, value) => {
      if (value !== undefined && value !== null) field(id).value = value;
    };
    set('protocol', app.protocol);
    set('traffic_type', app.traffic_type);
    set('dns.name', app.dns?.name);
    set('dns.type', app.dns?.type);
    if (app.origin_dns) {
      S.$('#kind-dns').checked = true;
      set('origin_dns.name', app.origin_dns.name);
      set('origin_dns.type', app.origin_dns.type || '');
      set('origin_dns.ttl', app.origin_dns.ttl);
      set('origin_port', app.origin_port);
    } else {
      set('origin_direct', (app.origin_direct || []).join('\n'));
    }
    set('edge_ips.type', app.edge_ips?.type);
    set('edge_ips.connectivity', app.edge_ips?.connectivity);
    set('edge_ips.ips', (app.edge_ips?.ips || []).join(', '));
    set('proxy_protocol', app.proxy_protocol);
    set('tls', app.tls);
    field('ip_firewall').checked = !!app.ip_firewall;
    field('argo_smart_routing').checked = !!app.argo_smart_routing;
  }

  function sync() {
    const dns = S.$('#kind-dns').checked;
    S.$('#origin-dns').hidden = !dns;
    S.$('#origin-direct').hidden = dns;
    const isStatic = field('edge_ips.type').value === 'static';
    field('edge_ips.ips').disabled = !isStatic;
    field('edge_ips.connectivity').disabled = isStatic;
    S.$('#preview').textContent = JSON.stringify(config(), null, 2);
  }

  /** The field an API message names: its leading path (`protocol: ...`, `edge_ips.ips: ...`,
   * `origin_direct[0] ...`, `json: unknown field "x"`), or the closest enclosing one. */
  function fieldOf(message) {
    const path = (message.match(/^([a-z_]+(?:\.[a-z_]+)*)/) || [])[1];
    for (let p = path; p; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
      if (S.$(`#err-${CSS.escape(p)}`)) return p;
    }
    if (/origin/.test(message)) return 'origin';
    return null;
  }

  function clearErrors() {
    S.view().querySelectorAll('.field-error').forEach((e) => (e.textContent = ''));
    S.view().querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
    S.$('#form-error').textContent = '';
  }

  function showErrors(error) {
    let first = null;
    for (const e of error.errors || []) {
      const id = fieldOf(e.message);
      const slot = id && S.$(`#err-${CSS.escape(id)}`);
      if (!slot) continue;
      slot.textContent = `${e.message} (code ${e.code})`;
      const input = field(id);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        first = first || input;
      }
    }
    if (!first) S.$('#form-error').textContent = error.message;
    (first || S.$('#form-error')).focus?.();
  }

  async function form(zoneId, appId) {
    const app = appId ? (await S.api('GET', `/zones/${zoneId}/spectrum/apps/${appId}`)).result : null;
    S.show(`<h1>${app ? `Edit ${S.esc(app.dns?.name)}` : 'Create an app'}</h1>${FORM}`);
    S.$('#cancel').href = `#/zones/${zoneId}`;
    if (app) fill(app);
    else field('dns.name').placeholder = 'app.example.com';
    S.$('#app-form').addEventListener('input', sync);
    S.$('#app-form').addEventListener('change', sync);
    sync();
    S.$('#app-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors();
      try {
        if (app) await S.api('PUT', `/zones/${zoneId}/spectrum/apps/${appId}`, config());
        else await S.api('POST', `/zones/${zoneId}/spectrum/apps`, config());
        location.hash = `#/zones/${zoneId}`;
      } catch (error) {
        if (error instanceof S.ApiError && error.status === 400) showErrors(error);
        else S.$('#form-error').textContent = error.message;
      }
    });
  }

  S.route(/^#\/zones\/([0-9a-f]{32})\/apps\/new$/, (zoneId) => form(zoneId, null));
  S.route(/^#\/zones\/([0-9a-f]{32})\/apps\/([0-9a-f]{32})\/edit$/, form);
})();
