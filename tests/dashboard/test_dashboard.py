"""The web dashboard end to end in headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium WebDriver) against a running `spectra serve`: sign in, create an app through
the form and see it listen, a validation error placed on the field it names, edit, traffic
counts that move after real traffic, IP Access Rules, delete, sign out. Screenshots of each
page go to target/dashboard/."""

import os
import pathlib
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

SPECTRA = os.environ.get("SPECTRA_BIN", "target/debug/spectra")
SHOTS = pathlib.Path(__file__).resolve().parents[2] / "target" / "dashboard"
EDGE = "127.74.0.1"


def cli(data_dir, *args):
    out = subprocess.run([SPECTRA, *args, "--data-dir", data_dir], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def origin(tag):
    """A TCP origin that sends `tag`, then echoes."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn):
        with conn:
            conn.sendall(tag)
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept():
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return "127.0.0.1:%d" % server.getsockname()[1]


def certificate(name):
    """A self-signed ECDSA P-256 certificate for `name` and its key, as PEM (openssl)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{tmp}/key.pem", "-out", f"{tmp}/cert.pem", "-days", "30", "-subj", f"/CN={name}",
             "-addext", f"subjectAltName=DNS:{name}"],
            check=True, capture_output=True)
        return pathlib.Path(f"{tmp}/cert.pem").read_text(), pathlib.Path(f"{tmp}/key.pem").read_text()


def through(port, payload=b"x" * 100):
    """One connection through the app: the origin's tag, and the echo of `payload`."""
    with socket.create_connection((EDGE, port), timeout=5) as s:
        tag = s.recv(1)
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += s.recv(len(payload) - len(got))
        return tag


@pytest.fixture(scope="module")
def node():
    data_dir = tempfile.mkdtemp(prefix="spectra-dashboard-")
    zone = cli(data_dir, "zone", "create", "example.com")
    token = cli(data_dir, "token", "create", "--permission", "zone-settings-write",
                "--permission", "ssl-certificates-write")
    proc = subprocess.Popen(
        [SPECTRA, "serve", "--data-dir", data_dir, "--api-listen", "127.0.0.1:0", "--resolver", "127.0.0.1:9"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("Spectra API listening on "), line
    base = line.removeprefix("Spectra API listening on ").removesuffix("/client/v4")
    yield {"base": base, "zone": zone, "token": token}
    proc.terminate()
    assert proc.wait(timeout=10) == 0


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp(prefix='spectra-chromium-')}",
                 "--window-size=1280,900"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=15):
    try:
        return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException, ValueError)).until(condition)
    except Exception:
        shot(driver, "failure")
        print("browser console:", driver.get_log("browser"))
        print("page:", driver.find_element(By.TAG_NAME, "main").text[:2000])
        raise


def shot(driver, name):
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def fill(driver, field, value):
    element = driver.find_element(By.ID, f"f-{field}")
    element.clear()
    element.send_keys(value)


def test_the_dashboard_end_to_end(node, browser):
    d = browser
    first, second = origin(b"A"), origin(b"B")
    d.get(node["base"] + "/")
    wait(d, EC.visibility_of_element_located((By.ID, "token")))
    shot(d, "sign-in")

    # A wrong token is refused with a message; the right one signs in.
    d.find_element(By.ID, "token").send_keys("not-a-token")
    d.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    wait(d, EC.text_to_be_present_in_element((By.ID, "sign-in-error"), "Sign-in failed"))
    d.find_element(By.ID, "token").send_keys(node["token"])
    d.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()
    wait(d, EC.presence_of_element_located((By.ID, "zones")))
    assert "example.com" in d.find_element(By.ID, "zones").text
    shot(d, "zones")

    d.find_element(By.LINK_TEXT, "example.com").click()
    wait(d, EC.element_to_be_clickable((By.ID, "create-app"))).click()
    wait(d, EC.presence_of_element_located((By.ID, "app-form")))

    # A malformed protocol: the API's message lands next to the protocol field.
    fill(d, "protocol", "tcp/abc")
    fill(d, "dns.name", "web.example.com")
    Select(d.find_element(By.ID, "f-dns.type")).select_by_value("ADDRESS")
    Select(d.find_element(By.ID, "f-edge_ips.type")).select_by_value("static")
    fill(d, "edge_ips.ips", EDGE)
    fill(d, "origin_direct", f"tcp://{first}")
    d.find_element(By.ID, "save").click()
    wait(d, EC.text_to_be_present_in_element((By.ID, "err-protocol"), "protocol"))
    assert d.find_element(By.ID, "f-protocol").get_attribute("aria-invalid") == "true"
    assert d.find_element(By.ID, "err-dns.name").text == ""
    shot(d, "form-validation")

    fill(d, "protocol", "tcp/7501")
    preview = d.find_element(By.ID, "preview").text
    assert '"protocol": "tcp/7501"' in preview and EDGE in preview
    d.find_element(By.ID, "save").click()
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#apps tr")))
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#apps .listeners"), "listening"))
    assert f"{EDGE}:7501/tcp listening" in d.find_element(By.CSS_SELECTOR, "#apps .listeners").text
    shot(d, "apps")
    assert through(7501) == b"A"

    # Traffic: the counts move after real traffic, without reloading the page.
    d.find_element(By.LINK_TEXT, "web.example.com").click()
    wait(d, EC.presence_of_element_located((By.ID, "stat-connections")))
    before = int(d.find_element(By.ID, "stat-connections").text)
    assert before >= 1
    for _ in range(3):
        through(7501)
    # The page refreshes itself every 10 s.
    wait(d, lambda drv: int(drv.find_element(By.ID, "stat-connections").text) == before + 3, timeout=40)
    assert d.find_element(By.CSS_SELECTOR, "#events tr[data-event=connect] .count").text == str(before + 3)
    shot(d, "traffic")

    # Edit: the second origin takes new connections.
    d.find_element(By.LINK_TEXT, "Edit").click()
    wait(d, EC.presence_of_element_located((By.ID, "app-form")))
    assert d.find_element(By.ID, "f-protocol").get_attribute("value") == "tcp/7501"
    fill(d, "origin_direct", f"tcp://{second}")
    d.find_element(By.ID, "save").click()
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#apps tr")))
    deadline = time.time() + 5
    while through(7501) != b"B":
        assert time.time() < deadline, "the edit did not reach the data plane"
        time.sleep(0.1)

    # The zone's IP Access Rules: add one, see it, delete it.
    d.find_element(By.LINK_TEXT, "IP Access Rules").click()
    wait(d, EC.presence_of_element_located((By.ID, "add")))
    d.find_element(By.ID, "r-value").send_keys("192.0.2.1")
    d.find_element(By.ID, "r-notes").send_keys("a test")
    d.find_element(By.CSS_SELECTOR, "#add button[type=submit]").click()
    wait(d, EC.text_to_be_present_in_element((By.ID, "rules"), "192.0.2.1"))
    shot(d, "rules")
    d.find_element(By.CSS_SELECTOR, "#rules [data-delete]").click()
    d.switch_to.alert.accept()
    wait(d, EC.text_to_be_present_in_element((By.ID, "rules"), "No rule yet"))
    d.find_element(By.LINK_TEXT, "Back to the apps").click()
    wait(d, EC.presence_of_element_located((By.ID, "apps")))

    # Certificates: upload one for the app's name, see it listed, delete it.
    cert, key = certificate("web.example.com")
    d.find_element(By.LINK_TEXT, "Certificates").click()
    wait(d, EC.presence_of_element_located((By.ID, "add")))
    d.find_element(By.ID, "c-certificate").send_keys(cert)
    d.find_element(By.ID, "c-key").send_keys(key)
    d.find_element(By.CSS_SELECTOR, "#add button[type=submit]").click()
    wait(d, EC.text_to_be_present_in_element((By.ID, "certificates"), "web.example.com"))
    assert "active" in d.find_element(By.ID, "certificates").text
    shot(d, "certificates")
    d.find_element(By.CSS_SELECTOR, "#certificates [data-delete]").click()
    d.switch_to.alert.accept()
    wait(d, EC.text_to_be_present_in_element((By.ID, "certificates"), "No certificate yet"))
    d.find_element(By.LINK_TEXT, "Back to the apps").click()
    wait(d, EC.presence_of_element_located((By.ID, "apps")))

    # A phone-sized screen.
    d.set_window_size(390, 844)
    shot(d, "apps-phone")
    d.set_window_size(1280, 900)

    # Delete: the app goes, and its port closes.
    d.find_element(By.CSS_SELECTOR, "#apps [data-delete]").click()
    d.switch_to.alert.accept()
    wait(d, EC.presence_of_element_located((By.ID, "no-apps")))
    deadline = time.time() + 5
    while True:
        try:
            socket.create_connection((EDGE, 7501), timeout=1).close()
        except OSError:
            break
        assert time.time() < deadline, "the deleted app still listens"
        time.sleep(0.1)

    # Sign out: the credentials leave the session.
    d.find_element(By.ID, "sign-out").click()
    wait(d, EC.visibility_of_element_located((By.ID, "token")))
    assert d.execute_script("return sessionStorage.length") == 0
    d.get(node["base"] + "/#/zones/" + node["zone"])
    wait(d, EC.visibility_of_element_located((By.ID, "token")))


def test_no_dashboard_turns_it_off():
    data_dir = tempfile.mkdtemp(prefix="spectra-dashboard-off-")
    proc = subprocess.Popen(
        [SPECTRA, "serve", "--data-dir", data_dir, "--api-listen", "127.0.0.1:0", "--resolver", "127.0.0.1:9",
         "--no-dashboard"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = proc.stdout.readline().strip().removeprefix("Spectra API listening on ").removesuffix("/client/v4")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/")
        assert e.value.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
