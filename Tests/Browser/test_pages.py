"""The page for people, in a real headless Chromium with its virtual authenticator, against a real
`portcullis serve` (the debug build) on an embedded SQLite file."""
import json, os, socket, subprocess, tempfile, time, urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "debug", "portcullis")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    port = free_port()
    directory = tempfile.mkdtemp(prefix="portcullis-browser-")
    origin = f"http://localhost:{port}"
    # The recovery code alone opens a case after 3 seconds here (72 hours by default), so a browser can finish one.
    env = dict(os.environ, HTTP_PORT=str(port), RP_ORIGINS=origin, DATABASE_URL=f"sqlite:{directory}/portcullis.sqlite",
               RECOVERY_RULES="contacts:24h, code:3s, contact+code:1h, admins:0")
    process = subprocess.Popen([BINARY, "serve"], env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("portcullis serve did not become ready")
    yield origin
    process.terminate()
    assert process.wait(timeout=30) == 0, "SIGTERM should stop the server cleanly"


@pytest.fixture(scope="session")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1000,800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


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


def test_the_page_sends_a_strict_content_security_policy(server):
    response = urllib.request.urlopen(server.replace("localhost", "127.0.0.1") + "/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"


def post_json(url, body, cookie=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **({"Cookie": cookie} if cookie else {})})
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


def test_a_device_without_passkeys_is_approved_from_the_device_page(passkey_browser, server):
    d = passkey_browser
    sign_up(d, server, "dora")
    # The device without passkeys (no browser, no cookie) starts a request.
    code, started, _ = post_json(server + "/api/v1/device/start", {})
    assert code == 200
    d.get(started["verification_uri_complete"])
    assert d.find_element(By.ID, "device-code").get_attribute("value") == started["user_code"]
    d.find_element(By.ID, "lookup").click()  # confirms with the passkey first, then shows the device
    wait_for(d, lambda: d.find_element(By.ID, "device-details").is_displayed() or status(d))
    assert "asked at" in d.find_element(By.ID, "device-info").text
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
        d.find_element(By.ID, "recover-username").send_keys("rita")
        d.find_element(By.ID, "recover-begin").click()
        wait_for(d, lambda: d.find_element(By.ID, "recover-case").is_displayed())
        assert len(d.find_element(By.ID, "comparison-code").text) == 6
        assert d.find_element(By.ID, "new-passkey").is_displayed() is False
        d.find_element(By.ID, "recovery-code-input").send_keys(recovery_code.lower())
        d.find_element(By.ID, "enter-code").click()
        wait_for(d, lambda: status(d).startswith(("Recovery code accepted", "That recovery code")))
        assert status(d) == "Recovery code accepted."
        # Released only after the waiting period; then the only thing to do is create a new passkey.
        wait_for(d, lambda: d.find_element(By.ID, "new-passkey").is_displayed(), timeout=20)
        d.find_element(By.ID, "new-passkey").click()
        wait_for(d, lambda: status(d).startswith(("Recovered", "Recovery failed")))
        assert status(d).startswith("Recovered. Welcome back, rita.")
        wait_for(d, lambda: d.find_element(By.ID, "signed-in").is_displayed())
        assert "recovered" in d.find_element(By.ID, "birth").text
        assert len(d.get_credentials()) == 1
        # The recovered session cannot change the account during its cooling period.
        d.find_element(By.ID, "new-code").click()
        wait_for(d, lambda: status(d).startswith(("Refused", "Write")))
        assert status(d) == "Refused: This session may not do that."
    finally:
        d.remove_virtual_authenticator()
        d.delete_all_cookies()
