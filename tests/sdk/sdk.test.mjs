// The official npm `cloudflare` SDK (7.x) against a running `spectra serve`.
// Every client counts the requests it really sends (a wrapped fetch), so a retried error or a
// pagination loop shows up as a failure.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import Cloudflare from 'cloudflare';

const SPECTRA = process.env.SPECTRA_BIN ?? 'target/debug/spectra';
const dataDir = mkdtempSync(join(tmpdir(), 'spectra-node-'));
let server;
let baseURL;
let admin;
let reader;
let certifier;
let key;
const email = 'ops@example.com';

const cli = (...args) =>
  execFileSync(SPECTRA, [...args, '--data-dir', dataDir], { encoding: 'utf8' }).trim().split('\n').pop();

/** Queries the test's DNS server got. */
let dnsQueries = 0;

/** A DNS server on loopback answering NXDOMAIN to everything: origin_dns apps created here
 * never send a query anywhere else. Resolves to its "127.0.0.1:PORT". */
function nxdomainServer() {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (query, peer) => {
    if (query.length < 12) return;
    dnsQueries += 1;
    const reply = Buffer.concat([
      query.subarray(0, 2),
      Buffer.from([0x80 | (query[2] & 0x01), 0x83]),
      query.subarray(4, 6),
      Buffer.alloc(6),
      query.subarray(12),
    ]);
    sock.send(reply, peer.port, peer.address);
  });
  sock.unref();
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(`127.0.0.1:${sock.address().port}`)));
}

before(async () => {
  const resolver = await nxdomainServer();
  server = spawn(SPECTRA, ['serve', '--data-dir', dataDir, '--api-listen', '127.0.0.1:0', '--resolver', resolver], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: server.stdout });
  const [line] = await new Promise((resolve) => lines.once('line', (l) => resolve([l])));
  assert.match(line, /^Spectra API listening on /);
  baseURL = line.replace('Spectra API listening on ', '');
  key = cli('user', 'create', email);
  admin = cli('token', 'create', '--permission', 'zone-write', '--permission', 'zone-settings-write');
  certifier = cli('token', 'create', '--permission', 'ssl-certificates-write');
  reader = cli('token', 'create', '--permission', 'zone-settings-read');
});

after(async () => {
  server.kill('SIGTERM');
  const code = await new Promise((resolve) => server.once('exit', resolve));
  assert.equal(code, 0);
  // The suite made origin_dns apps: their names were asked of this server, on loopback.
  assert.ok(dnsQueries > 0, "no DNS query reached the test's --resolver");
});

/** A client and the list of requests it sent. */
function counted(auth) {
  const requests = [];
  const fetch = (url, init) => {
    requests.push(`${init?.method ?? 'GET'} ${url}`);
    return globalThis.fetch(url, init);
  };
  return { cf: new Cloudflare({ baseURL, fetch, ...auth }), requests };
}

async function newZone() {
  const { cf } = counted({ apiEmail: email, apiKey: key });
  const name = `z${randomBytes(6).toString('hex')}.example`;
  const zone = await cf.zones.create({ account: { id: 'ignored' }, name });
  assert.equal(zone.name, name);
  assert.equal(zone.id.length, 32);
  return zone;
}

const ssh = (zone, name = 'ssh', extra = {}) => ({
  zone_id: zone.id,
  protocol: 'tcp/22',
  dns: { type: 'CNAME', name: `${name}.${zone.name}` },
  origin_direct: ['tcp://127.0.0.1:2222'],
  traffic_type: 'direct',
  ...extra,
});

test('full lifecycle', async () => {
  const zone = await newZone();
  const { cf, requests } = counted({ apiToken: admin });
  const app = await cf.spectrum.apps.create(
    ssh(zone, 'ssh', { ip_firewall: true, tls: 'full', proxy_protocol: 'v1', edge_ips: { type: 'dynamic', connectivity: 'ipv6' } }),
  );
  assert.equal(app.id.length, 32);
  assert.equal(app.traffic_type, 'direct');
  assert.ok(!Number.isNaN(Date.parse(app.created_on)));
  assert.deepEqual([app.ip_firewall, app.tls, app.proxy_protocol, app.argo_smart_routing], [true, 'full', 'v1', false]);
  assert.deepEqual(app.edge_ips, { type: 'dynamic', connectivity: 'ipv6' });

  assert.deepEqual(await cf.spectrum.apps.get(app.id, { zone_id: zone.id }), app);
  const updated = await cf.spectrum.apps.update(app.id, {
    zone_id: zone.id,
    protocol: 'tcp/2222',
    dns: { type: 'CNAME', name: `ssh.${zone.name}` },
    origin_direct: ['tcp://127.0.0.1:22'],
  });
  assert.equal(updated.created_on, app.created_on);
  assert.ok(updated.modified_on >= app.modified_on);
  assert.deepEqual([updated.protocol, updated.tls, updated.ip_firewall, updated.traffic_type], ['tcp/2222', 'off', false, 'direct']);

  assert.deepEqual(await cf.spectrum.apps.delete(app.id, { zone_id: zone.id }), { id: app.id });
  await assert.rejects(cf.spectrum.apps.get(app.id, { zone_id: zone.id }), Cloudflare.NotFoundError);
  assert.equal(requests.length, 5);
});

test('every app shape round-trips', async () => {
  const zone = await newZone();
  const { cf, requests } = counted({ apiToken: admin });
  const shapes = [
    { protocol: 'tcp/3306', dns: { type: 'CNAME', name: `db.${zone.name}` }, traffic_type: 'direct',
      origin_dns: { name: `origin.${zone.name}`, ttl: 600, type: '' }, origin_port: 3306 },
    { protocol: 'tcp/1000-1002', dns: { type: 'CNAME', name: `range.${zone.name}` }, traffic_type: 'direct',
      origin_dns: { name: `origin.${zone.name}` }, origin_port: '2000-2002' },
    { protocol: 'udp/53', dns: { type: 'ADDRESS', name: `static.${zone.name}` }, traffic_type: 'direct',
      edge_ips: { type: 'static', ips: ['127.0.0.53', '::1'] }, origin_direct: ['udp://127.0.0.1:5353'], proxy_protocol: 'v2' },
    { protocol: 'tcp/443', dns: { type: 'CNAME', name: `web.${zone.name}` }, traffic_type: 'http',
      origin_direct: ['tcp://[::1]:8080'] },
    { protocol: 'minecraft', dns: { type: 'CNAME', name: `mc.${zone.name}` }, origin_direct: ['tcp://127.0.0.9:25565'] },
  ];
  for (const shape of shapes) {
    const app = await cf.spectrum.apps.create({ zone_id: zone.id, ...shape });
    for (const [field, sent] of Object.entries(shape)) {
      assert.deepEqual(app[field], sent, field);
    }
    assert.equal(app.traffic_type, shape.traffic_type ?? 'direct');
  }
  assert.equal(requests.length, shapes.length);
});

test('list auto-iterates every app exactly once, in every order', async () => {
  const zone = await newZone();
  const { cf, requests } = counted({ apiToken: admin });
  const ids = new Set();
  for (let i = 0; i < 45; i++) {
    ids.add((await cf.spectrum.apps.create(ssh(zone, `h${String(i).padStart(2, '0')}`))).id);
  }
  requests.length = 0;
  const seen = [];
  for await (const app of cf.spectrum.apps.list({ zone_id: zone.id })) seen.push(app.id);
  assert.equal(seen.length, 45);
  assert.deepEqual(new Set(seen), ids);
  assert.equal(requests.length, 4);

  requests.length = 0;
  const paged = [];
  for await (const app of cf.spectrum.apps.list({ zone_id: zone.id, page: 1, per_page: 10 })) paged.push(app.id);
  assert.deepEqual(new Set(paged), ids);
  assert.equal(paged.length, 45);
  assert.equal(requests.length, 6);

  const page = await cf.spectrum.apps.list({ zone_id: zone.id, page: 3, per_page: 20 });
  assert.equal(page.result.length, 5);
  assert.equal(page.result_info.total_count, 45);
  assert.deepEqual((await cf.spectrum.apps.list({ zone_id: zone.id, page: 50 })).result, []);

  const keys = {
    protocol: (a) => a.protocol,
    app_id: (a) => a.id,
    created_on: (a) => a.created_on,
    modified_on: (a) => a.modified_on,
    dns: (a) => a.dns.name,
  };
  for (const [order, key] of Object.entries(keys)) {
    for (const direction of ['asc', 'desc']) {
      const apps = [];
      for await (const app of cf.spectrum.apps.list({ zone_id: zone.id, order, direction, per_page: 16 })) apps.push(app);
      assert.equal(new Set(apps.map((a) => a.id)).size, 45);
      const values = apps.map(key);
      const sorted = [...values].sort();
      if (direction === 'desc') sorted.reverse();
      assert.deepEqual(values, sorted, `${order} ${direction}`);
    }
  }
});

test('protocols', async () => {
  const zone = await newZone();
  const { cf, requests } = counted({ apiToken: admin });
  const protocols = [];
  for await (const p of cf.spectrum.protocols.list({ zone_id: zone.id })) protocols.push(p);
  assert.deepEqual(protocols.find((p) => p.name === 'rdp')?.ports, [3389]);
  assert.equal(requests.length, 1);
});

test('validation errors are BadRequestError after one request', async () => {
  const zone = await newZone();
  const cases = [
    [{ tls: 'bogus' }, 10001],
    [{ protocol: 'tcp/0' }, 13002],
    [{ origin_direct: ['udp://127.0.0.1:22'] }, 11002],
    [{ dns: { type: 'ADDRESS', name: `a.${zone.name}` } }, 11004],
    [{ dns: { type: 'CNAME', name: 'a.elsewhere.example' } }, 16001],
    [{ origin_dns: { name: `o.${zone.name}` } }, 11000],
    [{ colour: 'blue' }, 10012],
  ];
  for (const [change, code] of cases) {
    const { cf, requests } = counted({ apiToken: admin });
    const err = await cf.spectrum.apps.create({ ...ssh(zone), ...change }).catch((e) => e);
    assert.ok(err instanceof Cloudflare.BadRequestError, `${JSON.stringify(change)}: ${err}`);
    assert.equal(err.status, 400);
    assert.equal(err.errors[0].code, code, JSON.stringify(change));
    assert.equal(requests.length, 1);
  }
});

test('auth, permission and not-found errors after exactly one request', async () => {
  const zone = await newZone();
  const bad = counted({ apiToken: 'not-a-token' });
  await assert.rejects(bad.cf.spectrum.apps.list({ zone_id: zone.id }), Cloudflare.AuthenticationError);
  assert.equal(bad.requests.length, 1);

  const none = counted({});
  await assert.rejects(none.cf.spectrum.apps.list({ zone_id: zone.id }), Cloudflare.AuthenticationError);
  assert.equal(none.requests.length, 1);

  const read = counted({ apiToken: reader });
  assert.deepEqual((await read.cf.spectrum.apps.list({ zone_id: zone.id })).result, []);
  await assert.rejects(read.cf.spectrum.apps.create(ssh(zone)), Cloudflare.PermissionDeniedError);
  assert.equal(read.requests.length, 2);

  const ok = counted({ apiToken: admin });
  await assert.rejects(ok.cf.spectrum.apps.get('0'.repeat(32), { zone_id: zone.id }), Cloudflare.NotFoundError);
  await assert.rejects(ok.cf.spectrum.apps.delete('0'.repeat(32), { zone_id: zone.id }), Cloudflare.NotFoundError);
  await assert.rejects(ok.cf.spectrum.apps.list({ zone_id: 'f'.repeat(32) }), Cloudflare.NotFoundError);
  assert.equal(ok.requests.length, 3);
});

test('a token and a key sent together: one valid credential is enough', async () => {
  const zone = await newZone();
  const both = counted({ apiToken: 'stale-token', apiEmail: email, apiKey: key });
  const app = await both.cf.spectrum.apps.create(ssh(zone));
  assert.equal(app.dns.name, `ssh.${zone.name}`);
  const verified = await counted({ apiToken: admin }).cf.user.tokens.verify();
  assert.equal(verified.status, 'active');
});

test('access rules: lifecycle, filters and paging', async () => {
  const zone = await newZone();
  const { cf, requests } = counted({ apiToken: admin });
  const rules = cf.firewall.accessRules;
  const block = await rules.create({
    zone_id: zone.id, mode: 'block', configuration: { target: 'ip', value: '192.0.2.1' }, notes: 'bot',
  });
  const allow = await rules.create({
    zone_id: zone.id, mode: 'whitelist', configuration: { target: 'ip6', value: '2001:DB8::1' },
  });
  assert.equal(allow.configuration.value, '2001:db8::1');
  assert.deepEqual(await rules.get(block.id, { zone_id: zone.id }), block);

  const ids = async (params) => {
    const out = [];
    for await (const rule of rules.list({ zone_id: zone.id, ...params })) out.push(rule.id);
    return out;
  };
  assert.deepEqual(await ids({}), [block.id, allow.id]);
  assert.deepEqual(await ids({ per_page: 1 }), [block.id, allow.id]);
  assert.deepEqual(await ids({ configuration: { target: 'ip6' } }), [allow.id]);
  assert.deepEqual(await ids({ mode: 'block', notes: 'BO', match: 'all' }), [block.id]);

  const edited = await rules.edit(block.id, {
    zone_id: zone.id, mode: 'whitelist', configuration: { target: 'ip', value: '192.0.2.1' },
  });
  assert.equal(edited.mode, 'whitelist');
  assert.equal(edited.notes, 'bot');

  await assert.rejects(
    rules.create({ zone_id: zone.id, mode: 'block', configuration: { target: 'asn', value: 'x' } }),
    Cloudflare.BadRequestError,
  );
  const sent = requests.length;
  assert.deepEqual(await rules.delete(block.id, { zone_id: zone.id }), { id: block.id });
  await assert.rejects(rules.get(block.id, { zone_id: zone.id }), Cloudflare.NotFoundError);
  assert.equal(requests.length, sent + 2, 'no retries');
});

test('dns.records.list shows the addresses published for an app', async () => {
  const zone = await newZone();
  const { cf } = counted({ apiToken: admin });
  const app = await cf.spectrum.apps.create({
    zone_id: zone.id, protocol: 'tcp/2398', dns: { type: 'ADDRESS', name: `pub.${zone.name}` },
    origin_direct: ['tcp://127.0.0.1:2222'], edge_ips: { type: 'static', ips: ['127.0.9.8'] },
  });
  let records = [];
  for (let i = 0; i < 100 && records.length === 0; i++) {
    records = [];
    for await (const r of cf.dns.records.list({ zone_id: zone.id })) records.push(r);
    if (records.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(
    records.map((r) => [r.name, r.type, r.content, r.ttl, r.proxied]),
    [[`pub.${zone.name}`, 'A', '127.0.9.8', 30, false]],
  );
  await cf.spectrum.apps.delete(app.id, { zone_id: zone.id });
});

/** A fresh self-signed ECDSA certificate for `names` and its key (openssl), as PEM. */
function certificate(...names) {
  const dir = mkdtempSync(join(tmpdir(), 'spectra-cert-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '30',
    '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
  ], { stdio: 'ignore' });
  return [readFileSync(join(dir, 'cert.pem'), 'utf8'), readFileSync(join(dir, 'key.pem'), 'utf8')];
}

test('custom certificates: lifecycle and refusals', async () => {
  const zone = await newZone();
  const { cf, requests } = counted({ apiToken: certifier });
  const certs = cf.customCertificates;
  const [pem, key] = certificate(`www.${zone.name}`);
  const created = await certs.create({ zone_id: zone.id, certificate: pem, private_key: key });
  assert.equal(created.id.length, 32);
  assert.deepEqual(created.hosts, [`www.${zone.name}`]);
  assert.equal(created.status, 'active');
  assert.equal(created.private_key, undefined);
  const listed = [];
  for await (const c of certs.list({ zone_id: zone.id })) listed.push(c.id);
  assert.deepEqual(listed, [created.id]);
  assert.deepEqual(await certs.get(created.id, { zone_id: zone.id }), created);
  const edited = await certs.edit(created.id, { zone_id: zone.id, bundle_method: 'force' });
  assert.equal(edited.bundle_method, 'force');
  assert.deepEqual(await certs.delete(created.id, { zone_id: zone.id }), { id: created.id });
  await assert.rejects(certs.get(created.id, { zone_id: zone.id }), Cloudflare.NotFoundError);

  const fixtures = join(import.meta.dirname, 'fixtures');
  const expired = [readFileSync(join(fixtures, 'expired.crt'), 'utf8'), readFileSync(join(fixtures, 'expired.key'), 'utf8')];
  const [, otherKey] = certificate(`www.${zone.name}`);
  const foreign = certificate('www.example.org');
  for (const [[c, k], says] of [[[pem, otherKey], 'does not match'], [expired, 'expired on'], [foreign, 'outside the zone']]) {
    const sent = requests.length;
    await assert.rejects(
      certs.create({ zone_id: zone.id, certificate: c, private_key: k }),
      (e) => e instanceof Cloudflare.BadRequestError && e.message.includes(says),
    );
    assert.equal(requests.length, sent + 1, 'a 400 is not retried');
  }
});

/** One connection through 127.72.1.1:`port`: `up` bytes sent, the origin's answer read whole. */
function exchange(port, up, down) {
  return new Promise((resolve, reject) => {
    const attempt = (left) => {
      const s = net.connect(port, '127.72.1.1');
      let got = 0;
      s.on('connect', () => s.write(Buffer.alloc(up, 1)));
      s.on('data', (d) => {
        got += d.length;
        if (got === down) s.end();
      });
      s.on('close', () => (got === down ? resolve() : left > 0 ? setTimeout(() => attempt(left - 1), 20) : reject(new Error('no answer'))));
      s.on('error', () => {});
    };
    attempt(100);
  });
}

test('spectrum analytics: current, summary with filters and sort, bytime', async () => {
  // An origin that answers every 10 bytes it reads with 25.
  const origin = net.createServer((c) => {
    let pending = 0;
    c.on('data', (d) => {
      pending += d.length;
      while (pending >= 10) {
        pending -= 10;
        c.write(Buffer.alloc(25, 2));
      }
    });
    c.on('error', () => {});
  });
  await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const zone = await newZone();
  const { cf, requests } = counted({ apiToken: admin });
  const app = await cf.spectrum.apps.create({
    zone_id: zone.id,
    protocol: 'tcp/7411',
    dns: { type: 'ADDRESS', name: `a.${zone.name}` },
    origin_direct: [`tcp://127.0.0.1:${origin.address().port}`],
    edge_ips: { type: 'static', ips: ['127.72.1.1'] },
  });
  await exchange(7411, 10, 25);
  await exchange(7411, 20, 50);
  await exchange(7411, 30, 75);
  await new Promise((r) => setTimeout(r, 300));
  origin.close();
  requests.length = 0;

  const summary = await cf.spectrum.analytics.events.summaries.get({
    zone_id: zone.id,
    dimensions: ['event'],
    metrics: ['count', 'bytesIngress', 'bytesEgress'],
    filters: `appID==${app.id} AND event!=progress`,
    sort: ['-bytesIngress', '+event'],
  });
  assert.deepEqual(summary.data, [
    { dimensions: ['disconnect'], metrics: [3, 60, 150] },
    { dimensions: ['connect'], metrics: [3, 0, 0] },
  ]);
  assert.deepEqual(summary.totals, { count: 6, bytesIngress: 60, bytesEgress: 150 });
  assert.equal(summary.rows, 2);

  const bytime = await cf.spectrum.analytics.events.bytimes.get({
    zone_id: zone.id,
    time_delta: 'hour',
    metrics: ['count'],
    filters: 'event==disconnect;ipVersion==4',
    since: new Date(Date.now() - 3 * 3600 * 1000).toISOString(),
  });
  const [series] = bytime.data[0].metrics;
  assert.equal(series.length, bytime.time_intervals.length);
  assert.ok(series.length >= 3 && series.length <= 4, `${series}`);
  assert.equal(series.at(-1), 3);
  assert.equal(series.reduce((a, b) => a + b, 0), 3);

  const current = await cf.spectrum.analytics.aggregates.currents.get({ zone_id: zone.id, appID: app.id });
  assert.deepEqual(
    current.map(({ appID, bytesIngress, bytesEgress, connections }) => ({ appID, bytesIngress, bytesEgress, connections })),
    [{ appID: app.id, bytesIngress: 60, bytesEgress: 150, connections: 0 }],
  );
  assert.ok(current[0].durationAvg >= 0);
  await assert.rejects(
    cf.spectrum.analytics.events.summaries.get({ zone_id: zone.id, metrics: ['count'], sort: ['-bytesEgress'] }),
    (e) => e instanceof Cloudflare.BadRequestError && e.errors[0].code === 1503,
  );
  assert.equal(requests.length, 4);
});
