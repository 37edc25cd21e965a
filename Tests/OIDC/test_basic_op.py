"""The OpenID Foundation's Basic OP and Config OP test plans, one test per module (named after it),
against a live server, with Authlib as the client and a software passkey for the person."""
import base64, json, secrets, time, urllib.parse

import requests
from authlib.jose import JsonWebToken
from authlib.jose.errors import BadSignatureError

from conftest import CODE_LIFETIME, App, free_port, new_user, sign_in_on_page


def header(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def payload(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def error_of(flow, response):
    location, query = flow.callback(response)
    assert query.get("state") == flow.state, query
    assert query.get("iss") == flow.app.metadata["issuer"], query  # RFC 9207
    return query["error"], query


def sign_in_flow(app, person, **params):
    browser, passkey = person
    flow = app.authorization_url(**params)
    location, query = flow.code(browser, passkey)
    token = flow.tokens(location)
    claims = app.validate_id_token(token["id_token"], nonce=flow.nonce, access_token=token["access_token"])
    return flow, token, claims


# Config OP

def test_oidcc_discovery_endpoint_verification(server, metadata):
    assert metadata["issuer"] == server.origin
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint",
                 "revocation_endpoint", "introspection_endpoint", "pushed_authorization_request_endpoint"):
        assert metadata[name].startswith(server.origin + "/"), name
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(metadata["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert {"phr", "phrh"} <= set(metadata["acr_values_supported"])
    assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert metadata["dpop_signing_alg_values_supported"]
    assert "openid" in metadata["scopes_supported"]
    # RFC 8414: the same document at the OAuth path.
    assert requests.get(server.origin + "/.well-known/oauth-authorization-server").json() == metadata
    keys = requests.get(metadata["jwks_uri"]).json()["keys"]
    assert {key["kty"] for key in keys} == {"RSA", "EC"}
    assert all(key.get("kid") and "d" not in key for key in keys)


# Basic OP

def test_oidcc_server(server, app, person):
    flow, token, claims = sign_in_flow(app, person)
    assert token["token_type"] == "Bearer" and token["refresh_token"]
    assert claims["sub"] and claims["auth_time"] <= time.time() and claims["sid"]
    assert header(token["access_token"])["typ"] == "at+jwt"  # RFC 9068 §2.1
    info = requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]


def test_oidcc_response_type_missing(app, person):
    browser, _ = person
    flow = app.authorization_url()
    url = flow.url.replace("response_type=code&", "").replace("&response_type=code", "")
    flow.url = url
    error, _ = error_of(flow, flow.open(browser))
    assert error == "invalid_request"


def test_oidcc_idtoken_signature(server, metadata, person):
    for algorithm in ("RS256", "ES256"):
        app = App(server, metadata, {"id-token-alg": algorithm})
        _, token, _ = sign_in_flow(app, person)
        assert header(token["id_token"])["alg"] == algorithm
        # A changed payload no longer verifies against the published keys.
        parts = token["id_token"].split(".")
        forged = dict(payload(token["id_token"]), sub="someone-else")
        parts[1] = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        try:
            JsonWebToken([algorithm]).decode(".".join(parts), app.keys())
            raise AssertionError("a forged ID token verified")
        except BadSignatureError:
            pass


def test_oidcc_idtoken_kid(app, person):
    _, token, _ = sign_in_flow(app, person)
    kid = header(token["id_token"])["kid"]
    assert kid in [key["kid"] for key in requests.get(app.metadata["jwks_uri"]).json()["keys"]]


def test_oidcc_userinfo_get(app, person):
    _, token, claims = sign_in_flow(app, person)
    info = requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.json()["sub"] == claims["sub"] and info.json()["preferred_username"]


def test_oidcc_userinfo_post_header(app, person):
    _, token, claims = sign_in_flow(app, person)
    info = requests.post(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]


def test_oidcc_userinfo_post_body(app, person):
    _, token, claims = sign_in_flow(app, person)
    info = requests.post(app.metadata["userinfo_endpoint"], data={"access_token": token["access_token"]})
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
    # RFC 6750 §2: one method only.
    both = requests.post(app.metadata["userinfo_endpoint"], data={"access_token": token["access_token"]},
                         headers={"Authorization": "Bearer " + token["access_token"]})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(app, person):
    _, _, claims = sign_in_flow(app, person, nonce=None)
    assert "nonce" not in claims


def test_oidcc_scope_profile(app, person):
    _, token, claims = sign_in_flow(app, person, scope="openid profile")
    assert claims["preferred_username"] and claims["name"]
    only_openid = app.authorization_url(scope="openid")
    location, _ = only_openid.code(person[0], person[1])
    token = only_openid.tokens(location)
    info = requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]}).json()
    assert set(info) == {"sub"}


def test_oidcc_scope_unknown_or_missing_openid(app, person):
    browser, _ = person
    flow = app.authorization_url(scope="openid phone")
    assert error_of(flow, flow.open(browser))[0] == "invalid_scope"
    flow = app.authorization_url(scope="profile")
    assert error_of(flow, flow.open(browser))[0] == "invalid_scope"


def test_oidcc_ensure_other_scope_order_succeeds(app, person):
    _, _, claims = sign_in_flow(app, person, scope="profile openid")
    assert claims["name"]


def test_oidcc_display_page(app, person):
    sign_in_flow(app, person, display="page")


def test_oidcc_display_popup(app, person):
    sign_in_flow(app, person, display="popup")


def test_oidcc_prompt_login(app, person):
    browser, passkey = person
    _, _, first = sign_in_flow(app, person)
    time.sleep(1.1)
    flow = app.authorization_url(prompt="login")
    page = flow.open(browser)
    assert page.status_code == 200 and "sign in again" in page.text
    location, _ = flow.callback(sign_in_on_page(browser, page, passkey))
    claims = app.validate_id_token(flow.tokens(location)["id_token"], nonce=flow.nonce)
    assert claims["auth_time"] > first["auth_time"]


def test_oidcc_prompt_none_not_logged_in(app):
    browser, _ = new_user(app.server)
    browser.http.cookies.clear()
    flow = app.authorization_url(prompt="none")
    assert error_of(flow, flow.open(browser))[0] == "login_required"


def test_oidcc_prompt_none_logged_in(app, person):
    flow = app.authorization_url(prompt="none")
    location, query = flow.code(person[0])
    assert "code" in query
    flow.tokens(location)


def test_oidcc_max_age_1(app, person):
    browser, passkey = person
    _, _, first = sign_in_flow(app, person)
    time.sleep(2.1)
    flow = app.authorization_url(max_age="1")
    page = flow.open(browser)
    assert page.status_code == 200  # the sign-in page: the session is older than max_age
    location, _ = flow.callback(sign_in_on_page(browser, page, passkey))
    claims = app.validate_id_token(flow.tokens(location)["id_token"], nonce=flow.nonce)
    assert claims["auth_time"] >= first["auth_time"] + 2


def test_oidcc_max_age_10000(app, person):
    _, _, first = sign_in_flow(app, person)
    flow = app.authorization_url(max_age="10000")
    location, _ = flow.code(person[0])  # no sign-in asked
    claims = app.validate_id_token(flow.tokens(location)["id_token"], nonce=flow.nonce)
    assert claims["auth_time"] == first["auth_time"]


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(app, person):
    sign_in_flow(app, person, extra_parameter="ignored-by-the-server")


def test_oidcc_id_token_hint(app, person):
    _, token, claims = sign_in_flow(app, person)
    flow = app.authorization_url(prompt="none", id_token_hint=token["id_token"])
    location, query = flow.code(person[0])
    assert app.validate_id_token(flow.tokens(location)["id_token"], nonce=flow.nonce)["sub"] == claims["sub"]
    # Someone else's hint: not this session's person, so no silent sign-in.
    other = new_user(app.server)
    flow = app.authorization_url(prompt="none", id_token_hint=token["id_token"])
    assert error_of(flow, flow.open(other[0]))[0] == "login_required"


def test_oidcc_login_hint(app):
    browser, passkey = new_user(app.server)
    browser.http.cookies.clear()
    flow = app.authorization_url(login_hint="hinted-user")
    page = flow.open(browser)
    assert 'value="hinted-user"' in page.text
    flow.callback(sign_in_on_page(browser, page, passkey))


def test_oidcc_ui_locales(app, person):
    sign_in_flow(app, person, ui_locales="se")


def test_oidcc_claims_locales(app, person):
    sign_in_flow(app, person, claims_locales="se")


def test_oidcc_ensure_request_with_acr_values_succeeds(app, person):
    _, _, claims = sign_in_flow(app, person, acr_values="phr phrh")
    assert claims["acr"] in ("phr", "phrh")


def test_oidcc_codereuse(app, person):
    flow = app.authorization_url()
    location, query = flow.code(*person)
    flow.tokens(location)
    again = requests.post(app.metadata["token_endpoint"], auth=(app.client_id, app.client_secret), data={
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri, "code_verifier": flow.verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_oidcc_codereuse_30seconds(app, person):
    """The code is reused after it expired (the lifetime is a few seconds here, not 30): the second
    exchange fails, and every token issued from the code is revoked."""
    flow = app.authorization_url()
    location, query = flow.code(*person)
    token = flow.tokens(location)
    time.sleep(CODE_LIFETIME + 1)
    again = requests.post(app.metadata["token_endpoint"], auth=(app.client_id, app.client_secret), data={
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri, "code_verifier": flow.verifier})
    assert again.json()["error"] == "invalid_grant"
    info = requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.status_code == 401 and "invalid_token" in info.headers["WWW-Authenticate"]
    introspected = requests.post(app.metadata["introspection_endpoint"], auth=(app.client_id, app.client_secret),
                                 data={"token": token["access_token"]}).json()
    assert introspected == {"active": False}
    refreshed = requests.post(app.metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"


def test_oidcc_ensure_registered_redirect_uri(app, person):
    browser, _ = person
    with app.server.unchanged():
        for changed in ("http://127.0.0.1:1/elsewhere", app.redirect_uri + "?extra=1", app.redirect_uri + "/"):
            flow = app.authorization_url()
            flow.url = flow.url.replace(urllib.parse.quote(app.redirect_uri, safe=""), urllib.parse.quote(changed, safe=""))
            response = flow.open(browser)
            assert response.status_code == 400 and "Location" not in response.headers, changed
            assert "redirect_uri" in response.text


def test_a_canonically_equivalent_redirect_uri_is_not_the_registered_one(app, person):
    """Exact matching is byte for byte: U+212A KELVIN SIGN and U+037E GREEK QUESTION MARK are
    canonically equivalent to K and ;, and another URI all the same. A URI that is not printable
    ASCII is refused at registration (exit 2)."""
    browser, _ = person
    other = App(app.server, app.metadata, {}, redirect_uri=f"http://127.0.0.1:{free_port()}/K;callback")
    with app.server.unchanged():
        for changed in (other.redirect_uri.replace("K", "\u212a"), other.redirect_uri.replace(";", "\u037e")):
            flow = other.authorization_url()
            flow.url = flow.url.replace(urllib.parse.quote(other.redirect_uri, safe=""), urllib.parse.quote(changed, safe=""))
            response = flow.open(browser)
            assert response.status_code == 400 and "Location" not in response.headers, changed
            assert "redirect_uri" in response.text
        refused = app.server.cli("client", "create", "--name", "Unicode", "--redirect-uri", "https://app.example/caf\u00e9", expect=2)
        assert "ASCII" in refused.stderr
    location, _ = other.authorization_url().code(*person)
    assert location.startswith(other.redirect_uri + "?")


def test_oidcc_ensure_redirect_uri_missing_or_client_unknown_is_a_page(app, person):
    browser, _ = person
    flow = app.authorization_url()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(flow.url).query))
    with app.server.unchanged():
        for changed in ({k: v for k, v in query.items() if k != "redirect_uri"}, dict(query, client_id="no-such-client"),
                        {k: v for k, v in query.items() if k != "client_id"}):
            response = browser.http.get(app.metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode(changed), allow_redirects=False)
            assert response.status_code == 400 and "Location" not in response.headers and "text/html" in response.headers["Content-Type"]


def test_oidcc_ensure_post_request_succeeds(app, person):
    flow = app.authorization_url()
    location, _ = flow.code(*person, method="POST")
    flow.tokens(location)


def test_oidcc_client_secret_post(server, metadata, person):
    app = App(server, metadata, {}, secret_method="client_secret_post")
    sign_in_flow(app, person)


def test_oidcc_unsigned_request_object_refused(app, person):
    flow = app.authorization_url(request="eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.")
    assert error_of(flow, flow.open(person[0]))[0] == "request_not_supported"


def test_oidcc_request_uri_unsigned_refused(app, person):
    flow = app.authorization_url(request_uri="https://rp.example/request.jwt")
    assert error_of(flow, flow.open(person[0]))[0] == "request_uri_not_supported"


def test_oidcc_claims_essential(app, person):
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    flow = app.authorization_url(scope="openid", claims=claims)
    location, _ = flow.code(*person)
    token = flow.tokens(location)
    info = requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]}).json()
    assert info["name"]


def test_oidcc_refresh_token(app, person):
    _, token, claims = sign_in_flow(app, person)
    session = app.session()
    session.token = token
    refreshed = session.refresh_token(app.metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert app.validate_id_token(refreshed["id_token"], access_token=refreshed["access_token"])["sub"] == claims["sub"]
    # A rotated refresh token used again revokes the whole family (RFC 9700 §4.14.2).
    reused = requests.post(app.metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                           data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    newest = requests.post(app.metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                           data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
    assert newest.json()["error"] == "invalid_grant"
    info = requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + refreshed["access_token"]})
    assert info.status_code == 401


def test_oidcc_pkce(app, person):
    browser, _ = person
    with app.server.unchanged():
        for change in ({"code_challenge_method": None}, {"code_challenge_method": "plain"}, {"code_challenge": None, "code_challenge_method": None}):
            flow = app.authorization_url()
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(flow.url).query))
            for name, value in change.items():
                if value is None:
                    query.pop(name, None)
                else:
                    query[name] = value
            flow.url = app.metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode(query)
            assert error_of(flow, flow.open(browser))[0] == "invalid_request", change
    # A verifier that does not match the challenge: invalid_grant, and the code is not used up by the refusal.
    flow = app.authorization_url()
    location, query = flow.code(*person)
    with app.server.unchanged():
        wrong = requests.post(app.metadata["token_endpoint"], auth=(app.client_id, app.client_secret), data={
            "grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri, "code_verifier": "x" * 43})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    flow.tokens(location)
