"""SQLite on a full disk, the way an operator meets it: the database lives on a small file system
(a tmpfs mounted for the test) that fills while people sign up. Writes then fail with a clear error
(503 `unavailable`, and a log line that says the disk is full), nothing stored is corrupted, and
once space returns the same server process serves again."""
import os, sqlite3, subprocess, tempfile

import pytest
import requests

from test_backup import serve, stop
from softauthn import Browser


@pytest.fixture
def small_disk():
    mount = tempfile.mkdtemp(prefix="portcullis-full-")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", mount], capture_output=True, text=True)
    assert result.returncode == 0, f"mounting a tmpfs needs root, as the test machines have: {result.stderr}"
    yield mount
    subprocess.run(["umount", "-l", mount], check=True)
    os.rmdir(mount)


def fill(directory, leave_kilobytes):
    """Writes a ballast file until only about `leave_kilobytes` remain free."""
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize
    with open(os.path.join(directory, "ballast"), "wb") as ballast:
        ballast.write(b"\0" * max(0, free - leave_kilobytes * 1024))


def test_a_full_disk_fails_writes_clearly_keeps_the_data_and_recovers(small_disk):
    log = tempfile.NamedTemporaryFile(prefix="portcullis-full-", suffix=".log", delete=False)
    server, origin = serve(small_disk, log=log)
    try:
        before = []
        for n in range(20):
            before.append((f"before{n}", Browser(origin).sign_up(f"before{n}")))
        fill(small_disk, leave_kilobytes=64)

        # Sign-ups until the disk refuses one: each either succeeds or fails as 503 `unavailable`.
        refused = None
        acknowledged = []
        for n in range(5000):
            person = Browser(origin)
            options = person.http.post(origin + "/api/v1/signup/options", json={"username": f"during{n}"})
            if options.status_code != 200:
                refused = options
                break
            try:
                acknowledged.append((f"during{n}", person.sign_up(f"during{n}")))
            except AssertionError as error:
                path, status, body = error.args[0]
                refused = requests.Response()
                refused.status_code, refused._content = status, body.encode()
                break
        assert refused is not None, "the disk never filled"
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "unavailable"
        assert "SQLite" not in refused.text and "disk" not in refused.text, "no internal detail reaches the client"
        with open(log.name) as lines:
            assert any("the disk holding the database is full" in line for line in lines), "the operator's log says why"

        # Reads still answer while the disk is full; the readiness probe only reads.
        assert requests.get(origin.replace("localhost", "127.0.0.1") + "/readyz", timeout=5).status_code == 200

        # Space returns: the same process signs people up and in again, old and new.
        os.remove(os.path.join(small_disk, "ballast"))
        for username, passkey in before + acknowledged:
            Browser(origin).sign_in(passkey)
        Browser(origin).sign_up("after")
    finally:
        stop(server)

    # Nothing half-written: the file is intact, every acknowledged account is there with its passkey.
    db = sqlite3.connect(os.path.join(small_disk, "portcullis.sqlite"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        names = {name for (name,) in db.execute("SELECT username FROM users")}
        assert {u for u, _ in before + acknowledged} | {"after"} <= names
        assert db.execute("SELECT COUNT(*) FROM users WHERE id NOT IN (SELECT user_id FROM passkeys)").fetchone()[0] == 0
    finally:
        db.close()
