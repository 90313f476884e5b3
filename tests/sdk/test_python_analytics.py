"""Spectrum analytics through the official Python SDK: known traffic through a TCP and a UDP
app of a running `spectra serve`, then exact counts, byte sums and duration percentiles from
`spectrum.analytics` (aggregates.currents, events.summaries, events.bytimes): every filter
operator, AND/OR precedence, sort, every time_delta, buckets across a minute boundary, and
bad queries refused with their codes."""

import datetime
import socket
import threading
import time

import urllib.request

import cloudflare
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from test_python import Counted, Node

EDGE = "127.72.0.1"


def tcp_origin():
    """Reads 100 bytes, answers 250, then waits for the client to close."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        with conn:
            got = b""
            while len(got) < 100:
                chunk = conn.recv(100 - len(got))
                if not chunk:
                    return
                got += chunk
            conn.sendall(b"d" * 250)
            while conn.recv(64):
                pass

    def accept():
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return "127.0.0.1:%d" % server.getsockname()[1]


def udp_echo():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        while True:
            data, peer = sock.recvfrom(2048)
            sock.sendto(data, peer)

    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % sock.getsockname()[1]


def connect(port):
    for _ in range(100):
        try:
            return socket.create_connection((EDGE, port), timeout=5)
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on {EDGE}:{port}")


def exchange(port, hold):
    """100 bytes up, 250 down, the connection held `hold` seconds."""
    with connect(port) as s:
        s.sendall(b"u" * 100)
        got = b""
        while len(got) < 250:
            got += s.recv(250 - len(got))
        time.sleep(hold)


@pytest.fixture(scope="module")
def traffic():
    """A node, a zone with a TCP, a UDP and an unreachable app, and their traffic:
    TCP connections held 0.1 s to 1.0 s, one connection to the unreachable origin, one UDP
    flow of 3 datagrams of 40 bytes (ended by the 0.5 s idle timeout)."""
    node = Node("--udp-idle-timeout", "0.5", "--metrics-listen", "127.0.0.1:0")
    line = node.proc.stdout.readline().strip()
    assert line.startswith("Spectra metrics on "), line
    node.metrics_url = line.removeprefix("Spectra metrics on ")
    cf = Counted(node, api_token=node.admin).cf
    zone = Counted(node, strict=False, api_email=node.email, api_key=node.key).cf.zones.create(
        account={"id": "ignored"}, name="analytics.example")
    base = dict(zone_id=zone.id, traffic_type="direct", edge_ips={"type": "static", "ips": [EDGE]})
    tcp = cf.spectrum.apps.create(protocol="tcp/7401", dns={"type": "ADDRESS", "name": "t.analytics.example"},
                                  origin_direct=[f"tcp://{tcp_origin()}"], **base)
    udp = cf.spectrum.apps.create(protocol="udp/7402", dns={"type": "ADDRESS", "name": "u.analytics.example"},
                                  origin_direct=[f"udp://{udp_echo()}"], **base)
    dead = cf.spectrum.apps.create(protocol="tcp/7403", dns={"type": "ADDRESS", "name": "d.analytics.example"},
                                   origin_direct=["tcp://127.0.0.1:9"], **base)
    for tenth in range(1, 11):
        exchange(7401, tenth / 10)
    with connect(7403) as s:
        s.recv(1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    for _ in range(3):
        u.sendto(b"x" * 40, (EDGE, 7402))
        assert len(u.recvfrom(100)[0]) == 40
    time.sleep(1.5)
    yield node, cf, zone, tcp.id, udp.id, dead.id
    node.stop()


def rows(result):
    return {tuple(d.dimensions): d.metrics for d in result.data}


def test_current_per_app(traffic):
    """The first test of the module: `current` covers this minute and the previous one, so it
    runs before anything (the minute-boundary test sleeps up to a minute) can push the fixture's
    traffic out of that window."""
    node, cf, zone, tcp, udp, dead = traffic
    got = cf.spectrum.analytics.aggregates.currents.get(zone_id=zone.id, app_id=f"{tcp},{udp}", colo_name="LOC")
    by_app = {item.app_id: item for item in got}
    assert set(by_app) == {tcp, udp}
    assert by_app[udp].bytes_ingress == 120 and by_app[udp].bytes_egress == 120, by_app[udp]
    assert by_app[tcp].bytes_ingress == 1000 and by_app[tcp].bytes_egress == 2500, by_app[tcp]
    assert by_app[tcp].connections == 0 and by_app[udp].connections == 0
    assert 550 * 0.99 <= by_app[tcp].duration_avg <= 550 * 1.01 + 60, by_app[tcp]  # ms, as in the summary


def test_summary_counts_bytes_and_percentiles(traffic):
    node, cf, zone, tcp, udp, dead = traffic
    got = cf.spectrum.analytics.events.summaries.get(
        zone_id=zone.id, dimensions=["appID", "event"],
        metrics=["count", "bytesIngress", "bytesEgress", "durationAvg", "durationMedian", "duration90th", "duration99th"])
    r = rows(got)
    assert r[(tcp, "connect")][:3] == [10, 0, 0]
    count, up, down, avg, median, p90, p99 = r[(tcp, "disconnect")]
    assert (count, up, down) == (10, 1000, 2500)
    # Held 100, 200, ..., 1000 ms: the edge sees each a few ms longer; the sketch is within 1 %.
    # Percentiles are the value of rank floor(q * (n - 1)): 500, 900 and 900 ms here.
    for value, held in [(avg, 550), (median, 500), (p90, 900), (p99, 900)]:
        assert held * 0.99 <= value <= held * 1.01 + 60, (value, held)
    assert r[(udp, "disconnect")][:3] == [1, 120, 120]
    assert r[(dead, "originError")][:3] == [1, 0, 0]
    assert got.totals["count"] == 10 + 10 + 1 + 1 + 1 + 1
    assert got.rows == len(got.data) == 6
    assert got.query.metrics[0] == "count" and got.query.dimensions == ["appID", "event"]


def test_prometheus_metrics_parse_and_count_the_same_traffic(traffic):
    node, cf, zone, tcp, udp, dead = traffic
    with urllib.request.urlopen(node.metrics_url) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert samples[("spectra_connections_total", (("app", tcp),))] == 10
    assert samples[("spectra_connections_open", (("app", tcp),))] == 0
    assert samples[("spectra_udp_flows_total", (("app", udp),))] == 1
    assert samples[("spectra_ingress_bytes_total", (("app", tcp),))] == 1000
    assert samples[("spectra_egress_bytes_total", (("app", tcp),))] == 2500
    assert samples[("spectra_egress_bytes_total", (("app", udp),))] == 120
    assert samples[("spectra_origin_errors_total", (("app", dead), ("status", "521")))] == 1
    assert samples[("spectra_listener_up", (("address", f"{EDGE}:7401"), ("app", tcp), ("transport", "tcp")))] == 1
    assert samples[("spectra_udp_flows_dropped_total", ())] == 0
    route = "/client/v4/zones/{zone_id}/spectrum/apps"
    assert samples[("spectra_api_requests_total", (("method", "POST"), ("route", route), ("status", "200")))] == 3
    assert samples[("spectra_store_write_duration_seconds_count", (("kind", "config"),))] >= 4
    assert samples[("spectra_store_write_duration_seconds_count", (("kind", "analytics"),))] >= 1


def test_every_filter_operator_and_and_binds_tighter(traffic):
    node, cf, zone, tcp, udp, dead = traffic

    def count(filters, **extra):
        got = cf.spectrum.analytics.events.summaries.get(zone_id=zone.id, metrics=["count"], filters=filters, **extra)
        return got.totals["count"]

    assert count("event==disconnect") == 11
    assert count("event!=connect") == 12
    assert count("ipVersion>3") == count("ipVersion<5") == count("ipVersion>=4") == count("ipVersion<=4") == 24
    assert count("ipVersion>4") == count("ipVersion<4") == 0
    assert count("coloName==LOC") == 24
    # a OR (b AND c), written both ways: every event of the UDP app plus the TCP app's disconnects.
    assert count(f"appID=={udp},appID=={tcp};event==disconnect") == 2 + 10
    assert count(f"appID=={udp} OR appID=={tcp} AND event==disconnect") == 2 + 10
    assert count(f"appID=={tcp} AND event==connect OR event==originError") == 10 + 1


def test_sort_and_limit(traffic):
    node, cf, zone, tcp, udp, dead = traffic
    got = cf.spectrum.analytics.events.summaries.get(
        zone_id=zone.id, dimensions=["appID"], metrics=["count", "bytesEgress"], sort=["-bytesEgress", "+count"])
    assert [d.dimensions[0] for d in got.data] == [tcp, udp, dead]
    assert got.max["bytesEgress"] == 2500 and got.min["bytesEgress"] == 0
    ascending = cf.spectrum.analytics.events.summaries.get(
        zone_id=zone.id, dimensions=["appID"], metrics=["count", "bytesEgress"], sort=["+count", "+bytesEgress"],
        extra_query={"limit": 1})
    assert [d.dimensions[0] for d in ascending.data] == [dead] and ascending.query.limit == 1


def test_every_time_delta_lines_up_its_buckets(traffic):
    node, cf, zone, tcp, udp, dead = traffic
    until = datetime.datetime.now(datetime.timezone.utc)
    for delta in ["minute", "dekaminute", "hour", "day", "week", "month", "quarter", "year"]:
        got = cf.spectrum.analytics.events.bytimes.get(
            zone_id=zone.id, time_delta=delta, metrics=["count", "bytesIngress"], dimensions=["appID"],
            filters=f"appID=={tcp}", since=until - datetime.timedelta(hours=1), until=until)
        intervals = got.time_intervals
        assert intervals, delta
        for (start, end), (next_start, _) in zip(intervals, intervals[1:]):
            assert end == next_start, delta
        assert intervals[0][0] <= until - datetime.timedelta(hours=1) < intervals[0][1], delta
        counts, ingress = got.data[0].metrics
        assert len(counts) == len(intervals), delta
        assert sum(counts) == 20 and sum(ingress) == 1000, delta


def test_buckets_across_a_minute_boundary(traffic):
    node, cf, zone, tcp, udp, dead = traffic
    # Traffic just after the next minute starts, so the minute buckets split it from the rest.
    now = time.time()
    time.sleep(60 - now % 60 + 0.5)
    exchange(7401, 0)
    exchange(7401, 0)
    until = datetime.datetime.now(datetime.timezone.utc)
    got = cf.spectrum.analytics.events.bytimes.get(
        zone_id=zone.id, time_delta="minute", metrics=["count"], filters=f"appID=={tcp};event==connect",
        since=until - datetime.timedelta(minutes=5), until=until)
    series = got.data[0].metrics[0]
    assert series[-1] == 2, series
    assert sum(series) == 12, series
    assert got.time_intervals[-1][0] == until.replace(second=0, microsecond=0)


def test_bad_queries_are_400_with_their_codes(traffic):
    node, cf, zone, tcp, udp, dead = traffic
    cases = [
        (dict(metrics=["count", "packets"]), 1500, "packets"),
        (dict(dimensions=["region"]), 1501, "region"),
        (dict(filters="event=disconnect"), 1502, "no comparison"),
        (dict(metrics=["count"], sort=["-bytesIngress"]), 1503, "bytesIngress"),
        (dict(since="2026-12-01T10:00:00Z", until="2026-12-01T09:00:00Z"), 1504, "after"),
    ]
    for query, code, says in cases:
        with pytest.raises(cloudflare.BadRequestError) as e:
            cf.spectrum.analytics.events.summaries.get(zone_id=zone.id, **query)
        error = e.value.body["errors"][0] if isinstance(e.value.body, dict) else e.value.body[0]
        assert error["code"] == code and says in error["message"], (query, error)
    with pytest.raises(cloudflare.BadRequestError):
        cf.spectrum.analytics.events.bytimes.get(zone_id=zone.id, time_delta="fortnight")


def test_zone_settings_readers_may_read_analytics(traffic):
    node, cf, zone, tcp, udp, dead = traffic
    reader = Counted(node, api_token=node.reader).cf
    assert reader.spectrum.analytics.events.summaries.get(zone_id=zone.id).totals["count"] >= 24
    certs = Counted(node, api_token=node.certificates).cf
    with pytest.raises(cloudflare.PermissionDeniedError):
        certs.spectrum.analytics.events.summaries.get(zone_id=zone.id)
