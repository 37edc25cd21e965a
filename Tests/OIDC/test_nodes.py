"""Two stateless nodes on one PostgreSQL database (the throwaway cluster the test command starts):
every step of a flow may land on either node, because codes, tokens, consents, waiting requests and
keys live in the database."""
import secrets, tempfile, urllib.parse

import pytest
import requests

from conftest import App, consent_form, new_postgres_database, sign_in_on_page, two_nodes
from softauthn import Browser


@pytest.fixture(scope="module")
def nodes():
    # Both nodes serve one public origin (as behind a load balancer): the same issuer and RP origin.
    a, b = two_nodes(new_postgres_database("oidc_nodes"))
    yield a, b
    a.stop()
    b.stop()


def at(node, url):
    """The same URL on another node (the load balancer sent the request there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, f"localhost:{node.port}", parts.path, parts.query, parts.fragment))


def test_any_node_serves_any_step(nodes):
    a, b = nodes
    metadata = requests.get(f"http://localhost:{a.port}/.well-known/openid-configuration").json()
    assert requests.get(f"http://localhost:{b.port}/.well-known/openid-configuration").json() == metadata
    assert requests.get(at(a, metadata["jwks_uri"])).json() == requests.get(at(b, metadata["jwks_uri"])).json()
    app = App(a, metadata, {"third-party": True})
    # The person signs up on node A (the browser's origin header is the public origin).
    browser = Browser(a.origin)
    browser.origin = f"http://localhost:{a.port}"
    browser.http.headers["Origin"] = a.origin
    passkey = browser.sign_up("nodes" + secrets.token_hex(3))
    flow = app.authorization_url()
    # The authorization request lands on node B: the consent page.
    page = browser.http.get(at(b, flow.url), allow_redirects=False)
    assert page.status_code == 200 and 'id="consent-allow"' in page.text, page.text[:300]
    fields = consent_form(page)
    # The consent form is answered on node A.
    answer = browser.http.post(f"http://localhost:{a.port}/oauth2/consent", data=dict(fields, decision="allow", remember="yes"), allow_redirects=False)
    location, _ = flow.callback(answer)
    # The code is exchanged on node B, the token used on node A, the refresh on node B.
    token = flow.session.fetch_token(at(b, metadata["token_endpoint"]), authorization_response=location, code_verifier=flow.verifier)
    app.validate_id_token(token["id_token"], nonce=flow.nonce, access_token=token["access_token"])
    info = requests.get(at(a, metadata["userinfo_endpoint"]), headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.status_code == 200
    refreshed = requests.post(at(b, metadata["token_endpoint"]), auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    # A replayed refresh token on node A revokes the family for both.
    replay = requests.post(at(a, metadata["token_endpoint"]), auth=(app.client_id, app.client_secret),
                           data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert replay.json()["error"] == "invalid_grant"
    newest = refreshed.json()
    assert requests.get(at(b, metadata["userinfo_endpoint"]), headers={"Authorization": "Bearer " + newest["access_token"]}).status_code == 401
