// Spectra's dashboard: a zone's IP Access Rules and custom certificates: list, add, delete.
'use strict';

(() => {
  const S = window.Spectra;

  function wireDeletes(path, noun) {
    S.view().querySelectorAll('[data-delete]').forEach((button) =>
      button.addEventListener('click', async () => {
        if (!window.confirm(`Delete this ${noun}?`)) return;
        try {
          await S.api('DELETE', `${path}/${button.dataset.delete}`);
          S.render();
        } catch (error) {
          S.$('#list-error').textContent = error.message;
        }
      }),
    );
  }

  function wireAdd(path, body) {
    S.$('#add').addEventListener('submit', async (event) => {
      event.preventDefault();
      S.$('#add-error').textContent = '';
      try {
        await S.api('POST', path, body());
        S.render();
      } catch (error) {
        S.$('#add-error').textContent = error.message;
      }
    });
  }

  S.route(/^#\/zones\/([0-9a-f]{32})\/rules$/, async (zoneId) => {
    const path = `/zones/${zoneId}/firewall/access_rules/rules`;
    const [zone, rules] = await Promise.all([S.api('GET', `/zones/${zoneId}`).then((e) => e.result), S.all(path, 1000)]);
    const rows = rules
      .map((r) => `<tr><td>${S.esc(r.mode)}</td><td>${S.esc(r.configuration.target)}</td><td><code>${S.esc(r.configuration.value)}</code></td>
        <td>${S.esc(r.notes)}</td><td><button type="button" class="danger" data-delete="${S.esc(r.id)}"
        aria-label="Delete the rule on ${S.esc(r.configuration.value)}">Delete</button></td></tr>`)
      .join('');
    S.show(`<h1>${S.esc(zone.name)}: IP Access Rules</h1>
      <p class="actions"><a href="#/zones/${zoneId}">Back to the apps</a></p>
      <p>Apps with <code>ip_firewall</code> refuse clients a <code>block</code> rule matches, unless a
      <code>whitelist</code> rule matches them too.</p>
      <p class="error-box" role="alert" id="list-error"></p>
      <div class="table-wrap"><table><thead><tr><th scope="col">Mode</th><th scope="col">Target</th><th scope="col">Value</th>
        <th scope="col">Notes</th><th scope="col">Actions</th></tr></thead>
        <tbody id="rules">${rows || '<tr><td colspan="5" class="muted">No rule yet.</td></tr>'}</tbody></table></div>
      <h2>Add a rule</h2>
      <form id="add" class="grid"><p class="error-box" role="alert" id="add-error"></p>
        <div class="two"><div><label for="r-mode">Mode</label><select id="r-mode">
          ${['block', 'whitelist', 'challenge', 'js_challenge', 'managed_challenge'].map((m) => `<option>${m}</option>`).join('')}</select></div>
        <div><label for="r-target">Target</label><select id="r-target">
          ${['ip', 'ip_range', 'ip6', 'asn', 'country'].map((t) => `<option>${t}</option>`).join('')}</select></div></div>
        <div><label for="r-value">Value<span class="hint">198.51.100.4, 198.51.100.0/24, AS13335, US</span></label>
          <input type="text" id="r-value" required></div>
        <div><label for="r-notes">Notes</label><input type="text" id="r-notes"></div>
        <div><button type="submit">Add rule</button></div></form>`);
    wireDeletes(path, 'rule');
    wireAdd(path, () => ({
      mode: S.$('#r-mode').value,
      configuration: { target: S.$('#r-target').value, value: S.$('#r-value').value.trim() },
      notes: S.$('#r-notes').value,
    }));
  });

  S.route(/^#\/zones\/([0-9a-f]{32})\/certificates$/, async (zoneId) => {
    const path = `/zones/${zoneId}/custom_certificates`;
    const [zone, certificates] = await Promise.all([S.api('GET', `/zones/${zoneId}`).then((e) => e.result), S.all(path, 1000)]);
    const rows = certificates
      .map((c) => `<tr><td>${S.esc((c.hosts || []).join(', '))}</td><td>${S.esc(c.issuer)}</td><td>${S.esc(c.status)}</td>
        <td>${S.esc(c.expires_on)}</td><td><button type="button" class="danger" data-delete="${S.esc(c.id)}"
        aria-label="Delete the certificate for ${S.esc((c.hosts || []).join(', '))}">Delete</button></td></tr>`)
      .join('');
    S.show(`<h1>${S.esc(zone.name)}: certificates</h1>
      <p class="actions"><a href="#/zones/${zoneId}">Back to the apps</a></p>
      <p>TLS apps serve an uploaded certificate that covers the name a client asks for (exact
      name, then wildcard; the newest first), before any other.</p>
      <p class="error-box" role="alert" id="list-error"></p>
      <div class="table-wrap"><table><thead><tr><th scope="col">Hosts</th><th scope="col">Issuer</th><th scope="col">Status</th>
        <th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
        <tbody id="certificates">${rows || '<tr><td colspan="5" class="muted">No certificate yet.</td></tr>'}</tbody></table></div>
      <h2>Upload a certificate</h2>
      <form id="add" class="grid"><p class="error-box" role="alert" id="add-error"></p>
        <div><label for="c-certificate">Certificate<span class="hint">PEM, the leaf first, then its intermediates</span></label>
          <textarea id="c-certificate" rows="6" required></textarea></div>
        <div><label for="c-key">Private key<span class="hint">PEM; it is never shown again</span></label>
          <textarea id="c-key" rows="4" required></textarea></div>
        <div><button type="submit">Upload</button></div></form>`);
    wireDeletes(path, 'certificate');
    wireAdd(path, () => ({ certificate: S.$('#c-certificate').value, private_key: S.$('#c-key').value }));
  });
})();
