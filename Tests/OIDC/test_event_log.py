"""The server's log, as an operator reads it: one JSON line for each security event the server
records and for each admin action, with the request it came from, and the same events as the
account's own timeline."""
import secrets

from softauthn import Browser


def test_each_security_event_and_admin_action_is_logged_with_its_request(server):
    alice, bob = "ev" + secrets.token_hex(3), "ev" + secrets.token_hex(3)
    person = Browser(server.origin)
    passkey = person.sign_up(alice)
    person.http.headers["X-Request-ID"] = "signin-" + alice
    person.sign_in(passkey)
    del person.http.headers["X-Request-ID"]
    other = Browser(server.origin)
    other.sign_up(bob)

    # An admin disables and deletes another account through the admin API.
    server.cli("admin", "grant", alice)
    users = person.http.get(server.origin + "/api/v1/admin/users", params={"q": bob}).json()["users"]
    bob_id = next(u["id"] for u in users if u["username"] == bob)
    answer = person.http.post(server.origin + f"/api/v1/admin/users/{bob_id}/disable", headers={"X-Request-ID": "disable-" + bob})
    assert answer.status_code in (200, 204), answer.text
    answer = person.http.delete(server.origin + f"/api/v1/admin/users/{bob_id}", headers={"X-Request-ID": "delete-" + bob})
    assert answer.status_code in (200, 204), answer.text

    records = server.log_records()
    events = [r for r in records if r["message"] == "security event"]
    me = person.http.get(server.origin + "/api/v1/me").json()
    my_id = me["user"]["id"]
    mine = [r for r in events if r["user_id"] == my_id]
    # The account's timeline and the server's log name the same events, one line each, except the
    # grant, which the `portcullis admin` command recorded in a process of its own.
    timeline = person.http.get(server.origin + "/api/v1/me/events").json()["events"]
    served = [e for e in timeline if e["kind"] != "admin_granted"]
    assert len(served) == len(timeline) - 1
    assert sorted(e["id"].lower() for e in served) == sorted(r["event_id"] for r in mine)
    assert [r["event"] for r in mine][:2] == ["signup", "signin"]
    signin = next(r for r in mine if r["event"] == "signin")
    assert signin["request_id"] == "signin-" + alice and signin["client_ip"] == "127.0.0.1"

    disabled = next(r for r in events if r["user_id"] == bob_id and r["event"] == "admin_disabled")
    assert disabled["request_id"] == "disable-" + bob and disabled["detail.by"] == alice
    deleted = [r for r in records if r["message"] == "admin action" and r.get("user_id") == bob_id]
    assert [(r["action"], r["request_id"]) for r in deleted] == [("user_deleted", "delete-" + bob)]
