// Spectra's dashboard: a zone's apps with where they listen and the live state of each
// listener (on every node of a fleet), with search and paging; deleting an app.
'use strict';

(() => {
  const S = window.Spectra;
  const PER_PAGE = 20;

  const origins = (c) => {
    if (c.origin_direct) return c.origin_direct.map((o) => `<code>${S.esc(o)}</code>`).join('<br>');
    if (c.origin_dns) {
      const port = c.origin_port !== undefined ? `:${S.esc(c.origin_port)}` : '';
      return `<code>${S.esc(c.origin_dns.name)}${port}</code> <span class="muted">(DNS ${S.esc(c.origin_dns.type || 'A/AAAA')})</span>`;
    }
    return '';
  };

  const listeners = (status) => {
    if (!status) return '<span class="muted">unknown</span>';
    const nodes = status.nodes && status.nodes.length > 1 ? status.nodes : null;
    const rows = (list) =>
      list
        .map((l) =>
          l.state === 'bound'
            ? `<span class="bound">${S.esc(l.address)}/${S.esc(l.transport)} listening</span>`
            : `<span class="failed">${S.esc(l.address)}/${S.esc(l.transport)} failed: ${S.esc(l.error || l.state)}</span>`,
        )
        .join('<br>');
    if (nodes) {
      return nodes
        .map((n) => `<strong>${S.esc(n.name)}</strong>: ${rows(n.listeners || []) || '<span class="muted">not listening</span>'}`)
        .join('<br>');
    }
    return rows(status.listeners || []) || '<span class="muted">not listening yet</span>';
  };

  S.route(/^#\/zones\/([0-9a-f]{32})(?:\?(.*))?$/, async (zoneId, query) => {
    const params = new URLSearchParams(query || '');
    const search = (params.get('q') || '').toLowerCase();
    const page = Math.max(1, Number(params.get('page')) || 1);
    const [zone, all] = await Promise.all([
      S.api('GET', `/zones/${zoneId}`).then((e) => e.result),
      S.all(`/zones/${zoneId}/spectrum/apps`),
    ]);
    const matching = all.filter((a) =>
      !search || [a.id, a.protocol, a.dns?.name, ...(a.origin_direct || []), a.origin_dns?.name]
        .some((v) => String(v || '').toLowerCase().includes(search)),
    );
    const pages = Math.max(1, Math.ceil(matching.length / PER_PAGE));
    const shown = matching.slice((page - 1) * PER_PAGE, page * PER_PAGE);
    const statuses = await Promise.all(
      shown.map((a) => S.api('GET', `/zones/${zoneId}/spectrum/apps/${a.id}/status`).then((e) => e.result, () => null)),
    );
    const link = (p) => `#/zones/${zoneId}?${new URLSearchParams({ q: search, page: p })}`;
    const rows = shown
      .map(
        (a, i) => `<tr data-app="${S.esc(a.id)}">
        <td><a href="#/zones/${zoneId}/apps/${S.esc(a.id)}">${S.esc(a.dns?.name)}</a><br><code class="muted">${S.esc(a.id)}</code></td>
        <td><code>${S.esc(a.protocol)}</code><br><span class="muted">${S.esc(a.traffic_type)}</span></td>
        <td>${origins(a)}</td>
        <td>${S.esc((statuses[i]?.edge_ips || []).join(', '))}</td>
        <td class="listeners">${listeners(statuses[i])}</td>
        <td><a class="button secondary" href="#/zones/${zoneId}/apps/${S.esc(a.id)}/edit" aria-label="Edit ${S.esc(a.dns?.name)}">Edit</a>
          <button type="button" class="danger" data-delete="${S.esc(a.id)}" aria-label="Delete ${S.esc(a.dns?.name)}">Delete</button></td>
      </tr>`,
      )
      .join('');
    S.show(`<h1>${S.esc(zone.name)}: apps</h1>
      <p class="actions"><a class="button" id="create-app" href="#/zones/${zoneId}/apps/new">Create app</a>
        <a href="#/zones/${zoneId}/rules">IP Access Rules</a> <a href="#/zones/${zoneId}/certificates">Certificates</a>
        <a href="#/">All zones</a></p>
      <form id="search" class="actions" role="search">
        <label for="q">Search apps</label>
        <input type="search" id="q" value="${S.esc(search)}" placeholder="hostname, protocol, origin or id">
        <button type="submit" class="secondary">Search</button>
      </form>
      <p class="error-box" role="alert" id="apps-error"></p>
      ${shown.length ? `<div class="table-wrap"><table>
        <caption class="muted">${matching.length} app(s)${search ? ` matching “${S.esc(search)}”` : ''}; page ${page} of ${pages}</caption>
        <thead><tr><th scope="col">Hostname</th><th scope="col">Protocol</th><th scope="col">Origins</th>
        <th scope="col">Edge addresses</th><th scope="col">Listeners</th><th scope="col">Actions</th></tr></thead>
        <tbody id="apps">${rows}</tbody></table></div>` : '<p id="no-apps">No app here yet.</p>'}
      <nav class="actions" aria-label="Pages">
        ${page > 1 ? `<a href="${link(page - 1)}">Previous page</a>` : ''}
        ${page < pages ? `<a href="${link(page + 1)}">Next page</a>` : ''}
      </nav>`);
    S.$('#search').addEventListener('submit', (event) => {
      event.preventDefault();
      location.hash = `#/zones/${zoneId}?${new URLSearchParams({ q: S.$('#q').value.trim(), page: 1 })}`;
    });
    S.view().querySelectorAll('[data-delete]').forEach((button) =>
      button.addEventListener('click', async () => {
        const id = button.dataset.delete;
        if (!window.confirm(`Delete app ${id}? Its listeners stop and open connections drain.`)) return;
        try {
          await S.api('DELETE', `/zones/${zoneId}/spectrum/apps/${id}`);
          S.render();
        } catch (error) {
          S.$('#apps-error').textContent = error.message;
        }
      }),
    );
  });
})();
