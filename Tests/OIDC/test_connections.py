"""Connections that stall, and stops that cannot drain, against a live `portcullis serve`: a client that
stops sending in the middle of a request head or body, or sits on a kept-alive connection, is cut off
after `http.idle_timeout`; a stop (SIGTERM) lets requests in flight finish, and ends after
`http.stop_timeout` with status 7 and a log line when one does not."""
import json, signal, socket, tempfile, time

import pytest

from conftest import Server

BODY = json.dumps({"username": None}).encode()
HEAD = (b"POST /api/v1/login/options HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(BODY)).encode() + b"\r\n")


def sqlite_server(**env):
    directory = tempfile.mkdtemp(prefix="portcullis-connections-")
    return Server(f"sqlite:{directory}/portcullis.sqlite", {key.upper(): value for key, value in env.items()})


def connect(server):
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.settimeout(30)
    return connection


def origin_header(server):
    return b"Origin: " + server.origin.encode() + b"\r\n"


def seconds_until_closed(connection):
    """Reads until the server closes the connection; how long that took, and what it sent."""
    started, received = time.monotonic(), b""
    while chunk := connection.recv(4096):
        received += chunk
    return time.monotonic() - started, received


def request_records(server, route):
    return [r for r in server.log_records() if r["message"] == "request" and r.get("route") == route]


def test_a_request_body_that_stalls_is_cut_off_after_the_idle_timeout():
    server = sqlite_server(http_idle_timeout="1")
    try:
        with server.unchanged():
            connection = connect(server)
            connection.sendall(HEAD + origin_header(server) + b"\r\n" + BODY[:5])
            waited, received = seconds_until_closed(connection)
            connection.close()
        assert 0.9 <= waited < 5, waited
        assert received == b"", "a client cut off mid-body gets no answer"
        # Logged as the client's failure (400), not as the server's (500), and with no internal error.
        time.sleep(0.2)
        assert [r["status"] for r in request_records(server, "/api/v1/login/options")] == ["400"]
        assert not [r for r in server.log_records() if r["level"] in ("error", "critical")]
    finally:
        server.stop()


def test_a_body_that_breaks_http_is_refused_as_the_clients_fault():
    server = sqlite_server()
    try:
        with server.unchanged():
            connection = connect(server)
            connection.sendall(HEAD.replace(b"Content-Length: " + str(len(BODY)).encode(), b"Transfer-Encoding: chunked")
                               + origin_header(server) + b"\r\n" + b"5\r\n{\"a\":\r\nzz\r\n")
            _, received = seconds_until_closed(connection)
            connection.close()
        assert received.startswith(b"HTTP/1.1 400 ") and b"The request is not valid HTTP/1.1." in received, received[:400]
        time.sleep(0.2)
        assert "500" not in [r["status"] for r in request_records(server, "/api/v1/login/options")]
        assert not [r for r in server.log_records() if r["level"] in ("error", "critical")]
    finally:
        server.stop()


def test_a_request_head_that_stalls_is_cut_off_after_the_idle_timeout():
    server = sqlite_server(http_idle_timeout="1")
    try:
        connection = connect(server)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localh")
        waited, received = seconds_until_closed(connection)
        connection.close()
        assert 0.9 <= waited < 5 and received == b"", (waited, received)
    finally:
        server.stop()


def test_a_kept_alive_connection_left_idle_is_closed_after_the_idle_timeout():
    server = sqlite_server(http_idle_timeout="2")
    try:
        connection = connect(server)
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        waited, received = seconds_until_closed(connection)
        connection.close()
        assert received.startswith(b"HTTP/1.1 200 "), received[:100]
        assert 1.9 <= waited < 6, waited
    finally:
        server.stop()


def test_a_stop_lets_a_request_in_flight_finish():
    server = sqlite_server(http_idle_timeout="60", http_stop_timeout="20")
    connection = connect(server)
    connection.sendall(HEAD + origin_header(server) + b"\r\n" + BODY[:5])
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert server.process.poll() is None, "the server waits for the request it is reading"
    connection.sendall(BODY[5:])
    _, received = seconds_until_closed(connection)
    connection.close()
    assert received.startswith(b"HTTP/1.1 200 "), received[:200]
    assert server.process.wait(timeout=15) == 0
    server.log.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_that_cannot_drain_ends_at_the_stop_timeout_with_status_7(stop_signal):
    server = sqlite_server(http_idle_timeout="600", http_stop_timeout="2")
    connection = connect(server)
    connection.sendall(HEAD + origin_header(server) + b"\r\n" + BODY[:5])
    time.sleep(0.5)
    started = time.monotonic()
    server.process.send_signal(stop_signal)
    status = server.process.wait(timeout=20)
    waited = time.monotonic() - started
    connection.close()
    server.log.close()
    assert status == 7, status
    assert 1.9 <= waited < 6, waited
    [line] = [r for r in server.log_records() if r["message"] == "stop did not finish"]
    assert line["level"] == "critical" and line["stop_timeout_s"] == "2", line
