"""The provider's pages in a real headless Chromium with its virtual authenticator: an app sends the
person to Portcullis, they sign in on the sign-in page with a passkey (and consent, for a
third-party app), and the browser lands on the app's redirect URI, where Authlib exchanges the code."""
import threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support.ui import WebDriverWait

from conftest import App, new_user


class Callback:
    """The app's redirect URI: a loopback server that keeps the query it was sent."""

    def __init__(self):
        self.queries = []
        callback = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/callback"):  # not the favicon the browser asks for next
                    callback.queries.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<p id='app'>back in the app</p>")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/callback"


@pytest.fixture(scope="module")
def chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.add_virtual_authenticator(VirtualAuthenticatorOptions(
        protocol="ctap2", transport="internal", has_resident_key=True, has_user_verification=True, is_user_consenting=True, is_user_verified=True))
    yield driver
    driver.quit()


def wait(driver, predicate, timeout=15):
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda _: predicate())


def sign_up(driver, origin, username):
    driver.get(origin + "/")
    wait(driver, lambda: driver.find_element(By.ID, "signup").is_displayed())
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "signup").click()
    wait(driver, lambda: driver.find_element(By.ID, "status").text.startswith(("Welcome", "Sign-up failed")))
    assert driver.find_element(By.ID, "status").text == f"Welcome, {username}."


def routes_served(server, route):
    """How many requests the server has logged for `route` (its request log: one line each)."""
    return sum(1 for record in server.log_records() if record.get("route") == route)


def app_with_callback(server, metadata, options):
    callback = Callback()
    return App(server, metadata, options, redirect_uri=callback.uri), callback


def test_an_app_signs_a_person_in_through_the_sign_in_page(chromium, server, metadata):
    app, callback = app_with_callback(server, metadata, {"name": "Browser App"})
    sign_up(chromium, server.origin, "browserperson")
    chromium.delete_all_cookies()  # signed out: the app's request must show the sign-in page
    flow = app.authorization_url()
    chromium.get(flow.url)
    wait(chromium, lambda: chromium.find_element(By.ID, "authorize-signin").is_displayed())
    assert "Sign in to Browser App" in chromium.find_element(By.TAG_NAME, "h1").text
    resumed = routes_served(server, "/oauth2/resume")
    asked = routes_served(server, "/api/v1/login/options")
    chromium.find_element(By.ID, "authorize-signin").click()
    wait(chromium, lambda: callback.queries)
    # The sign-in's own answer carried the way back: no detour through the resume path.
    assert routes_served(server, "/oauth2/resume") == resumed
    # The page carried the sign-in's options: the browser asked for the passkey without asking the API first.
    assert routes_served(server, "/api/v1/login/options") == asked
    location = app.redirect_uri.rsplit("/", 1)[0] + callback.queries[-1]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["state"] == flow.state and query["iss"] == metadata["issuer"]
    token = flow.tokens(location)
    claims = app.validate_id_token(token["id_token"], nonce=flow.nonce, access_token=token["access_token"])
    assert claims["preferred_username"] == "browserperson" and claims["acr"] in ("phr", "phrh")
    # No Content-Security-Policy violation on the way.
    assert not [entry for entry in chromium.get_log("browser") if "Content Security Policy" in entry["message"]]


@pytest.mark.parametrize("case", ["after half the challenge's lifetime", "with a typed username"])
def test_the_sign_in_page_asks_for_new_options_when_its_own_will_not_do(chromium, server, metadata, case):
    """The options a sign-in page carries are for any passkey and have a lifetime: a person who comes
    back to the page much later, or who types their username, gets new ones from the API, and the
    sign-in still ends back in the app."""
    app, callback = app_with_callback(server, metadata, {"name": "Patient App"})
    # The person of the first test; signed up here when this test runs alone. (Once this browser holds
    # a passkey, the home page signs in with it by itself, so no second person can sign up there.)
    username = "browserperson"
    if not chromium.get_credentials():
        sign_up(chromium, server.origin, username)
    chromium.get(server.origin + "/oauth2/nowhere")
    chromium.delete_all_cookies()
    flow = app.authorization_url()
    chromium.get(flow.url)
    wait(chromium, lambda: chromium.find_element(By.ID, "authorize-signin").is_displayed())
    if case.startswith("after"):
        # 200 s later by the page's clock (the challenge lives 300 s): its own options are too old to use.
        chromium.execute_script("const real = Date.now; Date.now = () => real() + 200000;")
    else:
        chromium.find_element(By.ID, "username").send_keys(username)
    asked = routes_served(server, "/api/v1/login/options")
    chromium.find_element(By.ID, "authorize-signin").click()
    wait(chromium, lambda: callback.queries)
    assert routes_served(server, "/api/v1/login/options") == asked + 1
    location = app.redirect_uri.rsplit("/", 1)[0] + callback.queries[-1]
    token = flow.tokens(location)
    claims = app.validate_id_token(token["id_token"], nonce=flow.nonce, access_token=token["access_token"])
    assert claims["acr"] in ("phr", "phrh")
    if case.startswith("with"):
        assert claims["preferred_username"] == username


def test_a_third_party_app_asks_for_consent_in_the_browser(chromium, server, metadata):
    app, callback = app_with_callback(server, metadata, {"name": "Other Company", "third-party": True})
    flow = app.authorization_url()
    chromium.get(flow.url)  # still signed in from sign-up in the previous test, or signs in now
    wait(chromium, lambda: chromium.find_elements(By.ID, "consent-allow") or chromium.find_elements(By.ID, "authorize-signin"))
    if chromium.find_elements(By.ID, "authorize-signin"):
        chromium.find_element(By.ID, "authorize-signin").click()
        wait(chromium, lambda: chromium.find_elements(By.ID, "consent-allow"))
    assert "Other Company" in chromium.find_element(By.TAG_NAME, "h1").text
    assert chromium.find_element(By.ID, "consent-remember").is_selected()  # remembered unless the person unticks it
    chromium.find_element(By.ID, "consent-allow").click()
    wait(chromium, lambda: callback.queries)
    location = app.redirect_uri.rsplit("/", 1)[0] + callback.queries[-1]
    token = flow.tokens(location)
    app.validate_id_token(token["id_token"], nonce=flow.nonce)
    # The person's account page lists the app, and disconnecting it there takes its tokens back.
    chromium.get(server.origin + "/")
    wait(chromium, lambda: "Other Company" in chromium.find_element(By.ID, "apps").text)
    assert chromium.find_element(By.ID, "apps").text.startswith("Other Company: who you are, your name and username. Allowed just now (")
    chromium.find_element(By.CSS_SELECTOR, "#apps button").click()
    wait(chromium, lambda: chromium.find_element(By.ID, "status").text.startswith(("Other Company is disconnected", "Refused")))
    assert chromium.find_element(By.ID, "status").text.startswith("Other Company is disconnected")
    wait(chromium, lambda: chromium.find_element(By.ID, "apps").text == "None yet.")
    refreshed = requests.post(metadata["token_endpoint"], auth=(app.client_id, app.client_secret),
                              data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert refreshed.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("mark", ["\u0301", "\u200d", "\ufe0f"])
def test_a_quote_joined_to_a_combining_mark_stays_inside_its_attribute(chromium, server, metadata, mark):
    """A value the page shows cannot end the attribute it is written in: a quote that a combining mark
    (or a joiner, or a variation selector) follows is one Character to Swift but two code points to the
    browser's tokenizer, which ends the attribute at the quote. Both the app's name and the login_hint
    (which anyone can put in a link) are shown on the sign-in page."""
    name = f'Evil{mark}"{mark} data-injected="name'
    app, callback = app_with_callback(server, metadata, {"name": name})
    hint = f'"{mark} autofocus data-injected="hint" x="'
    chromium.get(server.origin + "/oauth2/nowhere")
    chromium.delete_all_cookies()  # signed out: the sign-in page, with the hint in its username field
    chromium.get(app.authorization_url(login_hint=hint).url)
    wait(chromium, lambda: chromium.find_elements(By.ID, "authorize-signin"))
    field = chromium.find_element(By.ID, "username")
    assert chromium.execute_script("return arguments[0].getAttributeNames()", field) == ["id", "name", "autocomplete", "value"]
    assert field.get_attribute("value") == hint
    assert chromium.execute_script("return document.querySelectorAll('[data-injected], [x]').length") == 0
    assert chromium.find_element(By.TAG_NAME, "h1").text == f"Sign in to {name}"
    assert chromium.title.startswith(f"Sign in to {name} ")
    assert not callback.queries


def test_a_bad_redirect_uri_ends_on_an_error_page_in_the_browser(chromium, server, metadata):
    app, callback = app_with_callback(server, metadata, {})
    flow = app.authorization_url()
    chromium.get(flow.url.replace(urllib.parse.quote(app.redirect_uri, safe=""), urllib.parse.quote("https://evil.example/cb", safe="")))
    wait(chromium, lambda: chromium.find_elements(By.ID, "error-message"))
    assert "redirect_uri" in chromium.find_element(By.ID, "error-message").text
    assert chromium.current_url.startswith(server.origin) and not callback.queries


def test_a_single_page_app_exchanges_its_code_and_reads_userinfo_from_its_own_origin(chromium, server, metadata):
    """A public client running in the browser: after the redirect, the app's page (another origin than
    the provider's) posts the code and its verifier to the token endpoint and calls UserInfo with the
    access token in an Authorization header, which makes Chromium send a preflight first."""
    app, callback = app_with_callback(server, metadata, {"name": "Single Page App", "public": True})
    flow = app.authorization_url()
    chromium.get(flow.url)
    wait(chromium, lambda: callback.queries or chromium.find_elements(By.ID, "authorize-signin"))
    if not callback.queries:
        if chromium.get_credentials():
            chromium.find_element(By.ID, "authorize-signin").click()
        else:  # run alone: no one has signed up in this browser yet
            sign_up(chromium, server.origin, "spaperson")
            chromium.get(flow.url)
    wait(chromium, lambda: callback.queries)
    wait(chromium, lambda: chromium.find_elements(By.ID, "app"))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback.queries[-1]).query))
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": query["code"], "redirect_uri": app.redirect_uri,
                                   "client_id": app.client_id, "code_verifier": flow.verifier})
    result = chromium.execute_async_script("""
        const [tokenEndpoint, body, userinfoEndpoint] = arguments;
        const done = arguments[arguments.length - 1];
        (async () => {
            const token = await (await fetch(tokenEndpoint, {method: 'POST', body,
                headers: {'Content-Type': 'application/x-www-form-urlencoded'}})).json();
            const user = await fetch(userinfoEndpoint, {headers: {Authorization: 'Bearer ' + token.access_token}});
            return {token, user: await user.json(), status: user.status};
        })().then(done, (error) => done({error: String(error)}));
    """, metadata["token_endpoint"], body, metadata["userinfo_endpoint"])
    assert "error" not in result, result
    assert chromium.current_url.startswith(app.redirect_uri) and not app.redirect_uri.startswith(server.origin)
    claims = app.validate_id_token(result["token"]["id_token"], nonce=flow.nonce, access_token=result["token"]["access_token"])
    assert result["status"] == 200 and result["user"]["sub"] == claims["sub"]


def test_a_device_without_passkeys_signs_in_to_an_app_by_approval(chromium, server, metadata):
    """On the app's sign-in page, "Sign in with another device" shows a code; the person approves it
    on a device where they are signed in (here the software authenticator's browser), and this
    browser lands in the app, whose ID token says the sign-in was a device approval."""
    app, callback = app_with_callback(server, metadata, {"name": "Kiosk App"})
    chromium.get(server.origin + "/")
    chromium.delete_all_cookies()
    flow = app.authorization_url()
    chromium.get(flow.url)
    wait(chromium, lambda: chromium.find_element(By.ID, "authorize-other-device").is_displayed())
    chromium.find_element(By.ID, "authorize-other-device").click()
    wait(chromium, lambda: chromium.find_element(By.ID, "authorize-user-code").text)
    user_code = chromium.find_element(By.ID, "authorize-user-code").text
    assert chromium.find_element(By.ID, "authorize-verify-at").text == server.origin + "/device"
    approver, _ = new_user(server)
    found = approver.http.get(server.origin + "/api/v1/device/lookup", params={"user_code": user_code})
    assert found.status_code == 200, found.text
    assert approver.http.post(server.origin + "/api/v1/device/approve", json={"user_code": user_code}).status_code == 204
    wait(chromium, lambda: callback.queries, timeout=30)  # the page polls every few seconds
    location = app.redirect_uri.rsplit("/", 1)[0] + callback.queries[-1]
    claims = app.validate_id_token(flow.tokens(location)["id_token"], nonce=flow.nonce)
    assert claims["acr"] == "urn:portcullis:acr:device-approval"
    assert not [entry for entry in chromium.get_log("browser") if "Content Security Policy" in entry["message"]]
