"""OpenID Connect Back-Channel Logout 1.0: a small receiving app validates each logout token
(signature against the published keys, iss, aud, iat, the events member, no nonce, typ) the way an
RP must (§2.6), and the tests end sessions the ways a person or an operator does."""
import json, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from authlib.jose import JsonWebKey, JsonWebToken

from conftest import App, new_user, recover, remove_passkey_elsewhere
from test_basic_op import header, sign_in_flow

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    def __init__(self, metadata):
        self.metadata = metadata
        self.tokens, self.refused = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = dict(urllib.parse.parse_qsl(body))
                try:
                    receiver.tokens.append(receiver.validate(form["logout_token"]))
                    self.send_response(200)
                except Exception as error:  # what an RP answers to a token it refuses (§2.8)
                    receiver.refused.append(repr(error))
                    self.send_response(400)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/backchannel"
        self.client_id = None

    def validate(self, token):
        assert header(token)["typ"] == "logout+jwt"
        keys = JsonWebKey.import_key_set(requests.get(self.metadata["jwks_uri"]).json())
        claims = JsonWebToken(["RS256", "ES256"]).decode(token, keys, claims_options={
            "iss": {"essential": True, "value": self.metadata["issuer"]}, "aud": {"essential": True, "value": self.client_id},
            "iat": {"essential": True}, "jti": {"essential": True}})
        claims.validate(leeway=5)
        assert claims["events"] == {EVENT: {}} and "nonce" not in claims and ("sub" in claims or "sid" in claims)
        return dict(claims)

    def wait(self, predicate, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [t for t in self.tokens if predicate(t)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no such logout token; received {self.tokens}, refused {self.refused}")


@pytest.fixture
def receiving_app(server, metadata):
    receiver = Receiver(metadata)
    app = App(server, metadata, {"backchannel-logout-uri": receiver.uri})
    receiver.client_id = app.client_id
    yield app, receiver
    receiver.httpd.shutdown()


def test_signing_out_sends_a_logout_token_with_sid(receiving_app, server):
    app, receiver = receiving_app
    person = new_user(server)
    _, token, claims = sign_in_flow(app, person)
    assert person[0].http.post(server.origin + "/api/v1/logout").status_code == 204
    logout = receiver.wait(lambda t: t.get("sid") == claims["sid"])
    assert logout["sub"] == claims["sub"]
    refreshed = requests.post(app.metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"


def test_an_operator_disabling_the_user_sends_a_logout_token(receiving_app, server):
    app, receiver = receiving_app
    browser, passkey = new_user(server)
    _, _, claims = sign_in_flow(app, (browser, passkey))
    username = browser.http.get(server.origin + "/api/v1/me").json()["user"]["username"]
    server.cli("user", "disable", username)
    logout = receiver.wait(lambda t: t["sub"] == claims["sub"])
    assert "sid" not in logout  # every session of the person at the app ends


def test_revoking_a_session_from_another_sends_a_logout_token(receiving_app, server):
    app, receiver = receiving_app
    browser, passkey = new_user(server)
    _, _, claims = sign_in_flow(app, (browser, passkey))
    # The same person signs in again (another session) and ends the first one from there.
    other = type(browser)(server.origin)
    other.sign_in(passkey)
    assert other.http.delete(server.origin + f"/api/v1/me/sessions/{claims['sid']}").status_code == 204
    receiver.wait(lambda t: t.get("sid") == claims["sid"])


def test_removing_a_passkey_ends_its_sessions_and_tells_the_app(receiving_app, server):
    app, receiver = receiving_app
    browser, first = new_user(server)
    second = browser.add_passkey(device_bound=True)
    _, _, claims = sign_in_flow(app, (browser, first))
    remove_passkey_elsewhere(server, first, second)
    logout = receiver.wait(lambda t: t["sub"] == claims["sub"])
    assert "sid" not in logout  # sessions born from the removed passkey end at every app, by subject
    assert browser.http.get(server.origin + "/api/v1/me").status_code == 401


def test_a_completed_recovery_tells_the_app(receiving_app, server):
    app, receiver = receiving_app
    owner = new_user(server)
    _, _, claims = sign_in_flow(app, owner)
    recover(server, owner[0])
    logout = receiver.wait(lambda t: t["sub"] == claims["sub"])
    assert "sid" not in logout
