"""Faults under load, on the throwaway PostgreSQL cluster the test command starts: a node killed with
SIGKILL while people sign up and in (the other node goes on, clients retry there, and no
acknowledged sign-up is lost), and the database stopped and started again under a node that is not
restarted (it reports not-ready with a clear error meanwhile, then serves again)."""
import os, signal, subprocess, threading, time

import pytest
import requests

from conftest import Server, new_postgres_database, two_nodes
from softauthn import Browser


class Balanced(Browser):
    """A person's browser on the public origin, whose requests the load balancer sends to `base`."""

    def __init__(self, origin, base):
        super().__init__(origin)
        self.base = base

    def api(self, path, body):
        response = self.http.post(self.base + path, json=body, timeout=10)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return response.json()


def users_in(url):
    return set(subprocess.run(["psql", url, "-At", "-c", "SELECT username FROM users"], check=True, capture_output=True,
                              text=True).stdout.split())


def test_a_node_killed_under_load_loses_no_acknowledged_sign_up():
    url = new_postgres_database("faults")
    a, b = two_nodes(url)
    origin = a.origin
    nodes = [f"http://localhost:{a.port}", f"http://localhost:{b.port}"]
    acknowledged, failures, retried = [], [], []
    lock = threading.Lock()
    running = threading.Event()
    running.set()

    def on_some_node(first, step):
        """`step(base)` on node `first`, or, when that node does not answer, on the other (the client retries)."""
        try:
            return step(nodes[first % 2])
        except requests.ConnectionError:
            with lock:
                retried.append(first)
            return step(nodes[(first + 1) % 2])

    def person(worker):
        n = 0
        while running.is_set():
            n += 1
            username = f"k{worker}n{n}"
            try:
                passkey = on_some_node(n + worker, lambda base: Balanced(origin, base).sign_up(username))
                with lock:
                    acknowledged.append((username, passkey))
                on_some_node(n + worker + 1, lambda base: Balanced(origin, base).sign_in(passkey))
            except (AssertionError, requests.RequestException) as error:
                # A sign-up whose first try reached the database before its node died finds the name
                # taken on the retry: the client was never told it succeeded, and nothing is lost.
                if "username_taken" in str(error):
                    continue
                with lock:
                    failures.append(repr(error)[:300])
                return

    workers = [threading.Thread(target=person, args=(w,)) for w in range(4)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(3)
        before = len(acknowledged)
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(timeout=10)
        time.sleep(3)
    finally:
        running.clear()
        for worker in workers:
            worker.join(timeout=60)
    try:
        assert not failures, failures
        assert before >= 10 and len(acknowledged) > before + 10, (before, len(acknowledged))
        assert retried, "no request met the killed node"
        # Every acknowledged sign-up is stored, and its passkey signs in on the node that is left.
        assert {username for username, _ in acknowledged} <= users_in(url)
        for username, passkey in acknowledged[:: max(1, len(acknowledged) // 40)]:
            person = Balanced(origin, nodes[1])
            person.sign_in(passkey)
            assert person.http.get(nodes[1] + "/api/v1/me", timeout=10).json()["user"]["username"] == username
    finally:
        a.log.close()
        b.stop()


def cluster(action):
    """Stops (`pause`) or starts (`resume`) the throwaway cluster's server, on its own port and options."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts", "postgres-throwaway")
    subprocess.run([script, action, os.environ["PG_THROWAWAY_DIR"]], check=True, capture_output=True)


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(what)


def status_of(url):
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return None


def test_the_database_restarted_under_a_node_that_keeps_running():
    assert os.environ.get("PG_THROWAWAY_DIR"), "the test command exports the throwaway cluster's directory"
    url = new_postgres_database("faults")
    node = Server(url)
    base = f"http://localhost:{node.port}"
    try:
        people = [(f"r{n}", Balanced(node.origin, base).sign_up(f"r{n}")) for n in range(5)]
        pid = node.process.pid
        cluster("pause")
        try:
            # Not ready while the database is away, and a sign-in fails with a clear, typed answer.
            wait_until(lambda: status_of(base + "/readyz") == 503, 10, "the node never reported not-ready")
            started = time.time()
            assert status_of(base + "/readyz") == 503 and time.time() - started < 3, "the readiness probe hung"
            refused = requests.post(base + "/api/v1/login/options", json={}, headers={"Origin": node.origin}, timeout=30)
            assert refused.status_code == 503, (refused.status_code, refused.text)
            assert refused.headers["Content-Type"].startswith("application/problem+json")
            body = refused.json()
            assert body["code"] == "unavailable" and "PSQL" not in refused.text and "connection" not in body["title"].lower()
        finally:
            cluster("resume")
        # The same process reconnects and serves again; what was stored before is all there.
        # The pool retries with a growing backoff (at most a minute), so the node is back within one.
        wait_until(lambda: status_of(base + "/readyz") == 200, 75, "the node did not become ready again")
        assert node.process.poll() is None and node.process.pid == pid
        for username, passkey in people:
            person = Balanced(node.origin, base)
            person.sign_in(passkey)
            assert person.http.get(base + "/api/v1/me", timeout=10).json()["user"]["username"] == username
        Balanced(node.origin, base).sign_up("after-restart")
    finally:
        node.stop()
