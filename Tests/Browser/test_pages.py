"""The page for people, in a real headless Chromium with its virtual authenticator, against a real
`portcullis serve` (the debug build) on an embedded SQLite file."""
import os, socket, subprocess, tempfile, time, urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
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
    env = dict(os.environ, HTTP_PORT=str(port), RP_ORIGINS=origin, DATABASE_URL=f"sqlite:{directory}/portcullis.sqlite")
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


@pytest.fixture
def passkey_browser(browser):
    browser.add_virtual_authenticator(VirtualAuthenticatorOptions(
        protocol="ctap2", transport="internal", has_resident_key=True,
        has_user_verification=True, is_user_consenting=True, is_user_verified=True))
    yield browser
    browser.remove_virtual_authenticator()
    browser.delete_all_cookies()


def status(driver):
    try:
        return driver.find_element(By.ID, "status").text
    except (StaleElementReferenceException, NoSuchElementException):
        return ""  # the page is reloading


def wait_for(driver, predicate, timeout=15):
    WebDriverWait(driver, timeout, poll_frequency=0.02,
                  ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(lambda _: predicate())


def test_sign_up_then_autofill_and_modal_sign_in(passkey_browser, server):
    d = passkey_browser
    d.get(server + "/")
    d.find_element(By.ID, "username").send_keys("alice")
    d.find_element(By.ID, "signup").click()
    wait_for(d, lambda: status(d).startswith(("Welcome", "Sign-up failed")))
    assert status(d) == "Welcome, alice."
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
