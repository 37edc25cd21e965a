"""The deployment artefacts under deploy/, each checked the way an operator would use it: the release
binary with the Swift toolchain hidden, the systemd unit with systemd-analyze, the example
configuration with `portcullis check-config`, and the nginx example with TLS in front of a real
`portcullis serve`, signed up and in through it by a software passkey over HTTPS."""
import base64, hashlib, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "OIDC"))
from softauthn import Browser  # noqa: E402

DEBUG_BINARY = os.path.join(ROOT, ".build", "debug", "portcullis")
DEPLOY = os.path.join(ROOT, "deploy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, process, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "the process exited"
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def release_binary():
    path = os.environ.get("PORTCULLIS_RELEASE_BINARY")
    assert path and os.path.exists(path), "set PORTCULLIS_RELEASE_BINARY to what scripts/release built (scripts/test does)"
    return path


def toolchain():
    """The Swift toolchain's root (/opt/swift here): the directory above the swift driver's bin/."""
    return os.path.dirname(os.path.dirname(os.path.realpath(shutil.which("swift"))))


def test_the_release_binary_needs_no_library_of_the_toolchain():
    binary = release_binary()
    needed = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    assert toolchain() not in needed and "not found" not in needed, needed
    assert "libswiftCore" not in needed and "libFoundation" not in needed, needed
    # Run it where the toolchain is not: in a mount namespace with an empty file system over it. It
    # starts, serves and answers, which a binary needing any toolchain library could not.
    directory = tempfile.mkdtemp(prefix="portcullis-release-")
    port = free_port()
    script = (f"mount -t tmpfs none {toolchain()} && test -z \"$(ls -A {toolchain()})\" && "
              f"exec {binary} serve")
    env = {"PATH": "/usr/bin:/bin", "HOME": directory, "HTTP_PORT": str(port),
           "DATABASE_URL": f"sqlite:{directory}/portcullis.sqlite"}
    process = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=env, cwd=directory,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status == 200 and b"Sign in with a passkey" in page.read()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert oct(os.stat(f"{directory}/portcullis.sqlite").st_mode & 0o777) == "0o600"


def unit_for_verify(directory):
    """The unit as shipped, with its ExecStart pointing at a binary that exists on this machine (verify
    checks that the command is executable)."""
    with open(os.path.join(DEPLOY, "portcullis.service")) as file:
        unit = file.read()
    assert "ExecStart=/usr/local/bin/portcullis serve --config /etc/portcullis/portcullis.json" in unit
    path = os.path.join(directory, "portcullis.service")
    with open(path, "w") as file:
        file.write(unit.replace("/usr/local/bin/portcullis", DEBUG_BINARY))
    return path, unit


def test_the_systemd_unit_verifies_and_is_hardened():
    directory = tempfile.mkdtemp(prefix="portcullis-unit-")
    path, unit = unit_for_verify(directory)
    verify = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    for option in ("DynamicUser=yes", "StateDirectory=portcullis", "NoNewPrivileges=yes", "ProtectSystem=strict",
                   "PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet=\n", "UMask=0077"):
        assert option in unit, option
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", path], capture_output=True, text=True)
    exposure = re.search(r"Overall exposure level for portcullis.service: ([0-9.]+)", security.stdout)
    assert exposure, security.stdout + security.stderr
    assert float(exposure.group(1)) <= 2.0, security.stdout


def test_the_example_configuration_is_accepted_for_its_domain():
    directory = tempfile.mkdtemp(prefix="portcullis-example-")
    secret = os.path.join(directory, "oidc-key-secret")
    with open(secret, "w") as file:
        file.write("an operator's key-encryption secret\n")
    # The secrets the example leaves to the environment (and the paths of this machine, not the server's).
    env = {"PATH": os.environ["PATH"], "HOME": directory, "OIDC_KEY_SECRET_FILE": secret,
           "DATABASE_URL": f"sqlite:{directory}/portcullis.sqlite",
           "WEBHOOKS_SECRET": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", "SMTP_PASSWORD": "an smtp password"}
    config = os.path.join(DEPLOY, "portcullis.json")
    result = subprocess.run([DEBUG_BINARY, "check-config", "--config", config, "--json"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report, result.stdout
    with open(config) as file:
        example = json.load(file)
    assert example["rp"]["origins"] == ["https://id.example.org"] and example["oidc"]["issuer"] == "https://id.example.org"
    # The unit hands the key secret to the service at the path the example names.
    with open(os.path.join(DEPLOY, "portcullis.service")) as file:
        unit = file.read()
    assert "LoadCredential=oidc-key-secret:" in unit
    assert example["oidc"]["key_secret_file"] == "/run/credentials/portcullis.service/oidc-key-secret"
    assert f"sqlite:/var/lib/portcullis/portcullis.sqlite" == example["database"]["url"]


def certificates(directory):
    """A test CA and a certificate for localhost (and 127.0.0.1) that it signed."""
    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], check=True, capture_output=True)
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr, cert = (os.path.join(directory, name) for name in ("server.key", "server.csr", "server.pem"))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "2", "-subj", "/CN=Portcullis test CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    extensions = os.path.join(directory, "san.cnf")
    with open(extensions, "w") as file:
        file.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions)
    return ca, cert, key


def nginx_config(directory, backend, http_port, tls_port, cert, key):
    """deploy/nginx.conf as an operator would install it, with this test's ports and certificate, inside
    the minimal main configuration that Debian's nginx.conf would otherwise give it."""
    with open(os.path.join(DEPLOY, "nginx.conf")) as file:
        site = file.read()
    replacements = [
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{backend};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("server_name id.example.org;", "server_name localhost;"),
        ("/etc/letsencrypt/live/id.example.org/fullchain.pem", cert),
        ("/etc/letsencrypt/live/id.example.org/privkey.pem", key),
    ]
    for old, new in replacements:
        assert old in site, old
        site = site.replace(old, new)
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as file:
        file.write(f"""
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
{site}
}}
""")
    return path


@pytest.fixture
def behind_nginx():
    directory = tempfile.mkdtemp(prefix="portcullis-nginx-")
    ca, cert, key = certificates(directory)
    backend, http_port, tls_port = free_port(), free_port(), free_port()
    origin = f"https://localhost:{tls_port}"
    env = {"PATH": os.environ["PATH"], "HOME": directory, "HTTP_PORT": str(backend), "RP_ID": "localhost", "RP_ORIGINS": origin,
           "HTTP_TRUST_FORWARDED_FOR": "true", "DATABASE_URL": f"sqlite:{directory}/portcullis.sqlite"}
    server = subprocess.Popen([DEBUG_BINARY, "serve"], env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = nginx_config(directory, backend, http_port, tls_port, cert, key)
    nginx = subprocess.Popen(["nginx", "-p", directory, "-c", config, "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{backend}/readyz", server)
        deadline = time.time() + 20
        while True:
            assert nginx.poll() is None, nginx.stderr.read().decode()
            try:
                requests.get(origin + "/readyz", verify=ca, timeout=2)
                break
            except requests.ConnectionError:
                assert time.time() < deadline, "nginx did not answer"
                time.sleep(0.1)
        yield origin, ca, http_port
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
        server.terminate()
        assert server.wait(timeout=30) == 0


def test_sign_up_and_sign_in_through_nginx_with_tls(behind_nginx):
    origin, ca, http_port = behind_nginx
    # Plain HTTP is sent to HTTPS.
    redirect = requests.get(f"http://localhost:{http_port}/", allow_redirects=False, timeout=5)
    assert redirect.status_code == 301 and redirect.headers["Location"] == "https://localhost/"

    # Sign up on one device, through the proxy; the client writes an address of its own choosing into
    # X-Forwarded-For, which the server must not believe.
    laptop = Browser(origin)
    laptop.http.verify, laptop.http.trust_env = ca, False
    laptop.http.headers["X-Forwarded-For"] = "203.0.113.66"
    passkey = laptop.sign_up("ada")
    cookie = next(c for c in laptop.http.cookies)
    assert cookie.name.startswith("__Host-") and cookie.secure and cookie.path == "/" and not cookie.domain_specified

    # Sign in on another (a fresh cookie jar) with the same passkey.
    phone = Browser(origin)
    phone.http.verify, phone.http.trust_env = ca, False
    phone.sign_in(passkey)
    me = phone.http.get(origin + "/api/v1/me")
    assert me.status_code == 200 and me.json()["user"]["username"] == "ada"
    assert me.headers["Strict-Transport-Security"].startswith("max-age=")
    # The request ID nginx made is the one the server answers with.
    assert re.fullmatch(r"[0-9a-f]{32}", me.headers["X-Request-ID"]), me.headers.get("X-Request-ID")

    sessions = phone.http.get(origin + "/api/v1/me/sessions").json()["sessions"]
    assert len(sessions) == 2 and {s["ip"] for s in sessions} == {"127.0.0.1"}, sessions

    # A request whose Origin is not the public origin is refused, through the proxy as directly.
    stranger = requests.post(origin + "/api/v1/login/options", json={}, headers={"Origin": "https://evil.example"}, verify=ca, timeout=5)
    assert stranger.status_code == 403
    # /metrics is not served to the internet.
    assert requests.get(origin + "/metrics", verify=ca, timeout=5).status_code == 404


def spki_sha256(certificate):
    """The base64 SHA-256 of a certificate's public key, as Chromium's --ignore-certificate-errors-spki-list takes it."""
    key = subprocess.run(["openssl", "x509", "-in", certificate, "-noout", "-pubkey"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key, check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_a_person_signs_up_and_in_with_chromium_through_nginx_with_tls(behind_nginx):
    """The same deployment, used the way a person uses it: Chromium (its virtual authenticator as the
    passkey) opens the public https origin, signs up, signs out and signs in again. Chromium trusts
    the test certificate's key alone, and keeps the page a secure context, so the __Host- cookie and
    WebAuthn work only if the proxy serves what a browser requires."""
    sys.path.insert(0, os.path.join(ROOT, "Tests", "Browser"))
    from selenium.webdriver.common.by import By
    from test_pages import new_chromium, platform_authenticator, sign_up, status, wait_for

    origin, ca, http_port = behind_nginx
    certificate = os.path.join(os.path.dirname(ca), "server.pem")
    d = new_chromium(f"--ignore-certificate-errors-spki-list={spki_sha256(certificate)}",
                     f"--user-data-dir={tempfile.mkdtemp(prefix='portcullis-chromium-')}")
    try:
        d.add_virtual_authenticator(platform_authenticator())
        sign_up(d, origin, "grace")
        assert d.execute_script("return window.isSecureContext") is True
        cookies = {c["name"]: c for c in d.get_cookies()}
        assert set(cookies) == {"__Host-portcullis"}, cookies
        assert cookies["__Host-portcullis"]["secure"] and cookies["__Host-portcullis"]["httpOnly"]
        assert cookies["__Host-portcullis"]["path"] == "/" and not cookies["__Host-portcullis"]["domain"].startswith(".")

        d.find_element(By.ID, "signout").click()
        wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")) or d.find_element(By.ID, "signin").is_displayed())
        if not status(d).startswith("Signed in"):
            d.find_element(By.ID, "signin").click()
            wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
        assert status(d) == "Signed in as grace."
    finally:
        d.quit()


def test_metrics_on_a_listener_of_their_own_behind_a_token():
    directory = tempfile.mkdtemp(prefix="portcullis-metrics-")
    port, metrics = free_port(), free_port()
    token = "a-metrics-token-of-some-length"
    env = {"PATH": os.environ["PATH"], "HOME": directory, "HTTP_PORT": str(port), "METRICS_PORT": str(metrics),
           "METRICS_TOKEN": token, "DATABASE_URL": f"sqlite:{directory}/portcullis.sqlite"}
    server = subprocess.Popen([DEBUG_BINARY, "serve"], env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 404
        refused = requests.get(f"http://127.0.0.1:{metrics}/metrics", timeout=5)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        answered = requests.get(f"http://127.0.0.1:{metrics}/metrics", headers={"Authorization": "Bearer " + token}, timeout=5)
        assert answered.status_code == 200 and "portcullis_sessions 0" in answered.text
        # Nothing but the metrics is served there.
        assert requests.get(f"http://127.0.0.1:{metrics}/api/v1/me", timeout=5).status_code == 404
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0
