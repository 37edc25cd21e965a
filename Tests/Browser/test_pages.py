"""The page for people, in a real headless Chromium with its virtual authenticator, against a real
`portcullis serve` (the debug build) on an embedded SQLite file."""
import base64, hashlib, hmac, io, json, os, socket, subprocess, tempfile, threading, time, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import zxingcpp
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "debug", "portcullis")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WEBHOOK_KEY = bytes(range(32))
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY).decode()


class Webhooks:
    """A webhook endpoint on loopback that keeps every delivery whose Standard Webhooks signature verifies."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode() + body
                expected = "v1," + base64.b64encode(hmac.new(WEBHOOK_KEY, signed, hashlib.sha256).digest()).decode()
                if hmac.compare_digest(expected, self.headers.get("webhook-signature", "")):
                    with hooks.lock:
                        hooks.events.append(json.loads(body))
                    self.send_response(204)
                else:
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks"

    def matching(self, predicate):
        with self.lock:
            return [event for event in self.events if predicate(event)]

    def wait_for(self, predicate, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.matching(predicate)
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError("no such webhook delivery")


@pytest.fixture(scope="session")
def webhooks():
    hooks = Webhooks()
    yield hooks
    hooks.httpd.shutdown()


def start_server(**extra_env):
    """`portcullis serve` on a fresh SQLite file; returns its origin, its process and its environment."""
    port = free_port()
    directory = tempfile.mkdtemp(prefix="portcullis-browser-")
    origin = f"http://localhost:{port}"
    env = dict(os.environ, HTTP_PORT=str(port), RP_ORIGINS=origin, DATABASE_URL=f"sqlite:{directory}/portcullis.sqlite", **extra_env)
    process = subprocess.Popen([BINARY, "serve"], env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200:
                return origin, process, env
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("portcullis serve did not become ready")


# The shared server's environment, for the operator's commands (`portcullis admin grant`) a test runs against it.
SERVER_ENV = {}


# An IP-range file in the shape of DB-IP's IP to City Lite, placing loopback (where the browsers are) in Amsterdam.
PLACES = ('1.0.0.0,1.0.0.255,OC,AU,Queensland,"South Brisbane",-27.4767,153.017\n'
          '127.0.0.0,127.255.255.255,EU,NL,"North Holland",Amsterdam,52.3676,4.90414\n'
          '::1,::1,EU,NL,"North Holland",Amsterdam,52.3676,4.90414\n')
HERE = "in Amsterdam, North Holland, Netherlands (127.0.0.1)"


@pytest.fixture(scope="session")
def server(webhooks):
    # The recovery code alone opens a case after 3 seconds here (72 hours by default), so a browser can finish one.
    # Every security event is posted to a webhook endpoint of the test's own: the notifications a person would get.
    places = os.path.join(tempfile.mkdtemp(prefix="portcullis-places-"), "dbip-city-lite.csv")
    with open(places, "w") as file:
        file.write(PLACES)
    # Every browser is at 127.0.0.1: the per-address ceremony limit (120 a minute) would stop the suite.
    origin, process, env = start_server(RECOVERY_RULES="contacts:24h, code:3s, contact+code:1h, admins:0",
                                        WEBHOOKS_URLS=webhooks.url, WEBHOOKS_SECRET=WEBHOOK_SECRET, SESSION_PLACES_FILE=places,
                                        RATELIMIT_IP_PER_MINUTE="100000")
    SERVER_ENV.update(env)
    yield origin
    process.terminate()
    assert process.wait(timeout=30) == 0, "SIGTERM should stop the server cleanly"


def new_chromium(*extra):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to see Content-Security-Policy violations
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,800", *extra):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


@pytest.fixture(scope="session")
def browser():
    driver = new_chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def other_browser():
    """A second device: its own Chromium, with no passkey and no cookie of the first."""
    driver = new_chromium()
    yield driver
    driver.quit()


def qr_text(element):
    """What a QR code drawn on the page says, read from a screenshot by zxing-cpp (a decoder nobody here wrote)."""
    element.parent.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(element.screenshot_as_png)))
    assert len(found) == 1, "no readable QR code on the page"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def platform_authenticator():
    """A phone-like authenticator: resident keys and user verification, always consenting."""
    return VirtualAuthenticatorOptions(protocol="ctap2", transport="internal", has_resident_key=True,
                                       has_user_verification=True, is_user_consenting=True, is_user_verified=True)


@pytest.fixture
def passkey_browser(browser):
    browser.add_virtual_authenticator(platform_authenticator())
    yield browser
    browser.remove_virtual_authenticator()
    browser.delete_all_cookies()


def status(driver):
    try:
        return driver.find_element(By.ID, "status").text
    except (StaleElementReferenceException, NoSuchElementException):
        return ""  # the page is reloading
    except WebDriverException as error:
        if reloading(error):
            return ""
        raise


def reloading(error):
    """Chromium's own word for a stale element, when the page reloads between finding and using it."""
    return "does not belong to the document" in str(error)


def wait_for(driver, predicate, timeout=15):
    def attempt(_):
        try:
            return predicate()
        except WebDriverException as error:
            if reloading(error):
                return False
            raise
    WebDriverWait(driver, timeout, poll_frequency=0.02,
                  ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(attempt)


def test_sign_up_then_autofill_and_modal_sign_in(passkey_browser, server):
    d = passkey_browser
    sign_up(d, server, "alice")
    # The page says "Welcome" first, then fetches /api/v1/me to fill in the account.
    wait_for(d, lambda: d.find_element(By.ID, "who").text)
    assert d.find_element(By.ID, "who").text == "alice"
    assert len(d.get_credentials()) == 1 and d.get_credentials()[0].is_resident_credential

    # Sign out: the page reloads and conditional mediation (autofill) signs in with the passkey.
    d.find_element(By.ID, "signout").click()
    wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
    assert status(d) == "Signed in as alice."

    # Without user verification the server refuses (UV is required); then the modal path works.
    d.set_user_verified(False)
    # The status line comes before the account view, whose Sign out button a person clicks once shown.
    wait_for(d, lambda: d.find_element(By.ID, "signout").is_displayed())
    d.find_element(By.ID, "signout").click()
    wait_for(d, lambda: d.find_element(By.ID, "signin").is_displayed())
    d.find_element(By.ID, "signin").click()
    wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
    assert status(d).startswith("Sign-in failed")
    d.set_user_verified(True)
    d.find_element(By.ID, "signin").click()
    wait_for(d, lambda: status(d).startswith("Signed in"))
    assert status(d) == "Signed in as alice."


def test_a_taken_username_is_refused_by_the_page(passkey_browser, server):
    d = passkey_browser
    d.get(server + "/")
    d.find_element(By.ID, "username").send_keys("alice")
    d.find_element(By.ID, "signup").click()
    wait_for(d, lambda: status(d).startswith(("Welcome", "Sign-up failed")))
    assert status(d) == "Sign-up failed: That username is taken."
    assert d.get_credentials() == []


def test_passkey_failures_are_told_in_words_with_what_to_do_next(passkey_browser, server):
    d = passkey_browser
    sign_up(d, server, "erin")
    wait_for(d, lambda: d.find_element(By.ID, "passkeys").text)
    line = d.find_element(By.ID, "passkeys").text
    assert line.startswith("Passkey on a phone or computer, on one device only. Added just now (") and "not used yet" in line, line
    # This authenticator already holds erin's passkey: the browser refuses a second (InvalidStateError).
    d.find_element(By.ID, "add-passkey").click()
    wait_for(d, lambda: status(d).startswith(("Refused", "Passkey added")))
    assert status(d) == ("Refused: This device already holds a passkey for this account. Sign in with it, "
                         "or add one from another device or security key.")
    # On a device without the passkey the prompt ends with NotAllowedError (as when a person closes it):
    # no browser text, no specification's address.
    d.remove_virtual_authenticator()
    d.add_virtual_authenticator(platform_authenticator())  # another device: it holds no passkey for erin
    d.find_element(By.ID, "signout").click()
    wait_for(d, lambda: d.find_element(By.ID, "signin").is_displayed())
    d.find_element(By.ID, "signin").click()
    wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")), timeout=90)
    assert status(d) == ("Sign-in failed: The passkey prompt was closed, timed out, or found no passkey for this site on this device. "
                         "Try again, sign in with another device, or, if you have lost your passkeys, recover your account.")
    assert "http" not in status(d)


def test_the_page_sends_a_strict_content_security_policy(server):
    response = urllib.request.urlopen(server.replace("localhost", "127.0.0.1") + "/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/", "/recover", "/device"])
def test_the_pages_script_and_style_load_under_that_policy(browser, server, path):
    browser.get_log("browser")  # what earlier tests left
    browser.get(server + path)
    wait_for(browser, lambda: browser.execute_script("return document.readyState") == "complete")
    # The stylesheet applied (the status box is grey) and the script ran (it showed the path's section).
    assert browser.execute_script("return getComputedStyle(document.getElementById('status')).backgroundColor") == "rgb(243, 243, 243)"
    # The accent colour comes from brand.css (pages.accent_color, here its default #1d4ed8).
    assert browser.execute_script("return getComputedStyle(document.querySelector('button')).backgroundColor") == "rgb(29, 78, 216)"
    section = {"/": "signed-out", "/recover": "recover", "/device": "device"}[path]
    wait_for(browser, lambda: browser.find_element(By.ID, section).is_displayed())
    violations = [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]
    assert violations == []


def test_an_unknown_address_is_a_page_in_the_products_look(browser, server):
    browser.get_log("browser")
    browser.get(server + "/no-such-page")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"
    assert browser.find_element(By.ID, "error-page").get_attribute("data-status") == "404"
    # The product's stylesheet applies here too, under the same policy, and the way home works.
    assert browser.execute_script("return getComputedStyle(document.body).maxWidth") == "576px"  # app.css: 36rem
    browser.find_element(By.LINK_TEXT, "Go to Portcullis").click()
    wait_for(browser, lambda: browser.find_element(By.ID, "signed-out").is_displayed() or browser.find_element(By.ID, "signed-in").is_displayed())
    assert not [entry for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]


def post_json(url, body, cookie=None, origin=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **({"Cookie": cookie} if cookie else {}),
                                              **({"Origin": origin} if origin else {})})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"{}"), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error.headers


def sign_up(d, server, username):
    d.get(server + "/")
    wait_for(d, lambda: d.find_element(By.ID, "signup").is_displayed())
    d.find_element(By.ID, "username").send_keys(username)
    d.find_element(By.ID, "signup").click()
    wait_for(d, lambda: status(d).startswith(("Welcome", "Sign-up failed")))
    assert status(d) == f"Welcome, {username}."
    wait_for(d, lambda: d.find_element(By.ID, "signout").is_displayed())  # the account page has loaded


def test_a_device_without_passkeys_is_approved_from_the_device_page(passkey_browser, server):
    d = passkey_browser
    sign_up(d, server, "dora")
    # The device without passkeys (no browser, no cookie) starts a request.
    code, started, _ = post_json(server + "/api/v1/device/start", {})
    assert code == 200
    d.get(started["verification_uri_complete"])
    assert d.find_element(By.ID, "device-code").get_attribute("value") == started["user_code"]
    d.find_element(By.ID, "device-code").send_keys("\n")  # Enter: confirms with the passkey first, then shows the device
    wait_for(d, lambda: d.find_element(By.ID, "device-details").is_displayed() or status(d))
    assert "asked just now (" in d.find_element(By.ID, "device-info").text and HERE in d.find_element(By.ID, "device-info").text
    d.find_element(By.ID, "approve").click()
    wait_for(d, lambda: status(d).startswith(("Approved", "Refused")))
    assert status(d) == "Approved: the other device is signed in."
    code, result, headers = post_json(server + "/api/v1/device/poll", {"device_code": started["device_code"]})
    assert code == 200 and result["user"]["username"] == "dora"
    cookie = headers["Set-Cookie"].split(";")[0]
    me = urllib.request.urlopen(urllib.request.Request(server + "/api/v1/me", headers={"Cookie": cookie}))
    assert json.loads(me.read())["session"]["birth"]["kind"] == "device-approval"


def test_a_lost_device_is_recovered_with_the_code_and_a_new_passkey(browser, server):
    d = browser
    d.add_virtual_authenticator(platform_authenticator())
    try:
        sign_up(d, server, "rita")
        d.find_element(By.ID, "new-code").click()
        wait_for(d, lambda: d.find_element(By.ID, "recovery-code").is_displayed())
        recovery_code = d.find_element(By.ID, "recovery-code").text
        assert len(recovery_code.replace("-", "")) == 26
        wait_for(d, lambda: "recovery code: yes" in d.find_element(By.ID, "readiness").text)
    finally:
        # The phone is lost: its passkey and its session are gone.
        d.remove_virtual_authenticator()
        d.delete_all_cookies()

    d.add_virtual_authenticator(platform_authenticator())
    try:
        d.get(server + "/recover")
        # Before naming an account, the page says what will happen and how long each way waits.
        wait_for(d, lambda: "Your recovery code: after 3 seconds." in d.find_element(By.ID, "recover-rules").text)
        d.find_element(By.ID, "recover-username").send_keys("rita\n")  # Enter submits
        wait_for(d, lambda: d.find_element(By.ID, "recover-case").is_displayed())
        assert len(d.find_element(By.ID, "comparison-code").text) == 6
        assert d.find_element(By.ID, "new-passkey").is_displayed() is False
        d.find_element(By.ID, "recovery-code-input").send_keys(recovery_code.lower() + "\n")
        wait_for(d, lambda: status(d).startswith(("Recovery code accepted", "That recovery code")))
        assert status(d) == "Recovery code accepted."
        # Released only after the waiting period; then the only thing to do is create a new passkey.
        wait_for(d, lambda: d.find_element(By.ID, "new-passkey").is_displayed(), timeout=20)
        d.find_element(By.ID, "new-passkey").click()
        wait_for(d, lambda: status(d).startswith(("Recovered", "Recovery failed")))
        assert status(d).startswith("Recovered. Welcome back, rita.")
        wait_for(d, lambda: d.find_element(By.ID, "signed-in").is_displayed())
        assert "signed in by account recovery; account changes are locked until " in d.find_element(By.ID, "birth").text
        assert "remove any that was on a lost or stolen device" in d.find_element(By.ID, "recovered-notice").text
        assert len(d.get_credentials()) == 1
        # The recovered session cannot change the account during its cooling period.
        d.find_element(By.ID, "new-code").click()
        wait_for(d, lambda: status(d).startswith(("Refused", "Write")))
        # "in 24 hours" or "tomorrow", as the browser words a day from now, then the local date and time.
        assert status(d).startswith("Refused: This session comes from an account recovery, so for your safety it cannot change the account yet. "
                                    "Wait until the time shown, or sign in with one of your passkeys. Changes are possible again ")
        assert status(d).endswith(").") and ("in 24 hours (" in status(d) or "tomorrow (" in status(d))
    finally:
        d.remove_virtual_authenticator()
        d.delete_all_cookies()


def post_form(url, fields, origin):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": origin})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def api_in_page(d, path):
    """What the page's own fetch gets for `path`: its status and JSON."""
    return d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then(async (r) => done([r.status, await r.json()]));", path)


def test_this_wasnt_me_cancels_from_the_link_in_a_real_notification(browser, server, webhooks):
    d = browser
    d.add_virtual_authenticator(platform_authenticator())
    try:
        sign_up(d, server, "carol")
        owner_cookies = d.get_cookies()
        d.delete_all_cookies()

        # Someone asks to recover carol's account from their own browser.
        d.get(server + "/recover")
        d.find_element(By.ID, "recover-username").send_keys("carol")
        d.find_element(By.ID, "recover-begin").click()
        wait_for(d, lambda: d.find_element(By.ID, "recover-case").is_displayed())
        case_id = d.execute_script("return sessionStorage.getItem('recovery-case')")

        # Carol's notification carries the "this wasn't me" link.
        notice = webhooks.wait_for(lambda e: e["type"] == "portcullis.recovery_started" and e["data"].get("case") == case_id)
        link = notice["data"]["cancelUrl"]
        assert link.startswith(server + "/recovery/cancel?case=" + case_id + "&sig=")
        fields = {key: values[0] for key, values in urllib.parse.parse_qs(urllib.parse.urlparse(link).query).items()}

        # The same form posted from a foreign site, or with the null origin, is refused and cancels nothing.
        assert post_form(server + "/recovery/cancel", fields, "https://evil.example") == 403
        assert post_form(server + "/recovery/cancel", fields, "null") == 403
        assert not webhooks.matching(lambda e: e["type"] == "portcullis.recovery_cancelled" and e["data"].get("case") == case_id)

        # Carol opens the link in a browser and presses the button.
        d.get(link)
        assert d.find_element(By.TAG_NAME, "h1").text == "Recovery request"
        d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(d, lambda: d.find_element(By.TAG_NAME, "h1").text != "Recovery request")
        assert d.find_element(By.TAG_NAME, "h1").text == "Recovery cancelled"
        cancelled = webhooks.wait_for(lambda e: e["type"] == "portcullis.recovery_cancelled" and e["data"].get("case") == case_id)
        assert cancelled["data"]["by"] == "link"

        # The requester's page now says so.
        d.get(server + "/recover")
        wait_for(d, lambda: "cancelled" in d.find_element(By.ID, "progress").text)

        # New requests are blocked: one started now reaches no account and tells nobody.
        d.execute_script("sessionStorage.clear()")
        d.get(server + "/recover")
        d.find_element(By.ID, "recover-username").send_keys("carol")
        d.find_element(By.ID, "recover-begin").click()
        wait_for(d, lambda: d.find_element(By.ID, "recover-case").is_displayed())
        time.sleep(3)
        assert len(webhooks.matching(lambda e: e["type"] == "portcullis.recovery_started" and e["data"].get("username") == "carol")) == 1

        # Carol's own session shows no open case.
        d.delete_all_cookies()
        d.get(server + "/")
        for cookie in owner_cookies:
            d.add_cookie(cookie)
        status_code, me = api_in_page(d, "/api/v1/me")
        assert status_code == 200 and me["user"]["username"] == "carol" and me["openRecoveryCases"] == []
    finally:
        d.remove_virtual_authenticator()
        d.delete_all_cookies()


def test_a_typed_username_signs_in_that_account_or_no_one(passkey_browser, server):
    d = passkey_browser
    sign_up(d, server, "frank")
    # Autofill would sign frank in on the next page; without user verification it fails, and the buttons stay.
    d.set_user_verified(False)
    d.find_element(By.ID, "signout").click()
    wait_for(d, lambda: d.find_element(By.ID, "signin").is_displayed())
    time.sleep(0.5)
    d.set_user_verified(True)

    # A username that does not exist, and one whose passkeys are elsewhere: no one is signed in, and the two look alike.
    messages = []
    for typed in ("nobody-here", "alice"):
        d.find_element(By.ID, "username").clear()
        d.find_element(By.ID, "username").send_keys(typed)
        d.find_element(By.ID, "signin").click()
        wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
        messages.append(status(d))
        assert status_of_me(d) == 401
        d.execute_script("document.getElementById('status').textContent = ''")
    assert messages[0].startswith("Sign-in failed") and messages[0] == messages[1]

    # The account's own username signs in that account (Enter submits the form), and the page says who.
    d.find_element(By.ID, "username").clear()
    d.find_element(By.ID, "username").send_keys("frank\n")
    wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
    assert status(d) == "Signed in as frank."
    wait_for(d, lambda: d.find_element(By.ID, "who").text)
    assert d.find_element(By.ID, "who").text == "frank"


def status_of_me(d):
    return api_in_page(d, "/api/v1/me")[0]


def test_removing_a_lost_passkey_signs_out_what_it_signed_in(browser, server, webhooks):
    d = browser
    d.add_virtual_authenticator(platform_authenticator())  # the phone
    try:
        sign_up(d, server, "gina")
    finally:
        d.remove_virtual_authenticator()
    d.add_virtual_authenticator(platform_authenticator())  # a second device
    try:
        d.find_element(By.ID, "add-passkey").click()
        wait_for(d, lambda: status(d).startswith(("Passkey added", "Refused")))
        assert status(d) == "Passkey added."
        wait_for(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#passkeys li")) == 2)
        second = d.get_credentials()[0].id

        # The phone is lost: its passkey (the first) is removed, and this session, which it signed in, ends too.
        phone = d.find_elements(By.CSS_SELECTOR, "#passkeys li")[0]
        phone.find_element(By.XPATH, ".//button[text()='Remove']").click()
        WebDriverWait(d, 5).until(expected_conditions.alert_is_present())
        d.switch_to.alert.accept()
        wait_for(d, lambda: status(d).startswith(("Passkey removed", "Refused")))
        assert status(d) == "Passkey removed, and 1 session it had signed in was signed out, this one among them. Sign in with another passkey."
        assert d.find_element(By.ID, "signed-out").is_displayed()
        assert status_of_me(d) == 401
        removed = webhooks.wait_for(lambda e: e["type"] == "portcullis.passkey_removed" and e["data"].get("username") == "gina")
        assert removed["data"]["sessions_ended"] == "1"

        # The remaining passkey signs in, and is the only one left.
        d.find_element(By.ID, "username").clear()
        d.find_element(By.ID, "username").send_keys("gina")
        d.find_element(By.ID, "signin").click()
        wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
        assert status(d) == "Signed in as gina."
        code, me = api_in_page(d, "/api/v1/me")
        assert code == 200 and [p["id"] for p in me["passkeys"]] == [second.rstrip("=")]
    finally:
        d.remove_virtual_authenticator()
        d.delete_all_cookies()


def test_an_invite_link_signs_a_person_up_on_an_invite_only_server(browser):
    origin, process, env = start_server(SIGNUP_MODE="invite-only")
    d = browser
    d.add_virtual_authenticator(platform_authenticator())
    try:
        # Without an invite the page says why sign-up fails.
        d.get(origin + "/")
        wait_for(d, lambda: d.find_element(By.ID, "signup").is_displayed())
        assert not d.find_element(By.ID, "invited").is_displayed()
        d.find_element(By.ID, "username").send_keys("ivy")
        d.find_element(By.ID, "signup").click()
        wait_for(d, lambda: status(d).startswith(("Welcome", "Sign-up failed")))
        assert status(d) == "Sign-up failed: Sign-up needs a valid invite: ask the site's administrator for an invite link."
        # The operator's command prints a link and its expiry; the page takes the invite from the link.
        printed = subprocess.run([BINARY, "invite", "create", "--expires-in", "3600"], env=env, capture_output=True, text=True, timeout=60)
        link, expiry = printed.stdout.splitlines()
        assert link.startswith(origin + "/?invite=") and expiry.startswith("expires 20")
        d.get(link)
        wait_for(d, lambda: d.find_element(By.ID, "invited").is_displayed())
        assert d.current_url == origin + "/"  # the code left the address bar
        d.find_element(By.ID, "username").send_keys("ivy")
        d.find_element(By.ID, "signup").click()
        wait_for(d, lambda: status(d).startswith(("Welcome", "Sign-up failed")))
        assert status(d) == "Welcome, ivy."
        # Then a nudge to add a second passkey elsewhere.
        wait_for(d, lambda: d.find_element(By.ID, "second-passkey").is_displayed())
        # The link is single use (tried from another device, whose autofill holds no passkey).
        d.delete_all_cookies()
        d.remove_virtual_authenticator()
        d.add_virtual_authenticator(platform_authenticator())
        d.get(link)
        wait_for(d, lambda: d.find_element(By.ID, "signup").is_displayed())
        d.find_element(By.ID, "username").send_keys("ivy2")
        d.find_element(By.ID, "signup").click()
        wait_for(d, lambda: status(d).startswith(("Welcome", "Sign-up failed")))
        assert status(d).startswith("Sign-up failed")
    finally:
        d.remove_virtual_authenticator()
        d.delete_all_cookies()
        process.terminate()
        process.wait(timeout=30)


def test_the_account_page_fits_a_phone(browser, server):
    d = browser
    d.add_virtual_authenticator(platform_authenticator())
    d.set_window_size(390, 844)
    try:
        sign_up(d, server, "phone")
        d.find_element(By.ID, "enrol-device").click()  # shows a long link, and its QR code
        wait_for(d, lambda: d.find_element(By.ID, "enrolment").is_displayed())
        link = d.find_element(By.ID, "enrol-link").text
        assert link.startswith(server + "/enrol#")
        wait_for(d, lambda: d.find_elements(By.CSS_SELECTOR, "#enrol-qr svg"))
        assert qr_text(d.find_element(By.ID, "enrol-qr")) == link
        assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    finally:
        d.set_window_size(1000, 800)
        d.remove_virtual_authenticator()
        d.delete_all_cookies()


def test_the_account_page_lists_sessions_apps_and_activity_and_signs_out_elsewhere(passkey_browser, server):
    d = passkey_browser
    sign_up(d, server, "sam")
    # A second session: the person signs in again in this browser (the first stays live on the server,
    # like a session on another device).
    d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const post = (path, body) => fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
        post('/api/v1/login/options', {}).then((r) => r.json())
          .then((o) => navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.publicKey)}))
          .then((c) => post('/api/v1/login/verify', {credential: c.toJSON()})).then(() => done(), (e) => done(String(e)));
    """)
    d.get(server + "/")
    # The account section is shown once every list in it is filled.
    wait_for(d, lambda: d.find_element(By.ID, "signed-in").is_displayed() and len(d.find_elements(By.CSS_SELECTOR, "#sessions li")) == 2)
    sessions = d.find_element(By.ID, "sessions").text
    assert sessions.count("Chrome on Linux " + HERE) == 2 and sessions.count("(this device)") == 1
    assert "Signed in with a passkey just now" in sessions
    assert d.find_element(By.ID, "apps").text == "None yet."
    timeline = d.find_element(By.ID, "timeline").text
    first = timeline.splitlines()[0]
    assert first.startswith("Signed in with a passkey just now (") and first.endswith(") from 127.0.0.1 (Chrome on Linux)."), first
    assert "Account created just now (" in timeline
    # Every action on the page is a form: none is a bare button that only a click reaches.
    assert not d.execute_script("return [...document.querySelectorAll('button')].filter((b) => !b.form).map((b) => b.textContent)")
    # Sign the other one out, from the keyboard: the button takes the focus and Enter sends its form.
    other = [li for li in d.find_elements(By.CSS_SELECTOR, "#sessions li") if "(this device)" not in li.text][0]
    other.find_element(By.TAG_NAME, "button").send_keys(Keys.ENTER)
    wait_for(d, lambda: status(d).startswith(("Signed out there", "Refused")))
    assert status(d) == "Signed out there."
    wait_for(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "#sessions li")) == 1)
    assert "Signed out a session" in d.find_element(By.ID, "timeline").text


def test_recovery_is_set_up_on_the_account_page(passkey_browser, server, webhooks):
    d = passkey_browser
    sign_up(d, server, "rhea-friend")
    d.find_element(By.ID, "signout").click()
    wait_for(d, lambda: status(d).startswith("Signed in"))  # autofill signs the friend back in; sign up someone else
    d.delete_all_cookies()
    d.remove_virtual_authenticator()
    d.add_virtual_authenticator(platform_authenticator())
    sign_up(d, server, "rhea")
    wait_for(d, lambda: d.find_element(By.ID, "rules").text)
    assert "Your recovery code: after 3 seconds." in d.find_element(By.ID, "rules").text
    assert d.find_element(By.ID, "code-state").text == "You have no recovery code yet."
    # A code, shown once, with copy and download; replacing it asks first.
    d.find_element(By.ID, "new-code").click()
    wait_for(d, lambda: d.find_element(By.ID, "recovery-code-box").is_displayed())
    first = d.find_element(By.ID, "recovery-code").text
    assert d.find_element(By.ID, "download-code").get_attribute("href").startswith("blob:")
    wait_for(d, lambda: d.find_element(By.ID, "new-code").text == "Replace the recovery code")
    d.find_element(By.ID, "new-code").click()
    alert = WebDriverWait(d, 5).until(expected_conditions.alert_is_present())
    assert "stops working" in alert.text
    alert.accept()
    wait_for(d, lambda: d.find_element(By.ID, "recovery-code").text != first)
    # A contact, invited then removed (after a confirmation); the threshold; an address added and removed.
    d.find_element(By.ID, "contact").send_keys("rhea-friend\n")  # Enter submits the form
    wait_for(d, lambda: "rhea-friend (invited, not accepted yet)" in d.find_element(By.ID, "contacts").text)
    d.find_element(By.CSS_SELECTOR, "#contacts button").click()
    WebDriverWait(d, 5).until(expected_conditions.alert_is_present()).accept()
    wait_for(d, lambda: d.find_element(By.ID, "contacts").text == "None yet.")
    threshold = d.find_element(By.ID, "threshold")
    threshold.clear()
    threshold.send_keys("2\n")
    wait_for(d, lambda: status(d) == "Saved.")
    d.find_element(By.ID, "address").send_keys("rhea@example.org\n")  # one alone is refused, with the rule
    wait_for(d, lambda: status(d).startswith("Refused"))
    assert status(d) == "Refused: Give 2 to 10 distinct notification addresses (or none)."
    d.find_element(By.ID, "address").send_keys(", rhea@example.net\n")
    wait_for(d, lambda: d.find_element(By.ID, "addresses").text.count("@") == 2)
    assert d.find_element(By.ID, "address").get_attribute("value") == ""
    assert d.find_element(By.ID, "addresses").text.count("(not confirmed yet") == 2
    # Each address gets its own confirmation link; the one opened and confirmed is marked so.
    sent = webhooks.wait_for(lambda e: e["type"] == "portcullis.address_verification_sent" and e["data"].get("address") == "rhea@example.net")
    d.get(sent["data"]["verifyUrl"])
    assert d.find_element(By.TAG_NAME, "h1").text == "Confirm your address"
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(d, lambda: "rhea@example.net is confirmed" in d.find_element(By.TAG_NAME, "body").text)
    d.get(server + "/")
    wait_for(d, lambda: "rhea@example.net (confirmed)" in d.find_element(By.ID, "addresses").text)
    assert "rhea@example.org (not confirmed yet" in d.find_element(By.ID, "addresses").text


def test_a_passkey_is_renamed_and_a_device_code_counts_down_and_can_be_cancelled(passkey_browser, server):
    d = passkey_browser
    sign_up(d, server, "nina")
    wait_for(d, lambda: d.find_elements(By.CSS_SELECTOR, "#passkeys form input"))
    name = d.find_element(By.CSS_SELECTOR, "#passkeys form input")
    name.clear()
    name.send_keys("Work laptop\n")
    wait_for(d, lambda: status(d) in ("Renamed.",) or status(d).startswith("Refused"))
    assert status(d) == "Renamed."
    wait_for(d, lambda: "“Work laptop”" in d.find_element(By.ID, "passkeys").text)
    # Signed out, on a device without the passkey: the code counts down, and Cancel stops the wait.
    d.delete_all_cookies()
    d.remove_virtual_authenticator()
    d.add_virtual_authenticator(platform_authenticator())
    d.get(server + "/")
    wait_for(d, lambda: d.find_element(By.ID, "other-device").is_displayed())
    d.find_element(By.ID, "other-device").click()
    wait_for(d, lambda: d.find_element(By.ID, "device-countdown").text.startswith("Expires in 9:"))
    d.find_element(By.ID, "device-cancel").click()
    wait_for(d, lambda: status(d) == "Cancelled. Nothing was signed in.", timeout=5)
    assert not d.find_element(By.ID, "device-pending").is_displayed()


def ask_from_other_device(o, server, username):
    """On a device without passkeys: type the username, ask to sign in with another device; returns the number it shows."""
    o.delete_all_cookies()
    o.get(server + "/")
    wait_for(o, lambda: o.find_element(By.ID, "other-device").is_displayed())
    o.find_element(By.ID, "username").send_keys(username)
    o.find_element(By.ID, "other-device").click()
    wait_for(o, lambda: o.find_element(By.ID, "device-number-box").is_displayed())
    return o.find_element(By.ID, "device-number").text


def test_a_request_naming_the_account_is_pushed_and_approved_by_picking_its_number(passkey_browser, other_browser, server):
    d, o = passkey_browser, other_browser
    sign_up(d, server, "pia")
    number = ask_from_other_device(o, server, "pia")
    # The asking device also shows a QR code of the approval link, which a phone's camera reads.
    wait_for(o, lambda: o.find_elements(By.CSS_SELECTOR, "#device-qr svg"))
    user_code = o.find_element(By.ID, "user-code").text
    assert qr_text(o.find_element(By.ID, "device-qr")) == server + "/device?user_code=" + user_code
    # The signed-in page shows the request within seconds, with three numbers to pick from.
    wait_for(d, lambda: d.find_elements(By.CSS_SELECTOR, "#device-requests .device-request"), timeout=10)
    request = d.find_element(By.CSS_SELECTOR, "#device-requests .device-request")
    assert "asks to sign in as you" in request.text and HERE in request.text
    choices = [b for b in request.find_elements(By.TAG_NAME, "button") if b.text.isdigit()]
    assert len(choices) == 3 and number in [b.text for b in choices]
    next(b for b in choices if b.text == number).click()  # confirmed with the passkey, then approved
    wait_for(d, lambda: status(d).startswith(("Approved", "Refused")))
    assert status(d) == "Approved: the other device is signed in."
    wait_for(o, lambda: status(o).startswith(("Signed in", "Not signed in")), timeout=20)
    assert status(o) == "Signed in as pia, approved from another device."
    wait_for(d, lambda: not d.find_elements(By.CSS_SELECTOR, "#device-requests .device-request"))


def test_picking_the_wrong_number_denies_the_request(passkey_browser, other_browser, server):
    d, o = passkey_browser, other_browser
    sign_up(d, server, "quin")
    number = ask_from_other_device(o, server, "quin")
    wait_for(d, lambda: d.find_elements(By.CSS_SELECTOR, "#device-requests .device-request"), timeout=10)
    request = d.find_element(By.CSS_SELECTOR, "#device-requests .device-request")
    next(b for b in request.find_elements(By.TAG_NAME, "button") if b.text.isdigit() and b.text != number).click()
    wait_for(d, lambda: status(d).startswith(("Approved", "Refused")))
    assert status(d).startswith("Refused: That is not the number the other device shows")
    wait_for(o, lambda: status(o).startswith(("Signed in", "Not signed in")), timeout=20)
    assert status(o) == "Not signed in: The request was denied."
    assert api_in_page(o, "/api/v1/me")[0] == 401


def test_a_request_for_an_unknown_username_is_shown_to_no_one_and_looks_the_same(passkey_browser, other_browser, server):
    d, o = passkey_browser, other_browser
    sign_up(d, server, "ruth")
    number = ask_from_other_device(o, server, "nobody-by-this-name")
    assert number.isdigit() and 10 <= int(number) <= 99
    o.find_element(By.ID, "device-cancel").click()
    time.sleep(4)  # longer than the signed-in page's look for requests
    assert not d.find_elements(By.CSS_SELECTOR, "#device-requests .device-request")


def test_a_browser_without_the_webauthn_json_methods_signs_up_and_in(passkey_browser, server):
    """Browsers that predate WebAuthn Level 3's JSON methods: the page converts options and credentials itself."""
    d = passkey_browser
    removal = d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "delete PublicKeyCredential.parseCreationOptionsFromJSON; delete PublicKeyCredential.parseRequestOptionsFromJSON;"
        "delete PublicKeyCredential.prototype.toJSON;")})
    try:
        d.get(server + "/")
        assert d.execute_script("return typeof PublicKeyCredential.parseCreationOptionsFromJSON + typeof PublicKeyCredential.prototype.toJSON") \
            == "undefinedundefined"
        sign_up(d, server, "olga")
        # Adding a passkey on the same authenticator: the converted excludeCredentials names the one it
        # holds, so the browser refuses (InvalidStateError) and the page says so in words.
        d.find_element(By.ID, "add-passkey").click()
        wait_for(d, lambda: status(d).startswith(("Passkey added", "Refused")))
        assert status(d) == "Refused: This device already holds a passkey for this account. Sign in with it, or add one from another device or security key."
        d.find_element(By.ID, "signout").click()
        wait_for(d, lambda: d.find_element(By.ID, "signin").is_displayed() or status(d).startswith("Signed in"))
        if not status(d).startswith("Signed in"):
            d.find_element(By.ID, "username").send_keys("olga")
            d.find_element(By.ID, "signin").click()
        wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
        assert status(d) == "Signed in as olga."
    finally:
        d.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": removal["identifier"]})


SIGNAL_RECORDER = (
    "window.__signals = [];"
    "for (const name of ['signalUnknownCredential', 'signalAllAcceptedCredentials', 'signalCurrentUserDetails']) {"
    "  PublicKeyCredential[name] = (options) => { window.__signals.push([name, options]); return Promise.resolve(); };"
    "}")


def test_the_account_page_tells_the_passkey_provider_what_is_current(passkey_browser, server):
    """The signal methods, recorded where the page calls them: the passkeys that still work and today's names."""
    d = passkey_browser
    removal = d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SIGNAL_RECORDER})
    try:
        sign_up(d, server, "sigrid")
        wait_for(d, lambda: {"signalAllAcceptedCredentials", "signalCurrentUserDetails"} <= {n for n, _ in d.execute_script("return window.__signals")})
        signals = {name: options for name, options in d.execute_script("return window.__signals")}
        accepted, current = signals["signalAllAcceptedCredentials"], signals["signalCurrentUserDetails"]
        assert accepted["allAcceptedCredentialIds"] == [d.get_credentials()[0].id.rstrip("=")]
        assert current == {"rpId": "localhost", "userId": accepted["userId"], "name": "sigrid", "displayName": "sigrid"}
        assert current["userId"] == d.get_credentials()[0].user_handle.rstrip("=")  # the handle the passkey was made for
    finally:
        d.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": removal["identifier"]})


def test_a_contact_who_was_not_asked_declines_and_the_request_ends(passkey_browser, other_browser, server, webhooks):
    d, o = passkey_browser, other_browser
    sign_up(d, server, "tess-friend")
    o.add_virtual_authenticator(platform_authenticator())
    try:
        # Tess chooses her friend as a recovery contact; the friend accepts on the account page.
        o.delete_all_cookies()
        sign_up(o, server, "tess")
        o.find_element(By.ID, "contact").send_keys("tess-friend\n")
        wait_for(o, lambda: "tess-friend (invited, not accepted yet)" in o.find_element(By.ID, "contacts").text)
        d.get(server + "/")
        wait_for(d, lambda: d.find_elements(By.CSS_SELECTOR, "#invitations button"))
        d.find_element(By.CSS_SELECTOR, "#invitations button").click()
        wait_for(d, lambda: status(d) in ("You are now a recovery contact.",) or status(d).startswith("Refused"))
        assert status(d) == "You are now a recovery contact."
        # Someone else asks to recover Tess's account; the friend was never asked by Tess, and declines.
        code, _, _ = post_json(server + "/api/v1/recovery", {"username": "tess"}, origin=server)
        assert code == 201
        d.get(server + "/")
        wait_for(d, lambda: "tess asked to recover their account" in d.find_element(By.ID, "requests").text)
        decline = next(b for b in d.find_elements(By.CSS_SELECTOR, "#requests button") if b.text.startswith("Decline"))
        decline.click()
        WebDriverWait(d, 5).until(expected_conditions.alert_is_present()).accept()
        wait_for(d, lambda: status(d).startswith(("Declined", "Refused")))
        assert status(d) == "Declined. The requests are cancelled and tess is told."
        cancelled = webhooks.wait_for(lambda e: e["type"] == "portcullis.recovery_cancelled" and e["data"].get("by") == "contact")
        assert cancelled["data"]["contact"] == "tess-friend"
        wait_for(d, lambda: "tess asked" not in d.find_element(By.ID, "requests").text)
        # Tess's own page: no open case, and the timeline says a request was cancelled.
        status_code, me = api_in_page(o, "/api/v1/me")
        assert status_code == 200 and me["openRecoveryCases"] == []
    finally:
        o.remove_virtual_authenticator()
        o.delete_all_cookies()


def test_an_admin_finds_disables_and_registers_from_the_admin_page(passkey_browser, other_browser, server):
    d, o = passkey_browser, other_browser
    o.add_virtual_authenticator(platform_authenticator())
    try:
        o.delete_all_cookies()
        sign_up(o, server, "vic")
        # Someone who is not an admin sees what the page is for, and nothing else.
        o.get(server + "/admin")
        wait_for(o, lambda: o.find_element(By.ID, "not-admin").is_displayed())
        assert not o.find_element(By.ID, "admin").is_displayed()

        sign_up(d, server, "root")
        subprocess.run([BINARY, "admin", "grant", "root"], env=SERVER_ENV, check=True, capture_output=True)
        d.find_element(By.ID, "signout").click()  # a new session reads the new role; autofill signs root back in
        wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")))
        d.get(server + "/admin")
        wait_for(d, lambda: d.find_element(By.ID, "admin").is_displayed())

        # Find vic (Enter searches), look, and disable: the page asks for the passkey, and vic is signed out.
        d.find_element(By.ID, "user-query").send_keys("vi\n")
        wait_for(d, lambda: d.find_element(By.ID, "users").text.startswith("vic"))
        assert "root" not in d.find_element(By.ID, "users").text
        d.find_element(By.CSS_SELECTOR, "#users button").click()
        wait_for(d, lambda: d.find_element(By.ID, "user-details").is_displayed())
        assert d.find_element(By.ID, "user-name").text == "vic"
        assert "Active." in d.find_element(By.ID, "user-state").text
        d.find_element(By.ID, "user-toggle").click()
        wait_for(d, lambda: status(d).startswith(("vic is", "Refused")))
        assert status(d) == "vic is disabled and signed out everywhere."
        assert api_in_page(o, "/api/v1/me")[0] == 401
        wait_for(d, lambda: "vic disabled by root" in d.find_element(By.ID, "audit").text)

        # Register an app: its secret is shown once, and it is listed.
        d.find_element(By.ID, "client-name").send_keys("Wiki")
        d.find_element(By.ID, "client-redirects").send_keys("https://wiki.example/callback")
        d.find_element(By.CSS_SELECTOR, "#client-form button[type=submit]").click()
        wait_for(d, lambda: d.find_element(By.ID, "client-secret-box").is_displayed() or status(d).startswith("Refused"))
        assert d.find_element(By.ID, "client-secret-for").text == "Wiki"
        assert len(d.find_element(By.ID, "client-secret").text) >= 32
        wait_for(d, lambda: "Wiki (" in d.find_element(By.ID, "clients").text)
        assert "https://wiki.example/callback" in d.find_element(By.ID, "clients").text
        # Every action on the admin page is a form, reached from the keyboard like the rest.
        assert not d.execute_script("return [...document.querySelectorAll('button')].filter((b) => !b.form).map((b) => b.textContent)")
    finally:
        o.remove_virtual_authenticator()
        o.delete_all_cookies()


# Where the pages' screenshots are saved, one per page and width (an artefact of the run).
SCREENSHOTS = os.path.join(ROOT, "test-artifacts", "pages")
# axe-core 4.12 as PyPI's axe-playwright-python ships it (installed without Playwright: only its script is used).
AXE = os.path.join(os.path.dirname(__import__("importlib.util").util.find_spec("axe_playwright_python").origin), "axe.min.js")


def check_page(d, name, ready):
    """At 1280 and 390 px wide: the page is ready, axe-core (from PyPI, nobody here wrote it) finds no
    serious or critical violation, nothing is wider than the window, and a screenshot is saved."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    with open(AXE, encoding="utf-8") as file:
        axe = file.read()
    problems = []
    for width in (1280, 390):
        d.set_window_size(width, 900)
        wait_for(d, ready)
        d.execute_script(axe)
        results = d.execute_async_script("const done = arguments[arguments.length - 1]; axe.run(document).then(done, (e) => done({error: String(e)}));")
        assert "error" not in results, results
        for violation in results["violations"]:
            if violation["impact"] in ("serious", "critical"):
                problems.append(f"{name} at {width}px: {violation['id']} ({violation['impact']}): {violation['help']}: "
                                + "; ".join(node["html"][:120] for node in violation["nodes"][:3]))
        overflow = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{name} at {width}px is {overflow}px wider than the window")
        d.save_screenshot(os.path.join(SCREENSHOTS, f"{name}-{width}.png"))
    return problems


def test_every_page_is_accessible_and_fits_at_1280_and_390_pixels(passkey_browser, server, webhooks):
    d = passkey_browser
    problems = []
    try:
        d.get(server + "/")
        problems += check_page(d, "sign-in", lambda: d.find_element(By.ID, "signup").is_displayed())
        sign_up(d, server, "axel")
        subprocess.run([BINARY, "admin", "grant", "axel"], env=SERVER_ENV, check=True, capture_output=True)
        d.get(server + "/")
        problems += check_page(d, "account", lambda: d.find_element(By.ID, "signout").is_displayed()
                               and d.find_elements(By.CSS_SELECTOR, "#sessions li"))
        d.get(server + "/device")
        problems += check_page(d, "device", lambda: d.find_element(By.ID, "device-code").is_displayed())
        # New-device enrolment: the account page's panel with its QR code, and the page the link opens.
        d.get(server + "/")
        wait_for(d, lambda: d.find_element(By.ID, "enrol-device").is_displayed())
        d.find_element(By.ID, "enrol-device").click()
        wait_for(d, lambda: d.find_elements(By.CSS_SELECTOR, "#enrol-qr svg"))
        problems += check_page(d, "account-enrolment", lambda: d.find_element(By.ID, "enrolment").is_displayed())
        d.get(d.find_element(By.ID, "enrol-link").text)
        problems += check_page(d, "enrol", lambda: d.find_element(By.ID, "confirm-code").text)
        d.get(server + "/admin")
        problems += check_page(d, "admin", lambda: d.find_element(By.ID, "admin").is_displayed() or status(d).startswith("Sign"))
        # The OpenID Connect pages, for a third-party app: consent (signed in), then sign-in and sign-out.
        created = subprocess.run([BINARY, "client", "create", "--name", "Photo Album", "--redirect-uri", "https://album.example/cb",
                                  "--third-party"], env=SERVER_ENV, check=True, capture_output=True, text=True)
        client_id = json.loads(created.stdout)["client_id"]
        authorize = server + "/oauth2/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": "https://album.example/cb", "scope": "openid profile",
            "state": "s1", "nonce": "n1", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
        d.get(authorize)
        problems += check_page(d, "app-consent", lambda: d.find_element(By.ID, "consent-allow").is_displayed())
        d.get(server + "/oauth2/logout")
        problems += check_page(d, "app-sign-out", lambda: d.find_element(By.TAG_NAME, "h1").text.startswith("Sign out of"))
        d.get(server + "/addresses/verify?user=00000000-0000-0000-0000-000000000000&address=a%40example.org&expires=1000&sig=AAAA")
        problems += check_page(d, "address-confirm", lambda: d.find_element(By.TAG_NAME, "h1").text == "Confirm your address")
        d.get(server + "/oauth2/logout")
        wait_for(d, lambda: d.find_element(By.ID, "logout-confirm").is_displayed())
        d.find_element(By.ID, "logout-confirm").click()
        problems += check_page(d, "app-signed-out", lambda: d.find_element(By.ID, "signed-out").is_displayed())
        d.delete_all_cookies()
        d.get(authorize)
        problems += check_page(d, "app-sign-in", lambda: d.find_element(By.TAG_NAME, "h1").text == "Sign in to Photo Album")
        d.execute_script("sessionStorage.clear()")  # an earlier test's recovery case would be shown instead of the start
        d.get(server + "/recover")
        problems += check_page(d, "recover", lambda: d.find_element(By.ID, "recover-username").is_displayed())
        # A case under way, and the "this wasn't me" page its notification links to.
        d.find_element(By.ID, "recover-username").send_keys("axel\n")
        wait_for(d, lambda: d.find_element(By.ID, "recover-case").is_displayed())
        problems += check_page(d, "recovery-case", lambda: d.find_element(By.ID, "comparison-code").text)
        case_id = d.execute_script("return sessionStorage.getItem('recovery-case')")
        notice = webhooks.wait_for(lambda e: e["type"] == "portcullis.recovery_started" and e["data"].get("case") == case_id)
        d.get(notice["data"]["cancelUrl"])
        problems += check_page(d, "this-wasnt-me", lambda: d.find_element(By.CSS_SELECTOR, "form button[type=submit]").is_displayed())
        d.execute_script("sessionStorage.clear()")
        d.get(server + "/no/such/page")
        problems += check_page(d, "not-found", lambda: "404" in d.title or d.find_element(By.TAG_NAME, "h1").is_displayed())
        d.get(server + "/recovery/cancel?case=00000000-0000-0000-0000-000000000000&sig=AAAA")
        problems += check_page(d, "cancel-link-bad", lambda: d.find_element(By.TAG_NAME, "h1").is_displayed())
        d.get(server + "/oauth2/authorize?client_id=nobody&response_type=code")
        problems += check_page(d, "app-error", lambda: d.find_element(By.TAG_NAME, "h1").is_displayed())
    finally:
        d.set_window_size(1000, 800)
    assert not problems, "\n".join(problems)


def accept_invitation(d, server, owner):
    d.get(server + "/")
    wait_for(d, lambda: owner in d.find_element(By.ID, "invitations").text)
    d.find_element(By.CSS_SELECTOR, "#invitations button").click()
    wait_for(d, lambda: status(d) == "You are now a recovery contact." or status(d).startswith("Refused"))
    assert status(d) == "You are now a recovery contact."


def approve_as_contact(d, server, owner, comparison_code):
    """A contact's account page shows the request; they type the code the owner reads them and press Enter."""
    d.get(server + "/")
    wait_for(d, lambda: f"{owner} asked to recover their account" in d.find_element(By.ID, "requests").text)
    d.find_element(By.CSS_SELECTOR, "#requests input").send_keys(comparison_code + "\n")
    wait_for(d, lambda: status(d) == "Approved." or status(d).startswith("Refused"))
    assert status(d) == "Approved."


def start_recovery(d, server, username):
    d.get(server + "/recover")
    d.execute_script("sessionStorage.clear()")
    d.get(server + "/recover")
    wait_for(d, lambda: d.find_element(By.ID, "recover-username").is_displayed())
    d.find_element(By.ID, "recover-username").send_keys(username + "\n")
    wait_for(d, lambda: d.find_element(By.ID, "recover-case").is_displayed())
    return d.find_element(By.ID, "comparison-code").text


def finish_recovery(d, username):
    wait_for(d, lambda: d.find_element(By.ID, "new-passkey").is_displayed(), timeout=20)
    d.find_element(By.ID, "new-passkey").click()
    wait_for(d, lambda: status(d).startswith(("Recovered", "Recovery failed")))
    assert status(d).startswith(f"Recovered. Welcome back, {username}.")
    wait_for(d, lambda: d.find_element(By.ID, "signed-in").is_displayed())
    assert d.find_element(By.ID, "who").text == username


def test_two_contacts_and_then_two_admins_recover_accounts_in_three_browsers(browser, other_browser):
    """Three browser profiles, as three people: an owner whose device is lost, and two recovery contacts
    who approve on their own account pages with their passkeys; then the same two, made admins,
    release another account (one on the admin page, one with `portcullis admin enrol`)."""
    origin, process, env = start_server(RECOVERY_RULES="contacts:3s, code:72h, admins:0")
    d, o = browser, other_browser
    t = new_chromium()
    people = [d, o, t]
    try:
        for person in people:
            person.delete_all_cookies()
            person.add_virtual_authenticator(platform_authenticator())
        sign_up(o, origin, "pat")
        sign_up(t, origin, "quinn")
        sign_up(d, origin, "olga")
        for contact in ("pat", "quinn"):
            d.find_element(By.ID, "contact").send_keys(contact + "\n")
            wait_for(d, lambda: f"{contact} (invited" in d.find_element(By.ID, "contacts").text or status(d).startswith("Refused"))
            assert f"{contact} (invited" in d.find_element(By.ID, "contacts").text, status(d)
        accept_invitation(o, origin, "olga")
        accept_invitation(t, origin, "olga")
        d.get(origin + "/")
        wait_for(d, lambda: d.find_element(By.ID, "contacts").text.count("accepted") == 2)
        threshold = d.find_element(By.ID, "threshold")
        threshold.clear()
        threshold.send_keys("2\n")
        wait_for(d, lambda: status(d) == "Saved.")

        # Olga's phone is lost; on a new one she asks to recover, and reads the code to each contact.
        d.remove_virtual_authenticator()
        d.delete_all_cookies()
        d.add_virtual_authenticator(platform_authenticator())
        code = start_recovery(d, origin, "olga")
        approve_as_contact(o, origin, "olga", code)
        assert not d.find_element(By.ID, "new-passkey").is_displayed(), "one contact of two released the case"
        approve_as_contact(t, origin, "olga", code)
        finish_recovery(d, "olga")

        # Pat and Quinn become admins; Rolf's device is lost and he has set up nothing.
        for admin in ("pat", "quinn"):
            subprocess.run([BINARY, "admin", "grant", admin], env=env, check=True, capture_output=True)
        for person in (o, t):
            person.delete_all_cookies()  # a new session reads the new role
        d.remove_virtual_authenticator()
        d.delete_all_cookies()
        d.add_virtual_authenticator(platform_authenticator())
        sign_up(d, origin, "rolf")
        d.remove_virtual_authenticator()
        d.delete_all_cookies()
        d.add_virtual_authenticator(platform_authenticator())
        code = start_recovery(d, origin, "rolf")
        # Pat approves on the admin page (after signing in with his passkey through autofill).
        o.get(origin + "/")
        wait_for(o, lambda: o.find_element(By.ID, "signout").is_displayed())
        o.get(origin + "/admin")
        wait_for(o, lambda: o.find_element(By.ID, "admin").is_displayed())
        o.find_element(By.ID, "case-username").send_keys("rolf\n")
        wait_for(o, lambda: o.find_elements(By.CSS_SELECTOR, "#cases input"))
        o.find_element(By.CSS_SELECTOR, "#cases input").send_keys(code + "\n")
        wait_for(o, lambda: status(o) == "Approved." or status(o).startswith("Refused"))
        assert status(o) == "Approved."
        assert not d.find_element(By.ID, "new-passkey").is_displayed(), "one admin of two released the case"
        # Quinn gives the second proof from the operator's command line.
        enrol = subprocess.run([BINARY, "admin", "enrol", "rolf", "--admin", "quinn", "--comparison-code", code],
                               env=env, capture_output=True, text=True)
        assert enrol.returncode == 0, enrol.stderr
        finish_recovery(d, "rolf")
    finally:
        for person in people:
            try:
                person.remove_virtual_authenticator()
            except WebDriverException:
                pass
            person.delete_all_cookies()
        t.quit()
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_an_expired_link_says_so_in_the_products_look(browser, server):
    d = browser
    # A confirmation link whose time is up (its signature no longer matters): the page opens, and
    # confirming says what happened and what to do, as a page, not JSON.
    d.get(server + "/addresses/verify?user=00000000-0000-0000-0000-000000000000&address=a%40example.org&expires=1000&sig=AAAA")
    wait_for(d, lambda: d.find_element(By.TAG_NAME, "h1").text == "Confirm your address")
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(d, lambda: d.find_element(By.TAG_NAME, "h1").text == "This link does not work")
    body = d.find_element(By.TAG_NAME, "body").text
    assert "it has expired, it was already used, or it is not complete" in body and "ask for a new one" in body
    assert "{" not in body and "http" not in body


def test_a_failed_user_verification_is_told_in_words(browser, server):
    """An authenticator that cannot verify the person (no PIN or biometric matched): the sign-in fails
    with words and a next step, and no session is made."""
    d = browser
    d.add_virtual_authenticator(platform_authenticator())
    try:
        sign_up(d, server, "uma")
        credentials = d.get_credentials()
    finally:
        d.remove_virtual_authenticator()
        d.delete_all_cookies()
    failing = VirtualAuthenticatorOptions(protocol="ctap2", transport="internal", has_resident_key=True,
                                          has_user_verification=True, is_user_consenting=True, is_user_verified=False)
    d.add_virtual_authenticator(failing)
    try:
        for credential in credentials:
            d.add_credential(credential)
        d.get(server + "/")
        wait_for(d, lambda: d.find_element(By.ID, "signin").is_displayed())
        d.find_element(By.ID, "signin").click()
        wait_for(d, lambda: status(d).startswith(("Signed in", "Sign-in failed")), timeout=90)
        assert status(d).startswith("Sign-in failed: ") and "http" not in status(d) and "Error" not in status(d)
        assert api_in_page(d, "/api/v1/me")[0] == 401
    finally:
        d.remove_virtual_authenticator()
        d.delete_all_cookies()


def test_the_owner_cancels_a_recovery_request_from_the_account_page(passkey_browser, server, webhooks):
    d = passkey_browser
    sign_up(d, server, "vera")
    # Someone, somewhere else, asks to recover Vera's account.
    code, case, _ = post_json(server + "/api/v1/recovery", {"username": "vera"}, origin=server)
    assert code == 201
    d.get(server + "/")
    wait_for(d, lambda: "Someone asked to recover this account just now" in d.find_element(By.ID, "alerts").text)
    # Keyboard only: the button takes the focus and Enter sends its form.
    d.find_element(By.CSS_SELECTOR, "#alerts button").send_keys(Keys.ENTER)
    wait_for(d, lambda: status(d).startswith(("The recovery request is cancelled", "Cancel failed")))
    assert status(d) == "The recovery request is cancelled."
    wait_for(d, lambda: "Someone asked" not in d.find_element(By.ID, "alerts").text)
    cancelled = webhooks.wait_for(lambda e: e["type"] == "portcullis.recovery_cancelled" and e["data"].get("case") == case["id"])
    assert cancelled["data"]["by"] == "passkey", cancelled  # cancelled by a session of the owner's passkey
