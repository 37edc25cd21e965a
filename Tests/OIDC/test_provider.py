"""The rest of the provider against a live server: logout, PAR, DPoP, pairwise subjects, consent,
key rotation, the honesty of acr and amr, and bad input (after each refusal nothing stored changed)."""
import base64, hashlib, json, secrets, time, urllib.parse
import pytest

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.jose import JsonWebKey, jwt

from conftest import App, consent_form, new_user, recover, remove_passkey_elsewhere, sign_in_on_page
from test_basic_op import error_of, header, payload, sign_in_flow


# RP-initiated logout

def test_rp_initiated_logout_with_hint_redirects_at_once(server, metadata):
    app = App(server, metadata, {"post-logout-redirect-uri": ["https://rp.example/bye"]})
    person = new_user(server)
    _, token, _ = sign_in_flow(app, person)
    browser = person[0]
    response = browser.http.get(metadata["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "https://rp.example/bye", "state": "st-1"}, allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == "https://rp.example/bye?state=st-1"
    assert browser.http.get(server.origin + "/api/v1/me").status_code == 401  # the session ended
    info = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
    assert info.status_code == 401  # and its tokens with it


def test_rp_initiated_logout_without_hint_asks_first(server, metadata):
    app = App(server, metadata, {"post-logout-redirect-uri": ["https://rp.example/bye"]})
    browser, _ = new_user(server)
    page = browser.http.get(metadata["end_session_endpoint"], params={"client_id": app.client_id}, allow_redirects=False)
    assert page.status_code == 200 and 'id="logout-confirm"' in page.text
    assert browser.http.get(server.origin + "/api/v1/me").status_code == 200  # nothing ended yet
    token = page.text.split('name="token" value="')[1].split('"')[0]
    done = browser.http.post(server.origin + "/oauth2/logout/confirm", data={"client_id": app.client_id, "post_logout_redirect_uri": "",
                                                                            "state": "", "token": token}, allow_redirects=False)
    assert done.status_code == 200 and 'id="signed-out"' in done.text
    assert browser.http.get(server.origin + "/api/v1/me").status_code == 401


def test_rp_initiated_logout_refuses_unregistered_return(server, metadata):
    app = App(server, metadata, {"post-logout-redirect-uri": ["https://rp.example/bye"]})
    person = new_user(server)
    _, token, _ = sign_in_flow(app, person)
    response = person[0].http.get(metadata["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "https://evil.example/"}, allow_redirects=False)
    assert response.status_code == 400 and "Location" not in response.headers
    assert person[0].http.get(app.server.origin + "/api/v1/me").status_code == 200


# Pushed authorization requests (RFC 9126)

def test_par(server, metadata):
    app = App(server, metadata, {"require-par": True})
    browser, passkey = new_user(server)
    flow = app.authorization_url()
    # Not pushed: refused for this client.
    assert error_of(flow, flow.open(browser))[0] == "invalid_request"
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(flow.url).query))
    pushed = requests.post(metadata["pushed_authorization_request_endpoint"], data=query, auth=(app.client_id, app.client_secret))
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    assert request_uri.startswith("urn:ietf:params:oauth:request_uri:") and pushed.json()["expires_in"] > 0
    flow.url = metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode({"client_id": app.client_id, "request_uri": request_uri})
    location, _ = flow.code(browser, passkey)
    flow.tokens(location)
    # One use only.
    again = browser.http.get(flow.url, allow_redirects=False)
    assert again.status_code == 400 and "Location" not in again.headers
    # A pushed request is checked when pushed.
    bad = requests.post(metadata["pushed_authorization_request_endpoint"], data=dict(query, code_challenge_method="plain"),
                        auth=(app.client_id, app.client_secret))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    wrong = requests.post(metadata["pushed_authorization_request_endpoint"], data=query, auth=(app.client_id, "wrong"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


# DPoP (RFC 9449)

def dpop_proof(key, method, url, access_token=None):
    claims = {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url, "iat": int(time.time())}
    if access_token:
        claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
    public = key.as_dict(is_private=False)
    return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": public}, claims, key).decode()


def test_dpop_binds_tokens_to_the_key(server, metadata):
    app = App(server, metadata, {"require-dpop": True})
    browser, passkey = new_user(server)
    flow = app.authorization_url()
    location, query = flow.code(browser, passkey)
    form = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri, "code_verifier": flow.verifier}
    without = requests.post(metadata["token_endpoint"], data=form, auth=(app.client_id, app.client_secret))
    assert without.status_code == 400 and without.json()["error"] == "invalid_dpop_proof"
    key = JsonWebKey.generate_key("EC", "P-256", is_private=True)
    token = requests.post(metadata["token_endpoint"], data=form, auth=(app.client_id, app.client_secret),
                          headers={"DPoP": dpop_proof(key, "POST", metadata["token_endpoint"])}).json()
    assert token["token_type"] == "DPoP", token
    thumbprint = key.thumbprint()
    assert payload(token["access_token"])["cnf"]["jkt"] == thumbprint
    at = token["access_token"]
    # As a bearer token it is refused; with a proof of the key it is accepted; a replayed proof is refused.
    assert requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + at}).status_code == 401
    proof = dpop_proof(key, "GET", metadata["userinfo_endpoint"], at)
    ok = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "DPoP " + at, "DPoP": proof})
    assert ok.status_code == 200, ok.text
    assert requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "DPoP " + at, "DPoP": proof}).status_code == 401
    other = JsonWebKey.generate_key("EC", "P-256", is_private=True)
    stolen = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "DPoP " + at,
                                                                  "DPoP": dpop_proof(other, "GET", metadata["userinfo_endpoint"], at)})
    assert stolen.status_code == 401


# Pairwise subjects (Core §8.1)

def test_pairwise_subjects(server, metadata):
    person = new_user(server)
    one = App(server, metadata, {"pairwise": True})
    plain = App(server, metadata, {})
    _, _, first = sign_in_flow(one, person)
    _, _, again = sign_in_flow(one, person)
    _, _, public = sign_in_flow(plain, person)
    assert first["sub"] == again["sub"] and first["sub"] != public["sub"]


# Consent for third-party apps

def test_consent_remembered_listed_and_revoked(server, metadata):
    app = App(server, metadata, {"third-party": True, "name": "Third Party App"})
    browser, passkey = new_user(server)
    flow = app.authorization_url(scope="openid profile offline_access")
    page = flow.open(browser)
    assert page.status_code == 200 and "Third Party App" in page.text and 'id="consent-allow"' in page.text
    fields = consent_form(page)
    # A forged form token changes nothing.
    forged = browser.http.post(server.origin + "/oauth2/consent", data=dict(fields, token="x", decision="allow"), allow_redirects=False)
    assert forged.status_code == 400 and "Location" not in forged.headers
    allowed = browser.http.post(server.origin + "/oauth2/consent", data=dict(fields, decision="allow", remember="yes"), allow_redirects=False)
    location, _ = flow.callback(allowed)
    token = flow.tokens(location)
    # Remembered: the next request goes straight through.
    flow2 = app.authorization_url(scope="openid profile offline_access")
    flow2.tokens(flow2.code(browser)[0])
    apps = browser.http.get(server.origin + "/api/v1/me/apps").json()["apps"]
    assert [a["clientID"] for a in apps] == [app.client_id] and "offline_access" in apps[0]["scopes"]
    assert browser.http.delete(server.origin + f"/api/v1/me/apps/{app.client_id}").status_code == 204
    refreshed = requests.post(metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"
    # Asked again, and declining sends access_denied back.
    flow3 = app.authorization_url()
    page = flow3.open(browser)
    fields = consent_form(page)
    declined = browser.http.post(server.origin + "/oauth2/consent", data=dict(fields, decision="deny"), allow_redirects=False)
    assert error_of(flow3, declined)[0] == "access_denied"


def test_consent_given_once_is_listed_but_asked_again(server, metadata):
    app = App(server, metadata, {"third-party": True, "name": "Once App"})
    browser, _ = new_user(server)
    for _ in range(2):
        flow = app.authorization_url(scope="openid offline_access")
        page = flow.open(browser)
        assert page.status_code == 200 and 'id="consent-remember"' in page.text  # asked each time
        fields = consent_form(page)
        allowed = browser.http.post(server.origin + "/oauth2/consent", data=dict(fields, decision="allow"), allow_redirects=False)
        token = flow.tokens(flow.callback(allowed)[0])
    # Listed, so that its offline token can be taken back.
    apps = browser.http.get(server.origin + "/api/v1/me/apps").json()["apps"]
    assert [a["clientID"] for a in apps] == [app.client_id]
    assert browser.http.delete(server.origin + f"/api/v1/me/apps/{app.client_id}").status_code == 204
    refreshed = requests.post(metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"


# Keys

def test_key_rotation_keeps_old_tokens_verifying(server, metadata):
    app = App(server, metadata, {"id-token-alg": "ES256"})
    person = new_user(server)
    _, before, _ = sign_in_flow(app, person)
    old_kid = header(before["id_token"])["kid"]
    rotated = json.loads(server.cli("keys", "rotate").stdout)["new_kids"]
    time.sleep(1.5)  # the server reads the keys again (oidc.key_reload_interval is 1 s here)
    _, after, _ = sign_in_flow(app, person)
    assert header(after["id_token"])["kid"] in rotated and header(after["id_token"])["kid"] != old_kid
    kids = [key["kid"] for key in requests.get(metadata["jwks_uri"]).json()["keys"]]
    assert old_kid in kids
    app.validate_id_token(before["id_token"], access_token=before["access_token"])  # the old key still verifies
    info = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + before["access_token"]})
    assert info.status_code == 200


# Honesty: acr and amr say how the person signed in

def test_synced_passkey_is_phr_and_device_bound_is_phrh(server, metadata):
    app = App(server, metadata, {})
    _, _, synced = sign_in_flow(app, new_user(server, device_bound=False))
    assert synced["acr"] == "phr" and synced["amr"] == ["swk", "user", "mfa"]
    _, _, bound = sign_in_flow(app, new_user(server, device_bound=True))
    assert bound["acr"] == "phrh" and bound["amr"] == ["hwk", "user", "mfa"]


def test_phrh_with_only_synced_passkeys_is_unmet(server, metadata):
    app = App(server, metadata, {})
    browser, passkey = new_user(server, device_bound=False)
    flow = app.authorization_url(acr_values="phrh")
    assert error_of(flow, flow.open(browser))[0] == "unmet_authentication_requirements"
    strict = App(server, metadata, {"require-device-bound": True})
    flow = strict.authorization_url()
    assert error_of(flow, flow.open(browser))[0] == "unmet_authentication_requirements"


def test_phrh_asks_for_the_device_bound_passkey(server, metadata):
    app = App(server, metadata, {})
    browser, synced = new_user(server, device_bound=False)
    bound = browser.add_passkey(device_bound=True)
    browser.sign_in(synced)
    flow = app.authorization_url(acr_values="phrh")
    page = flow.open(browser)
    assert page.status_code == 200 and "stays on one device" in page.text
    location, _ = flow.callback(sign_in_on_page(browser, page, bound))
    claims = app.validate_id_token(flow.tokens(location)["id_token"], nonce=flow.nonce)
    assert claims["acr"] == "phrh"
    # Signing in again with the synced passkey does not meet it: the app hears so, and gets no weaker session.
    flow = app.authorization_url(acr_values="phrh", prompt="login")
    page = flow.open(browser)
    response = sign_in_on_page(browser, page, synced)
    if response.status_code == 200:
        response = sign_in_on_page(browser, response, synced)
    assert error_of(flow, response)[0] == "unmet_authentication_requirements"


# Bad input: each refused, nothing stored changed

def test_the_unchanged_check_sees_a_change(app, person):
    """The check the refusals below run under fails when something is stored: here a code and its tokens."""
    with pytest.raises(AssertionError, match="changed stored rows"):
        with app.server.unchanged():
            sign_in_flow(app, person)


def test_wrong_client_secret(app, person):
    flow = app.authorization_url()
    location, query = flow.code(*person)
    form = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri, "code_verifier": flow.verifier}
    with app.server.unchanged():
        basic = requests.post(app.metadata["token_endpoint"], data=form, auth=(app.client_id, "wrong"))
        assert basic.status_code == 401 and basic.json()["error"] == "invalid_client" and basic.headers["WWW-Authenticate"].startswith("Basic")
        assert basic.headers["Cache-Control"] == "no-store"
        posted = requests.post(app.metadata["token_endpoint"], data=dict(form, client_id=app.client_id, client_secret="wrong"))
        assert posted.status_code == 401 and posted.json()["error"] == "invalid_client"
        both = requests.post(app.metadata["token_endpoint"], data=dict(form, client_secret=app.client_secret), auth=(app.client_id, app.client_secret))
        assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    ok = flow.tokens(location)  # the code survived every refusal
    assert ok["access_token"]


def test_a_code_for_another_client_and_an_expired_code(server, metadata, person):
    app = App(server, metadata, {})
    other = App(server, metadata, {})
    flow = app.authorization_url()
    _, query = flow.code(*person)
    with server.unchanged():
        stolen = requests.post(metadata["token_endpoint"], auth=(other.client_id, other.client_secret), data={
            "grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri, "code_verifier": flow.verifier})
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    time.sleep(3.5)
    with server.unchanged():
        late = requests.post(metadata["token_endpoint"], auth=(app.client_id, app.client_secret), data={
            "grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri, "code_verifier": flow.verifier})
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_a_code_whose_session_ended_gets_no_tokens(server, metadata):
    """The person gets a code, then (from another device) removes the passkey the code's session was
    born from, which ends that session; the app exchanges the code a moment later and gets no tokens.
    Nothing revoked the code: the exchange reads the session."""
    app = App(server, metadata, {})
    browser, first = new_user(server)
    second = browser.add_passkey(device_bound=True)
    flow = app.authorization_url()
    location, _ = flow.code(browser, first)
    remove_passkey_elsewhere(server, first, second)
    with server.unchanged(), pytest.raises(OAuthError) as refused:
        flow.tokens(location)  # Authlib exchanges the code
    assert refused.value.error == "invalid_grant"
    assert "has ended" in refused.value.description  # not expired: refused for its session


def test_tampered_tokens_at_userinfo_and_introspection(app, person):
    _, token, _ = sign_in_flow(app, person)
    at = token["access_token"]
    parts = at.split(".")
    body = dict(payload(at), scope="openid profile admin")
    parts[1] = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with app.server.unchanged():
        for bad in (".".join(parts), at[:-4] + "AAAA", "not-a-token", "a.b.c"):
            info = requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + bad})
            assert info.status_code == 401 and 'error="invalid_token"' in info.headers["WWW-Authenticate"]
            introspected = requests.post(app.metadata["introspection_endpoint"], data={"token": bad}, auth=(app.client_id, app.client_secret))
            assert introspected.json() == {"active": False}
    live = requests.post(app.metadata["introspection_endpoint"], data={"token": at}, auth=(app.client_id, app.client_secret)).json()
    assert live["active"] is True and live["client_id"] == app.client_id and live["acr"] == "phr"
    refresh = requests.post(app.metadata["introspection_endpoint"], data={"token": token["refresh_token"]}, auth=(app.client_id, app.client_secret)).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"


def test_a_disabled_accounts_offline_tokens_are_refused_and_stay_revoked(server, metadata):
    """An offline grant has no session to end when an operator disables the account: introspection
    (RFC 7662 §2.2) asks the account, as the token and UserInfo endpoints do, and the disabling
    revokes the grant, so that enabling the account again does not bring it back."""
    app = App(server, metadata, {"name": "Offline App"})
    browser, passkey = new_user(server)
    flow = app.authorization_url(scope="openid offline_access")
    page = flow.open(browser)
    assert page.status_code == 200 and 'id="consent-allow"' in page.text  # offline access is consented to
    fields = consent_form(page)
    allowed = browser.http.post(server.origin + "/oauth2/consent", data=dict(fields, decision="allow"), allow_redirects=False)
    token = flow.tokens(flow.callback(allowed)[0])

    def introspect(value):
        return requests.post(metadata["introspection_endpoint"], data={"token": value}, auth=(app.client_id, app.client_secret)).json()

    assert introspect(token["access_token"])["active"] is True and introspect(token["refresh_token"])["active"] is True
    username = browser.http.get(server.origin + "/api/v1/me").json()["user"]["username"]
    server.cli("user", "disable", username)
    with server.unchanged():
        assert introspect(token["access_token"]) == {"active": False}
        assert introspect(token["refresh_token"]) == {"active": False}
        info = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
        assert info.status_code == 401
        refreshed = requests.post(metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                                  data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # Disabling revoked the grant: enabling the account again does not give the app its tokens back.
    server.cli("user", "enable", username)
    assert introspect(token["refresh_token"]) == {"active": False}
    refreshed = requests.post(metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # The person signs in again (the disabling ended their session), consents, and the app gets a new grant.
    again = app.authorization_url(scope="openid offline_access")
    page = sign_in_on_page(browser, again.open(browser), passkey)
    assert page.status_code == 200 and 'id="consent-allow"' in page.text
    fields = consent_form(page)
    page = browser.http.post(server.origin + "/oauth2/consent", data=dict(fields, decision="allow"), allow_redirects=False)
    assert introspect(again.tokens(again.callback(page)[0])["refresh_token"])["active"] is True


def test_introspection_is_for_confidential_clients_only(server, metadata, person):
    public = App(server, metadata, {"public": True})
    _, token, _ = sign_in_flow(public, person)
    with server.unchanged():
        refused = requests.post(metadata["introspection_endpoint"], data={"token": token["access_token"], "client_id": public.client_id})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_revocation(app, person):
    _, token, _ = sign_in_flow(app, person)
    revoked = requests.post(app.metadata["revocation_endpoint"], data={"token": token["refresh_token"]}, auth=(app.client_id, app.client_secret))
    assert revoked.status_code == 200
    assert requests.get(app.metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]}).status_code == 401
    unknown = requests.post(app.metadata["revocation_endpoint"], data={"token": "unknown"}, auth=(app.client_id, app.client_secret))
    assert unknown.status_code == 200


def test_revoking_an_access_token_ends_its_grant(server, metadata, app, person):
    """RFC 7009 through Authlib: an access token is checked against the refresh token issued with it,
    so revoking it revokes the grant (§2.1), refresh token included. Another client's revocation of it
    changes nothing stored."""
    _, token, _ = sign_in_flow(app, person)
    userinfo = lambda: requests.get(metadata["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
    other = App(server, metadata, {"name": "Other App"})
    with server.unchanged():
        assert other.session().revoke_token(metadata["revocation_endpoint"], token["access_token"], token_type_hint="access_token").status_code == 200
    assert userinfo().status_code == 200
    revoked = app.session().revoke_token(metadata["revocation_endpoint"], token["access_token"], token_type_hint="access_token")
    assert revoked.status_code == 200
    assert userinfo().status_code == 401
    inactive = requests.post(metadata["introspection_endpoint"], data={"token": token["access_token"]}, auth=(app.client_id, app.client_secret))
    assert inactive.json() == {"active": False}
    with pytest.raises(OAuthError) as refused:
        app.session().refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_malformed_and_oversized_bodies(app):
    endpoint = app.metadata["token_endpoint"]
    with app.server.unchanged():
        refuse_malformed_bodies(app, endpoint)


def refuse_malformed_bodies(app, endpoint):
    for body, kind in ((b"grant_type=%zz", "application/x-www-form-urlencoded"), (b"{}", "application/json"),
                       (b"grant_type=authorization_code&grant_type=refresh_token", "application/x-www-form-urlencoded"),
                       (b"a=" + b"x" * 70000, "application/x-www-form-urlencoded")):
        response = requests.post(endpoint, data=body, headers={"Content-Type": kind}, auth=(app.client_id, app.client_secret))
        assert response.status_code == 400 and response.json()["error"] == "invalid_request", (body[:30], response.status_code, response.text)
    unsupported = requests.post(endpoint, data={"grant_type": "password", "username": "x", "password": "y"}, auth=(app.client_id, app.client_secret))
    assert unsupported.json()["error"] == "unsupported_grant_type"


# Device authorization grant (RFC 8628), approved through device approval

def test_device_grant_end_to_end(server, metadata):
    app = App(server, metadata, {"device-grant": True, "public": True, "name": "Living Room TV"})
    started = requests.post(metadata["device_authorization_endpoint"], data={"client_id": app.client_id, "scope": "openid profile"})
    assert started.status_code == 200, started.text
    grant = started.json()
    assert grant["verification_uri"] == server.origin + "/device" and grant["interval"] >= 5
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": grant["device_code"], "client_id": app.client_id}
    pending = requests.post(metadata["token_endpoint"], data=poll)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    assert requests.post(metadata["token_endpoint"], data=poll).json()["error"] == "slow_down"  # faster than the interval
    # The person approves on a device where they are signed in; the approval page names the app.
    browser, _ = new_user(server)
    found = browser.http.get(server.origin + "/api/v1/device/lookup", params={"user_code": grant["user_code"]})
    assert found.status_code == 200 and found.json()["client"] == "Living Room TV"
    assert browser.http.post(server.origin + "/api/v1/device/approve", json={"user_code": grant["user_code"]}).status_code == 204
    time.sleep(grant["interval"] + 0.2)
    token = requests.post(metadata["token_endpoint"], data=poll)
    assert token.status_code == 200, token.text
    claims = app.validate_id_token(token.json()["id_token"], access_token=token.json()["access_token"])
    assert claims["acr"] == "urn:portcullis:acr:device-grant"  # never phr: no passkey was used on the device
    assert requests.post(metadata["token_endpoint"], data=poll).json()["error"] == "invalid_grant"  # once only


def test_device_grant_denied_and_unregistered(server, metadata):
    other = App(server, metadata, {"public": True})
    refused = requests.post(metadata["device_authorization_endpoint"], data={"client_id": other.client_id})
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    app = App(server, metadata, {"device-grant": True, "public": True})
    grant = requests.post(metadata["device_authorization_endpoint"], data={"client_id": app.client_id}).json()
    browser, _ = new_user(server)
    assert browser.http.post(server.origin + "/api/v1/device/deny", json={"user_code": grant["user_code"]}).status_code == 204
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": grant["device_code"], "client_id": app.client_id}
    assert requests.post(metadata["token_endpoint"], data=poll).json()["error"] == "access_denied"


def test_a_device_approved_by_a_passkey_removed_before_it_polls_gets_nothing(server, metadata):
    """The person approves the TV, then (their phone lost, say) removes the passkey that approved it
    from another device before the TV polls: the approval goes with the passkey."""
    app = App(server, metadata, {"device-grant": True, "public": True, "name": "Hotel TV"})
    grant = requests.post(metadata["device_authorization_endpoint"], data={"client_id": app.client_id, "scope": "openid"}).json()
    phone, first = new_user(server)
    second = phone.add_passkey(device_bound=True)
    assert phone.http.post(server.origin + "/api/v1/device/approve", json={"user_code": grant["user_code"]}).status_code == 204
    remove_passkey_elsewhere(server, first, second)
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": grant["device_code"], "client_id": app.client_id}
    refused = requests.post(metadata["token_endpoint"], data=poll)
    assert refused.status_code == 400 and refused.json()["error"] == "access_denied", refused.text


def told_as(app, browser, acr):
    """The app signs in the browser's session and is told `acr`; asked for phr, the same session is sent
    to the sign-in page, never given a code."""
    flow = app.authorization_url()
    location, _ = flow.callback(flow.open(browser))
    claims = app.validate_id_token(flow.tokens(location)["id_token"], nonce=flow.nonce)
    assert claims["acr"] == acr
    strict = app.authorization_url(acr_values="phr")
    page = strict.open(browser)
    assert page.status_code == 200 and 'id="authorize"' in page.text


def test_a_device_approval_session_is_never_phr(server, metadata):
    """A device without passkeys signs in by approval from another device (the existing device
    approval); an app it then signs in to is told so, and acr_values=phr sends it to sign in with a
    passkey of its own instead."""
    app = App(server, metadata, {})
    approver, _ = new_user(server)
    device = type(approver)(server.origin)
    started = device.api("/api/v1/device/start", {})
    assert approver.http.post(server.origin + "/api/v1/device/approve", json={"user_code": started["user_code"]}).status_code == 204
    polled = device.http.post(server.origin + "/api/v1/device/poll", json={"device_code": started["device_code"]})
    assert polled.status_code == 200, polled.text
    told_as(app, device, "urn:portcullis:acr:device-approval")


def test_a_recovered_session_is_never_phr(server, metadata):
    """A person who lost their device recovers with their recovery code on a new one (the code alone
    releases a case after 3 s on this test server) and ends with a new passkey and a recovered
    session. An app is told so, never phr; acr_values=phr sends them to sign in with a passkey."""
    app = App(server, metadata, {})
    owner, _ = new_user(server)
    device, code = recover(server, owner)
    assert device.http.get(server.origin + "/api/v1/me").json()["session"]["birth"]["kind"] == "recovered"
    told_as(app, device, "urn:portcullis:acr:recovered")
    silent = app.authorization_url(acr_values="phr", prompt="none")
    assert error_of(silent, silent.open(device))[0] == "interaction_required"
    # The code that proved this recovery is used up: someone who saw it typed cannot start another.
    username = device.http.get(server.origin + "/api/v1/me").json()["user"]["username"]
    stranger = type(device)(server.origin)
    case = stranger.api("/api/v1/recovery", {"username": username})
    reused = stranger.http.post(server.origin + f"/api/v1/recovery/{case['id']}/code", json={"code": code})
    assert reused.status_code == 400 and reused.json()["code"] == "recovery_code_invalid", reused.text


def test_browser_apps_may_read_the_public_endpoints_but_not_introspection(app):
    origin = "https://spa.example"
    for endpoint in (app.metadata["token_endpoint"], app.metadata["userinfo_endpoint"], app.metadata["revocation_endpoint"]):
        preflight = requests.options(endpoint, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "authorization, dpop"})
        assert preflight.status_code == 204, (endpoint, preflight.status_code)
        assert preflight.headers["Access-Control-Allow-Origin"] == "*" and "Access-Control-Allow-Credentials" not in preflight.headers
        assert "dpop" in preflight.headers["Access-Control-Allow-Headers"].lower()
    refused = requests.post(app.metadata["token_endpoint"], data={"grant_type": "authorization_code", "code": "x"}, headers={"Origin": origin})
    assert refused.headers["Access-Control-Allow-Origin"] == "*" and "WWW-Authenticate" in refused.headers["Access-Control-Expose-Headers"]
    assert requests.get(app.metadata["jwks_uri"], headers={"Origin": origin}).headers["Access-Control-Allow-Origin"] == "*"
    introspect = requests.post(app.metadata["introspection_endpoint"], data={"token": "x"}, auth=(app.client_id, app.client_secret),
                               headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in introspect.headers  # for confidential clients' servers only
