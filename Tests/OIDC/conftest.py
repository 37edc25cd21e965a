"""Fixtures of the OpenID Connect tests: a real `portcullis serve` (the debug build) on an embedded
SQLite file, clients registered with the real `portcullis client create`, and the client side played
by Authlib (from PyPI), which nobody here wrote."""
import base64, contextlib, json, os, secrets, socket, sqlite3, subprocess, tempfile, time, urllib.parse, urllib.request

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oidc.core import CodeIDToken

from softauthn import SEEN_COOKIES, Browser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "debug", "portcullis")
CODE_LIFETIME = 3
# Every server of the run (its log is checked at the end), and every secret the tests were given:
# client secrets, codes, PKCE verifiers, access, refresh and ID tokens, session cookies.
SERVERS = []
SECRETS = set()


def new_postgres_database(prefix):
    """A new, empty database on the throwaway PostgreSQL cluster the test command starts; its URL."""
    base = os.environ.get("PORTCULLIS_TEST_POSTGRES_URL")
    assert base, "the test command starts a throwaway PostgreSQL cluster and exports PORTCULLIS_TEST_POSTGRES_URL"
    name = prefix + "_" + secrets.token_hex(4)
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return base.rsplit("/", 1)[0] + "/" + name


def two_nodes(database_url, extra_env=None):
    """Two servers on one database that serve one public origin (as behind a load balancer, the
    first node's address): the same issuer and RP origin on both."""
    port = free_port()
    origin = f"http://localhost:{port}"
    return (Server(database_url, extra_env, port=port, origin=origin),
            Server(database_url, extra_env, port=free_port(), origin=origin))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `portcullis serve` process and the commands run against its database."""

    def __init__(self, database_url, extra_env=None, port=None, origin=None):
        self.port = port or free_port()
        self.origin = origin or f"http://localhost:{self.port}"
        self.directory = tempfile.mkdtemp(prefix="portcullis-oidc-")
        self.env = dict(os.environ, HTTP_PORT=str(self.port), RP_ORIGINS=self.origin, DATABASE_URL=database_url,
                        OIDC_CODE_LIFETIME=str(CODE_LIFETIME), OIDC_KEY_RELOAD_INTERVAL="1", OIDC_KEY_SECRET="test key-encryption secret",
                        # Every test person signs in from 127.0.0.1: the per-address ceremony limit would stop the suite.
                        RATELIMIT_IP_PER_MINUTE="100000",
                        # The recovery code alone releases a case after 3 seconds (72 hours by default), so a test can finish one.
                        RECOVERY_RULES="contacts:24h, code:3s, contact+code:1h, admins:0",
                        # Log lines as JSON, read back at the end of the run.
                        LOG_FORMAT="json")
        self.env.update(extra_env or {})
        self.log_path = os.path.join(self.directory, "server.log")
        self.log = open(self.log_path, "w")
        SERVERS.append(self)
        self.process = subprocess.Popen([BINARY, "serve"], env=self.env, cwd=self.directory, stdout=self.log, stderr=self.log)
        for _ in range(300):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise RuntimeError("portcullis serve did not become ready")

    def log_records(self):
        """The server's log so far, one record per JSON line."""
        with open(self.log_path) as file:
            return [json.loads(line) for line in file if line.startswith("{")]

    def snapshot(self):
        """Every live row of every table of the server's SQLite file, read through a read-only connection
        beside the running server. Rows already expired are left out (the sweep may delete them at any
        moment), and so are the outbox's delivery columns, which the dispatcher moves on its own."""
        url = self.env["DATABASE_URL"]
        assert url.startswith("sqlite:"), "snapshots read the embedded database"
        db = sqlite3.connect(f"file:{url[len('sqlite:'):]}?mode=ro", uri=True)
        try:
            now = int(time.time() * 1000)
            tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            rows = {}
            for table in tables:
                columns = [column[1] for column in db.execute(f"PRAGMA table_info({table})")]
                kept = [c for c in columns if c not in ("delivery_attempts", "next_delivery_at", "delivered_at")]
                live = "expires_at > ?" if "expires_at" in columns else "1"
                params = (now + 5000,) if "expires_at" in columns else ()
                rows[table] = sorted(map(repr, db.execute(f"SELECT {', '.join(kept)} FROM {table} WHERE {live}", params)))
            return rows
        finally:
            db.close()

    @contextlib.contextmanager
    def unchanged(self):
        """Asserts that what runs inside changes no stored row."""
        before = self.snapshot()
        yield
        after = self.snapshot()
        changed = {table: (sorted(set(before[table]) - set(after.get(table, []))), sorted(set(after.get(table, [])) - set(before[table])))
                   for table in before if before[table] != after.get(table)}
        assert not changed, f"a refusal changed stored rows: {changed}"

    def cli(self, *arguments, expect=0):
        result = subprocess.run([BINARY, *arguments], env=self.env, cwd=self.directory, capture_output=True, text=True, timeout=60)
        assert result.returncode == expect, (arguments, result.returncode, result.stdout, result.stderr)
        return result

    def stop(self):
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0, "SIGTERM should stop the server cleanly"
        self.log.close()


@pytest.fixture(scope="session", autouse=True)
def logs_hold_no_secret(request):
    """After every test: each server logged one JSON line per request, and no line holds a secret
    the tests were given (a token, a code, a client secret, a session cookie)."""
    yield
    secrets_seen = {s for s in SECRETS | SEEN_COOKIES if s and len(s) >= 12}
    # The whole suite (not a subset run while working) must give the check enough to mean something.
    whole = any(item.fspath.basename == "test_basic_op.py" for item in request.session.items)
    if whole:
        assert len(secrets_seen) > 50, "the run saw too few secrets for the check to mean anything"
    requests_logged = 0
    for node in SERVERS:
        with open(node.log_path) as file:
            for number, line in enumerate(file, 1):
                if not line.startswith("{"):
                    continue  # the start-up lines on stdout
                record = json.loads(line)
                requests_logged += record["message"] == "request"
                leaked = [s[:8] + "..." for s in secrets_seen if s in line]
                assert not leaked, f"{node.log_path}:{number} holds a secret ({leaked}): {line[:200]}"
    assert requests_logged > (100 if whole else 0), f"only {requests_logged} request lines were logged"


@pytest.fixture(scope="session")
def server():
    directory = tempfile.mkdtemp(prefix="portcullis-oidc-db-")
    node = Server(f"sqlite:{directory}/portcullis.sqlite")
    yield node
    node.stop()


@pytest.fixture(scope="session")
def metadata(server):
    response = requests.get(server.origin + "/.well-known/openid-configuration")
    assert response.status_code == 200
    return response.json()


class App:
    """A registered client and the Authlib session that plays it."""

    def __init__(self, server, metadata, options, secret_method="client_secret_basic", redirect_uri=None):
        self.server = server
        self.metadata = metadata
        self.redirect_uri = redirect_uri or f"http://127.0.0.1:{free_port()}/callback"
        options = dict(options)
        arguments = ["client", "create", "--name", options.pop("name", "Test App"), "--redirect-uri", self.redirect_uri]
        for flag, value in options.items():
            if value is True:
                arguments.append("--" + flag)
            elif isinstance(value, list):
                for item in value:
                    arguments += ["--" + flag, item]
            else:
                arguments += ["--" + flag, str(value)]
        created = json.loads(server.cli(*arguments).stdout)
        self.client_id = created["client_id"]
        self.client_secret = created.get("client_secret")
        if self.client_secret:
            SECRETS.add(self.client_secret)
        self.secret_method = "none" if self.client_secret is None else secret_method

    def session(self, scope="openid profile", **kwargs):
        return OAuth2Session(self.client_id, self.client_secret, scope=scope, redirect_uri=self.redirect_uri,
                             code_challenge_method="S256", token_endpoint_auth_method=self.secret_method, **kwargs)

    def authorization_url(self, scope="openid profile", **params):
        """An authorization URL built by Authlib, with a PKCE verifier, state and nonce."""
        session = self.session(scope)
        verifier = secrets.token_urlsafe(48)
        nonce = params.pop("nonce", secrets.token_urlsafe(16))
        if nonce is not None:
            params["nonce"] = nonce
        url, state = session.create_authorization_url(self.metadata["authorization_endpoint"], code_verifier=verifier, **params)
        return Flow(self, session, url, state, verifier, nonce)

    def keys(self):
        return JsonWebKey.import_key_set(requests.get(self.metadata["jwks_uri"]).json())

    def validate_id_token(self, id_token, nonce=None, access_token=None):
        """The ID token checked by Authlib: signature against the published keys, iss, aud, exp, iat, nonce, at_hash."""
        claims = JsonWebToken(["RS256", "ES256"]).decode(
            id_token, self.keys(), claims_cls=CodeIDToken,
            claims_options={"iss": {"essential": True, "value": self.metadata["issuer"]}},
            claims_params={"nonce": nonce, "client_id": self.client_id, "access_token": access_token})
        claims.validate(leeway=5)
        return claims


class Flow:
    """One authorization request, followed the way a browser would."""

    def __init__(self, app, session, url, state, verifier, nonce):
        self.app, self.session, self.url, self.state, self.verifier, self.nonce = app, session, url, state, verifier, nonce

    def open(self, browser, method="GET"):
        """The browser visits the authorization URL (or POSTs its query as a form)."""
        if method == "POST":
            base, query = self.url.split("?", 1)
            return browser.http.post(base, data=query, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                                "Origin": "http://127.0.0.1:1"}, allow_redirects=False)
        return browser.http.get(self.url, allow_redirects=False)

    def callback(self, response):
        """The redirect to the client: its query, after checking it goes to the registered URI."""
        assert response.status_code == 303, (response.status_code, response.text[:500])
        location = response.headers["Location"]
        assert location.startswith(self.app.redirect_uri + "?"), location
        return location, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))

    def code(self, browser, passkey=None, method="GET"):
        """Visits the URL, signs in on the sign-in page when it shows, and returns the redirect."""
        response = self.open(browser, method)
        if response.status_code == 200 and passkey is not None:
            response = sign_in_on_page(browser, response, passkey)
        return self.callback(response)

    def tokens(self, location):
        """Authlib exchanges the code (checking state) and returns the token response."""
        SECRETS.add(self.verifier)
        SECRETS.update(value for key, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query) if key == "code")
        token = self.session.fetch_token(self.app.metadata["token_endpoint"], authorization_response=location, code_verifier=self.verifier)
        SECRETS.update(token.get(key) for key in ("access_token", "refresh_token", "id_token") if token.get(key))
        return token


def interaction(page):
    marker = 'data-interaction="'
    start = page.text.index(marker) + len(marker)
    return page.text[start:page.text.index('"', start)]


def consent_form(page):
    """The consent page's hidden fields (the waiting request and the form token), to send back with a decision."""
    return {name: page.text.split(f'name="{name}" value="')[1].split('"')[0] for name in ("interaction", "token")}


def sign_in_on_page(browser, page, passkey):
    """What the sign-in page's script does: a passkey sign-in through the API, then the same request continues."""
    assert page.status_code == 200 and 'id="authorize"' in page.text, page.text[:500]
    browser.sign_in(passkey)
    return browser.http.get(browser.origin + "/oauth2/resume?interaction=" + urllib.parse.quote(interaction(page)), allow_redirects=False)


@pytest.fixture
def app(server, metadata):
    return App(server, metadata, {})


counter = [0]


def new_user(server, device_bound=False):
    counter[0] += 1
    browser = Browser(server.origin)
    passkey = browser.sign_up(f"user{counter[0]}x{secrets.token_hex(3)}", device_bound=device_bound)
    return browser, passkey


@pytest.fixture
def person(server):
    return new_user(server)


def recover(server, owner):
    """The owner's recovery code is made on their device; on a new device (returned, with the code)
    someone who holds it starts a case, proves it, waits for the release and finishes with a new passkey."""
    username = owner.http.get(server.origin + "/api/v1/me").json()["user"]["username"]
    code = owner.api("/api/v1/me/recovery/code", {})["code"]
    device = Browser(server.origin)
    case = device.api("/api/v1/recovery", {"username": username})
    device.api(f"/api/v1/recovery/{case['id']}/code", {"code": code})
    deadline = time.time() + 15
    while not device.http.get(server.origin + f"/api/v1/recovery/{case['id']}").json()["released"]:
        assert time.time() < deadline, "the case was not released"
        time.sleep(0.5)
    device.finish_recovery(case["id"])
    return device, code


def remove_passkey_elsewhere(server, removed, kept):
    """On another device the person signs in with `kept`, confirms with it, and removes `removed` (the
    account page's "remove"), which ends the sessions born from `removed`."""
    other = Browser(server.origin)
    other.sign_in(kept)
    options = other.api("/api/v1/me/reauth/options", {})["publicKey"]
    other.api("/api/v1/me/reauth/verify", {"credential": other.assertion(kept, options)})
    removed_id = base64.urlsafe_b64encode(removed.credential_id).rstrip(b"=").decode()
    answer = other.http.delete(server.origin + f"/api/v1/me/passkeys/{removed_id}")
    assert answer.status_code == 200 and answer.json()["sessionsEnded"] >= 1, answer.text
