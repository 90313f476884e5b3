// Spectra's dashboard: an app's traffic from the analytics API: connections and bytes each way
// over the last hour or day (uPlot charts), duration percentiles and events by type, refreshed
// every 10 s.
'use strict';

(() => {
  const S = window.Spectra;
  const PERIODS = { hour: { ms: 3600e3, delta: 'minute' }, day: { ms: 86400e3, delta: 'dekaminute' } };
  let charts = [];

  async function load(zoneId, appId, period) {
    const until = new Date();
    const since = new Date(until - PERIODS[period].ms).toISOString();
    const base = `/zones/${zoneId}/spectrum/analytics/events`;
    const q = (params) => new URLSearchParams({ since, until: until.toISOString(), ...params });
    const byEvent = new URLSearchParams(q({ filters: `appID==${appId}`, dimensions: 'event' }));
    for (const m of ['count', 'bytesIngress', 'bytesEgress']) byEvent.append('metrics', m);
    const durations = new URLSearchParams(q({ filters: `appID==${appId};event==disconnect,appID==${appId};event==originError` }));
    for (const m of ['count', 'durationAvg', 'durationMedian', 'duration90th', 'duration99th']) durations.append('metrics', m);
    const series = new URLSearchParams(q({ filters: `appID==${appId}`, dimensions: 'event', time_delta: PERIODS[period].delta }));
    for (const m of ['count', 'bytesIngress', 'bytesEgress']) series.append('metrics', m);
    const [events, ended, time] = await Promise.all([
      S.api('GET', `${base}/summary?${byEvent}`),
      S.api('GET', `${base}/summary?${durations}`),
      S.api('GET', `${base}/bytime?${series}`),
    ]);
    return { events: events.result, ended: ended.result, time: time.result };
  }

  function draw(time) {
    charts.forEach((c) => c.destroy());
    charts = [];
    const x = time.time_intervals.map(([start]) => Date.parse(start) / 1000);
    const zero = x.map(() => 0);
    const pick = (event, metric) => time.data.find((d) => d.dimensions[0] === event)?.metrics[metric] || zero;
    const sum = (metric) => x.map((_, i) => time.data.reduce((a, d) => a + (d.metrics[metric][i] || 0), 0));
    const width = Math.min(S.$('#charts').clientWidth || 600, 1000);
    const plot = (title, series, data) => {
      const box = document.createElement('figure');
      box.className = 'chart';
      box.setAttribute('aria-label', title);
      S.$('#charts').appendChild(box);
      if (typeof uPlot === 'undefined') return;
      charts.push(new uPlot({ title, width, height: 200, series: [{}, ...series] }, [x, ...data], box));
    };
    plot('Connections opened', [{ label: 'connect', stroke: '#0b4f9c' }], [pick('connect', 0)]);
    plot('Bytes', [{ label: 'client → edge', stroke: '#0a6b2c' }, { label: 'edge → client', stroke: '#a00000' }], [sum(1), sum(2)]);
  }

  function cards(events, ended) {
    const total = (m) => events.totals?.[m] ?? 0;
    const connects = events.data.find((d) => d.dimensions[0] === 'connect')?.metrics[0] ?? 0;
    const ms = (m) => `${Number(ended.totals?.[m] ?? 0).toFixed(1)} ms`;
    return [
      ['Connections', connects, 'connections'],
      ['Bytes in', S.bytes(total('bytesIngress')), 'bytes-in'],
      ['Bytes out', S.bytes(total('bytesEgress')), 'bytes-out'],
      ['Median duration', ms('durationMedian'), 'p50'],
      ['90th percentile', ms('duration90th'), 'p90'],
      ['99th percentile', ms('duration99th'), 'p99'],
    ]
      .map(([label, value, id]) => `<div class="card"><span>${label}</span><strong id="stat-${id}">${S.esc(value)}</strong></div>`)
      .join('');
  }

  S.route(/^#\/zones\/([0-9a-f]{32})\/apps\/([0-9a-f]{32})(?:\?period=(hour|day))?$/, async (zoneId, appId, period = 'hour') => {
    const app = (await S.api('GET', `/zones/${zoneId}/spectrum/apps/${appId}`)).result;
    S.show(`<h1>${S.esc(app.dns?.name)}: traffic</h1>
      <p class="actions"><a href="#/zones/${zoneId}">Back to the apps</a>
        <a href="#/zones/${zoneId}/apps/${appId}/edit">Edit</a>
        <a href="#/zones/${zoneId}/apps/${appId}?period=${period === 'hour' ? 'day' : 'hour'}">Last ${period === 'hour' ? 'day' : 'hour'}</a></p>
      <p class="muted">Last ${period}, refreshed every 10 s. <code>${S.esc(app.protocol)}</code> ${S.esc(app.traffic_type)}</p>
      <div class="cards" id="cards"></div>
      <h2>Events by type</h2><div class="table-wrap"><table><thead><tr><th scope="col">Event</th><th scope="col">Count</th>
        <th scope="col">Bytes in</th><th scope="col">Bytes out</th></tr></thead><tbody id="events"></tbody></table></div>
      <h2>Over time</h2><div id="charts"></div>`);
    const refresh = async () => {
      const { events, ended, time } = await load(zoneId, appId, period);
      if (!S.$('#cards')) return;
      S.$('#cards').innerHTML = cards(events, ended);
      S.$('#events').innerHTML = events.data
        .map((d) => `<tr data-event="${S.esc(d.dimensions[0])}"><td>${S.esc(d.dimensions[0])}</td><td class="count">${S.esc(d.metrics[0])}</td>
          <td>${S.esc(S.bytes(d.metrics[1]))}</td><td>${S.esc(S.bytes(d.metrics[2]))}</td></tr>`)
        .join('') || '<tr><td colspan="4" class="muted">No events in this period.</td></tr>';
      S.$('#charts').innerHTML = '';
      draw(time);
    };
    await refresh();
    S.every(10000, () => refresh().catch(() => {}));
  });
})();
