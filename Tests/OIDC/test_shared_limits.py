"""Rate limits on two nodes that share one PostgreSQL database (the throwaway cluster the test command
starts): the nodes count together, so two nodes allow the configured rate for an address or an
account, not twice it. Requests alternate between the nodes, as a load balancer sends them."""
import time

import requests

from conftest import new_postgres_database, two_nodes

IP_LIMIT, ACCOUNT_LIMIT = 10, 4


def fresh_window(least=20):
    """Waits, when needed, until at least `least` seconds of the current minute remain: limits count
    in windows aligned to whole minutes, and the test's requests must all fall in one."""
    left = 60 - time.time() % 60
    if left < least:
        time.sleep(left + 0.5)


def test_two_nodes_allow_the_configured_rate_not_twice_it():
    limits = {"RATELIMIT_IP_PER_MINUTE": str(IP_LIMIT), "RATELIMIT_ACCOUNT_PER_MINUTE": str(ACCOUNT_LIMIT),
              "HTTP_TRUST_FORWARDED_FOR": "true"}
    nodes = two_nodes(new_postgres_database("limits"), limits)
    origin = nodes[0].origin
    http = requests.Session()
    http.headers["Origin"] = origin

    def ask(i, address, username=None):
        """Sign-in options from `address`, on node i % 2."""
        body = {"username": username} if username else {}
        return http.post(f"http://localhost:{nodes[i % 2].port}/api/v1/login/options", json=body,
                         headers={"X-Forwarded-For": address}, timeout=10)

    try:
        fresh_window()
        # One address: the limit holds across both nodes, and the refusals come from both.
        answers = [ask(i, "198.51.100.7") for i in range(3 * IP_LIMIT)]
        statuses = [a.status_code for a in answers]
        assert statuses == [200] * IP_LIMIT + [429] * (2 * IP_LIMIT), statuses
        for a in answers[IP_LIMIT:]:
            assert a.json()["code"] == "rate_limited"
            assert 1 <= int(a.headers["Retry-After"]) <= 60
        # Another address is counted on its own.
        assert ask(0, "198.51.100.8").status_code == 200

        # One account asked about from many addresses (a spread-out guesser), across both nodes.
        statuses = [ask(i, f"203.0.113.{i + 1}", "ada").status_code for i in range(3 * ACCOUNT_LIMIT)]
        assert statuses == [200] * ACCOUNT_LIMIT + [429] * (2 * ACCOUNT_LIMIT), statuses
        assert ask(1, "203.0.113.200", "grace").status_code == 200
    finally:
        for node in nodes:
            node.stop()
