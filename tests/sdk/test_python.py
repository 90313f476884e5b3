"""The official Python `cloudflare` SDK (5.x) against a running `spectra serve`.

Every test counts the HTTP requests the SDK really sends (httpx event hooks), so an error that
the SDK retried, or a pagination loop, shows up as a failure.
"""

import datetime
import os
import socket
import subprocess
import tempfile
import threading
import uuid

import cloudflare
import httpx
import pytest

SPECTRA = os.environ.get("SPECTRA_BIN", "target/debug/spectra")


# With SPECTRA_SDK_STORE (a PostgreSQL URL) the suite's node is one node of a fleet on that
# store, while scripts/test has another node take writes (tests/sdk/fleet_writer.py).
STORE = os.environ.get("SPECTRA_SDK_STORE")
STORE_ARGS = ["--store", STORE] if STORE else []


def cli(data_dir, *args):
    out = subprocess.run(
        [SPECTRA, *args, "--data-dir", data_dir, *STORE_ARGS],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


DNS_QUERIES = []


def nxdomain_server():
    """A DNS server on loopback that answers every query with NXDOMAIN, so that origin_dns
    apps created here never send a query anywhere else. Returns its address; each query it
    gets is counted in DNS_QUERIES."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        while True:
            query, peer = sock.recvfrom(512)
            if len(query) < 12:
                continue
            DNS_QUERIES.append(query)
            # Same id and question; QR=1, RD copied, RA=1, RCODE=3; no answers.
            flags = bytes([0x80 | (query[2] & 0x01), 0x83])
            sock.sendto(query[:2] + flags + query[4:6] + b"\0\0\0\0\0\0" + query[12:], peer)

    threading.Thread(target=serve, daemon=True).start()
    return "%s:%d" % sock.getsockname()


class Node:
    """A `spectra serve` on a free loopback port, with a user key and tokens made by the CLI."""

    def __init__(self, *extra):
        self.data_dir = tempfile.mkdtemp(prefix="spectra-py-")
        self.proc = subprocess.Popen(
            [SPECTRA, "serve", "--data-dir", self.data_dir, "--api-listen", "127.0.0.1:0",
             "--resolver", nxdomain_server(), *STORE_ARGS, *extra,
             *(["--node-name", "sdk-node", "--edge-ipv4-pool", "127.98.2.0/24"] if STORE else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        assert line.startswith("Spectra API listening on "), line
        self.base_url = line.removeprefix("Spectra API listening on ")
        self.email = "ops@example.com"
        self.key = cli(self.data_dir, "user", "create", self.email)
        self.admin = cli(
            self.data_dir, "token", "create",
            "--permission", "zone-write", "--permission", "zone-settings-write",
        )
        self.reader = cli(self.data_dir, "token", "create", "--permission", "zone-settings-read")
        self.certificates = cli(self.data_dir, "token", "create", "--permission", "ssl-certificates-write")

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture(scope="session")
def node():
    n = Node()
    yield n
    n.stop()
    # The session made origin_dns apps: their names were asked of this DNS server, on loopback.
    assert DNS_QUERIES, "no DNS query reached the test's --resolver"


class Counted:
    """A client whose requests are counted."""

    def __init__(self, node, strict=True, **auth):
        self.requests = []
        http = httpx.Client(event_hooks={"request": [self.requests.append]})
        self.cf = cloudflare.Cloudflare(
            base_url=node.base_url, http_client=http, _strict_response_validation=strict, **auth
        )


@pytest.fixture
def client(node):
    return Counted(node, api_token=node.admin)


@pytest.fixture
def zone(node):
    """A fresh zone per test, created through the SDK's zones.create."""
    cf = Counted(node, strict=False, api_email=node.email, api_key=node.key).cf
    name = f"z{uuid.uuid4().hex[:12]}.example"
    z = cf.zones.create(account={"id": "ignored"}, name=name)
    assert z.name == name and z.status == "active" and len(z.id) == 32
    return z


def ssh(zone, name="ssh", **extra):
    return dict(
        zone_id=zone.id,
        protocol="tcp/22",
        dns={"type": "CNAME", "name": f"{name}.{zone.name}"},
        origin_direct=["tcp://127.0.0.1:2222"],
        traffic_type="direct",
        **extra,
    )


def test_full_lifecycle(client, zone):
    cf = client.cf
    app = cf.spectrum.apps.create(**ssh(zone, ip_firewall=True, tls="full", proxy_protocol="v1",
                                        argo_smart_routing=True,
                                        edge_ips={"type": "dynamic", "connectivity": "ipv4"}))
    assert len(app.id) == 32 and app.traffic_type == "direct"
    assert app.created_on.tzinfo is not None
    assert (app.ip_firewall, app.tls, app.proxy_protocol) == (True, "full", "v1")
    assert app.edge_ips.connectivity == "ipv4"

    got = cf.spectrum.apps.get(app.id, zone_id=zone.id)
    assert got.to_dict() == app.to_dict()

    updated = cf.spectrum.apps.update(
        app.id, zone_id=zone.id, protocol="tcp/2222",
        dns={"type": "CNAME", "name": f"ssh.{zone.name}"}, origin_direct=["tcp://127.0.0.1:22"],
        traffic_type="direct",
    )
    assert updated.created_on == app.created_on
    assert updated.modified_on >= app.modified_on
    # PUT is a full replace: fields left out return to their defaults.
    assert (updated.protocol, updated.tls, updated.ip_firewall, updated.proxy_protocol) == (
        "tcp/2222", "off", False, "off")

    deleted = cf.spectrum.apps.delete(app.id, zone_id=zone.id)
    assert deleted.id == app.id
    with pytest.raises(cloudflare.NotFoundError):
        cf.spectrum.apps.get(app.id, zone_id=zone.id)
    assert len(client.requests) == 5


def test_every_app_shape(client, zone):
    cf = client.cf
    shapes = [
        dict(protocol="tcp/3306", dns={"type": "CNAME", "name": f"db.{zone.name}"}, traffic_type="direct",
             origin_dns={"name": f"origin.{zone.name}", "ttl": 600, "type": ""}, origin_port=3306),
        dict(protocol="tcp/1000-1002", dns={"type": "CNAME", "name": f"range.{zone.name}"}, traffic_type="direct",
             origin_dns={"name": f"origin.{zone.name}"}, origin_port="2000-2002"),
        dict(protocol="udp/53", dns={"type": "ADDRESS", "name": f"static.{zone.name}"}, traffic_type="direct",
             edge_ips={"type": "static", "ips": ["127.0.0.53", "::1"]}, origin_direct=["udp://127.0.0.1:5353"],
             proxy_protocol="simple"),
        dict(protocol="tcp/443", dns={"type": "CNAME", "name": f"web.{zone.name}"}, traffic_type="https",
             origin_direct=["tcp://[::1]:8443", "tcp://127.0.0.1:8443"], tls="strict"),
        dict(protocol="tcp/22", dns={"type": "CNAME", "name": f"srv.{zone.name}"}, traffic_type="direct",
             origin_dns={"name": f"_ssh._tcp.{zone.name}", "type": "SRV"}),
    ]
    for shape in shapes:
        app = cf.spectrum.apps.create(zone_id=zone.id, **shape)
        body = app.to_dict()
        for key, sent in shape.items():
            assert body[key] == sent, (key, body)
        # origin_port keeps its JSON type.
        if "origin_port" in shape:
            assert type(body["origin_port"]) is type(shape["origin_port"])
    # The pay-as-you-go shape: no traffic_type sent, "direct" answered.
    paygo = cf.spectrum.apps.create(zone_id=zone.id, protocol="minecraft",
                                    dns={"type": "CNAME", "name": f"mc.{zone.name}"},
                                    origin_direct=["tcp://127.0.0.9:25565"])
    assert paygo.traffic_type == "direct" and paygo.protocol == "minecraft"
    assert len(client.requests) == len(shapes) + 1


def test_none_unsets_a_field_on_update(client, zone):
    cf = client.cf
    app = cf.spectrum.apps.create(zone_id=zone.id, protocol="tcp/3306",
                                  dns={"type": "CNAME", "name": f"db.{zone.name}"}, traffic_type="direct",
                                  origin_dns={"name": f"origin.{zone.name}"}, origin_port=3306)
    updated = cf.spectrum.apps.update(app.id, zone_id=zone.id, protocol="tcp/3306",
                                      dns={"type": "CNAME", "name": f"db.{zone.name}"}, traffic_type="direct",
                                      origin_dns=None, origin_port=None, origin_direct=["tcp://127.0.0.1:3306"])
    body = updated.to_dict()
    assert "origin_dns" not in body and "origin_port" not in body
    assert body["origin_direct"] == ["tcp://127.0.0.1:3306"]


def test_list_auto_iterates_every_app_once(client, zone):
    cf = client.cf
    ids = {cf.spectrum.apps.create(**ssh(zone, name=f"h{i:02d}")).id for i in range(45)}
    client.requests.clear()
    seen = [a.id for a in cf.spectrum.apps.list(zone_id=zone.id)]
    assert sorted(seen) == sorted(ids)
    assert len(client.requests) == 4  # 20 + 20 + 5, then an empty page 4

    client.requests.clear()
    seen = [a.id for a in cf.spectrum.apps.list(zone_id=zone.id, per_page=7.0, page=1.0)]
    assert sorted(seen) == sorted(ids)
    assert len(client.requests) == 8  # 7 pages of up to 7, then an empty one

    page = cf.spectrum.apps.list(zone_id=zone.id, page=2, per_page=10)
    assert len(page.result) == 10
    assert page.result_info.page == 2 and page.result_info.total_count == 45
    assert cf.spectrum.apps.list(zone_id=zone.id, page=99).result == []

    keys = {
        "protocol": lambda a: a.protocol,
        "app_id": lambda a: a.id,
        "created_on": lambda a: a.created_on,
        "modified_on": lambda a: a.modified_on,
        "dns": lambda a: a.dns.name,
    }
    for order, key in keys.items():
        for direction in ("asc", "desc"):
            apps = list(cf.spectrum.apps.list(zone_id=zone.id, order=order, direction=direction, per_page=16))
            assert len({a.id for a in apps}) == 45
            values = [key(a) for a in apps]
            assert values == sorted(values, reverse=direction == "desc"), (order, direction)


def test_protocols(client, zone):
    names = {p.name: p for p in client.cf.spectrum.protocols.list(zone_id=zone.id)}
    assert names["ssh"].ports == [22] and names["ssh"].transport == "tcp"
    assert len(client.requests) == 1


@pytest.mark.parametrize(
    "change, code",
    [
        (dict(tls="bogus"), 10001),
        (dict(protocol="foo/22"), 13002),
        (dict(origin_direct=["tcp://::1:22"]), 11002),
        (dict(origin_direct=None, origin_dns={"name": "192.0.2.1"}, origin_port=22), 11001),
        (dict(proxy_protocol="simple"), 10001),
        (dict(extra_body={"colour": "blue"}), 10012),
    ],
)
def test_validation_errors_are_bad_request_after_one_request(client, zone, change, code):
    args = ssh(zone)
    args.update(change)
    if args.get("origin_direct") is None:
        args.pop("origin_direct")
    with pytest.raises(cloudflare.BadRequestError) as err:
        client.cf.spectrum.apps.create(**args)
    assert err.value.status_code == 400
    assert err.value.body["errors"][0]["code"] == code
    assert len(client.requests) == 1


def test_error_classes_after_exactly_one_request(node, zone):
    bad = Counted(node, api_token="not-a-token")
    with pytest.raises(cloudflare.AuthenticationError):
        bad.cf.spectrum.apps.list(zone_id=zone.id).result
    assert len(bad.requests) == 1

    reader = Counted(node, api_token=node.reader)
    assert reader.cf.spectrum.apps.list(zone_id=zone.id).result == []
    with pytest.raises(cloudflare.PermissionDeniedError):
        reader.cf.spectrum.apps.create(**ssh(zone))
    assert len(reader.requests) == 2

    admin = Counted(node, api_token=node.admin)
    with pytest.raises(cloudflare.NotFoundError):
        admin.cf.spectrum.apps.get("0" * 32, zone_id=zone.id)
    with pytest.raises(cloudflare.NotFoundError):
        admin.cf.spectrum.apps.list(zone_id="f" * 32).result
    with pytest.raises(cloudflare.NotFoundError):
        admin.cf.spectrum.apps.delete("0" * 32, zone_id=zone.id)
    assert len(admin.requests) == 3


def test_global_key_and_token_verify(node, zone):
    keyed = Counted(node, api_email=node.email, api_key=node.key)
    app = keyed.cf.spectrum.apps.create(**ssh(zone))
    assert keyed.cf.spectrum.apps.get(app.id, zone_id=zone.id).id == app.id
    verified = Counted(node, strict=False, api_token=node.admin).cf.user.tokens.verify()
    assert verified.status == "active"
    wrong = Counted(node, api_email=node.email, api_key="0" * 37)
    with pytest.raises(cloudflare.AuthenticationError):
        wrong.cf.spectrum.apps.get(app.id, zone_id=zone.id)
    assert len(wrong.requests) == 1


def test_zones_through_the_sdk(node):
    cf = Counted(node, strict=False, api_email=node.email, api_key=node.key).cf
    z = cf.zones.create(account={"id": "x"}, name="sdk-zone.example")
    assert isinstance(z.created_on, datetime.datetime)
    assert cf.zones.get(zone_id=z.id).name == "sdk-zone.example"
    assert [x.id for x in cf.zones.list(name="sdk-zone.example")] == [z.id]
    app = cf.spectrum.apps.create(**ssh(z))
    assert cf.zones.delete(zone_id=z.id).id == z.id
    with pytest.raises(cloudflare.NotFoundError):
        cf.spectrum.apps.get(app.id, zone_id=z.id)


def test_access_rules_lifecycle_and_filters(client, zone):
    cf = client.cf
    rules = cf.firewall.access_rules
    block = rules.create(zone_id=zone.id, mode="block",
                         configuration={"target": "ip_range", "value": "192.0.2.0/24"},
                         notes="scanners")
    allow = rules.create(zone_id=zone.id, mode="whitelist",
                         configuration={"target": "ip", "value": "192.0.2.5"})
    assert len(block.id) == 32 and block.mode == "block" and block.notes == "scanners"
    assert block.configuration.target == "ip_range"
    assert block.configuration.value == "192.0.2.0/24"
    assert rules.get(block.id, zone_id=zone.id).to_dict() == block.to_dict()

    listed = list(rules.list(zone_id=zone.id))
    assert [r.id for r in listed] == [block.id, allow.id]
    only_ip = list(rules.list(zone_id=zone.id, configuration={"target": "ip"}))
    assert [r.id for r in only_ip] == [allow.id]
    by_mode = list(rules.list(zone_id=zone.id, mode="block", notes="SCAN"))
    assert [r.id for r in by_mode] == [block.id]
    # Auto-iteration over small pages sees each rule once.
    paged = list(rules.list(zone_id=zone.id, per_page=1))
    assert [r.id for r in paged] == [block.id, allow.id]

    edited = rules.edit(block.id, zone_id=zone.id, mode="challenge",
                        configuration={"target": "ip_range", "value": "192.0.2.0/24"})
    assert edited.mode == "challenge" and edited.notes == "scanners"
    assert edited.created_on == block.created_on

    with pytest.raises(cloudflare.BadRequestError):
        rules.create(zone_id=zone.id, mode="block",
                     configuration={"target": "ip_range", "value": "10.0.0.0/8"})
    sent = len(client.requests)
    assert rules.delete(block.id, zone_id=zone.id).id == block.id
    with pytest.raises(cloudflare.NotFoundError):
        rules.get(block.id, zone_id=zone.id)
    assert len(client.requests) == sent + 2, "no retries"


def test_dns_records_list_shows_the_published_addresses(client, zone):
    """`dns.records.list` (strictly validated) lists the A record of an app's bound address."""
    cf = client.cf
    app = cf.spectrum.apps.create(
        zone_id=zone.id, protocol="tcp/2399", dns={"type": "ADDRESS", "name": f"pub.{zone.name}"},
        origin_direct=["tcp://127.0.0.1:2222"], edge_ips={"type": "static", "ips": ["127.0.9.9"]},
    )
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=5)
    records = []
    while not records and datetime.datetime.now() < deadline:
        records = list(cf.dns.records.list(zone_id=zone.id))
    assert [(r.name, r.type, r.content, r.ttl, r.proxied) for r in records] == [
        (f"pub.{zone.name}", "A", "127.0.9.9", 30, False)]
    assert len(records[0].id) == 32 and records[0].modified_on.tzinfo is not None
    a_only = list(cf.dns.records.list(zone_id=zone.id, type="AAAA"))
    assert a_only == []
    cf.spectrum.apps.delete(app.id, zone_id=zone.id)


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def certificate(*names):
    """A fresh self-signed ECDSA certificate for `names` and its key (openssl), as PEM."""
    d = tempfile.mkdtemp(prefix="spectra-cert-")
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "30", "-subj", f"/CN={names[0]}",
         "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True,
    )
    return open(f"{d}/cert.pem").read(), open(f"{d}/key.pem").read()


def test_custom_certificates_lifecycle_and_refusals(node, zone):
    counted = Counted(node, api_token=node.certificates)
    certs = counted.cf.custom_certificates
    pem, key = certificate(f"www.{zone.name}", f"*.{zone.name}")
    created = certs.create(zone_id=zone.id, certificate=pem, private_key=key, bundle_method="optimal")
    assert len(created.id) == 32 and created.zone_id == zone.id
    assert created.hosts == [f"www.{zone.name}", f"*.{zone.name}"]
    assert (created.status, created.bundle_method, created.signature) == ("active", "optimal", "ECDSAWithSHA256")
    assert created.expires_on > created.uploaded_on
    assert "private_key" not in created.to_dict()
    assert [c.id for c in certs.list(zone_id=zone.id)] == [created.id]
    assert certs.get(created.id, zone_id=zone.id).to_dict() == created.to_dict()
    renewed_pem, renewed_key = certificate(f"api.{zone.name}")
    edited = certs.edit(created.id, zone_id=zone.id, certificate=renewed_pem, private_key=renewed_key)
    assert edited.hosts == [f"api.{zone.name}"] and edited.uploaded_on == created.uploaded_on
    assert certs.delete(created.id, zone_id=zone.id).id == created.id
    with pytest.raises(cloudflare.NotFoundError):
        certs.get(created.id, zone_id=zone.id)

    _, other_key = certificate(f"www.{zone.name}")
    foreign_pem, foreign_key = certificate("www.example.org")
    expired = open(os.path.join(FIXTURES, "expired.crt")).read(), open(os.path.join(FIXTURES, "expired.key")).read()
    for (p, k), code, says in [
        ((pem, other_key), 1401, "does not match"),
        (expired, 1400, "expired on 2020-01-02"),
        ((foreign_pem, foreign_key), 1402, "outside the zone"),
    ]:
        sent = len(counted.requests)
        with pytest.raises(cloudflare.BadRequestError) as e:
            certs.create(zone_id=zone.id, certificate=p, private_key=k)
        assert e.value.body["errors"][0]["code"] == code
        assert says in str(e.value), str(e.value)
        assert len(counted.requests) == sent + 1, "a 400 is not retried"
