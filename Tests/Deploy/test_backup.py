"""`portcullis backup` and `restore` on the embedded database, the way an operator uses them: a backup
taken while people sign up, restored into a new directory, served by a new server, where everyone
acknowledged before the backup began signs in with their passkey."""
import os, sqlite3, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "OIDC"))
from softauthn import Browser  # noqa: E402
from test_deploy import DEBUG_BINARY, free_port, wait_ready  # noqa: E402


def environment(directory, port=None):
    env = {"PATH": os.environ["PATH"], "HOME": directory, "DATABASE_URL": f"sqlite:{directory}/portcullis.sqlite",
           # Every sign-up comes from 127.0.0.1: the per-address ceremony limit would stop the load.
           "RATELIMIT_IP_PER_MINUTE": "1000000"}
    if port:
        env.update(HTTP_PORT=str(port), RP_ORIGINS=f"http://localhost:{port}")
    return env


def serve(directory, log=subprocess.DEVNULL):
    port = free_port()
    process = subprocess.Popen([DEBUG_BINARY, "serve"], env=environment(directory, port), cwd=directory, stdout=log, stderr=log)
    wait_ready(f"http://127.0.0.1:{port}/readyz", process)
    return process, f"http://localhost:{port}"


def portcullis(directory, *arguments):
    return subprocess.run([DEBUG_BINARY, *arguments], env=environment(directory), cwd=directory, capture_output=True, text=True, timeout=120)


def stop(process):
    process.terminate()
    assert process.wait(timeout=30) == 0


def test_a_backup_taken_during_sign_ups_restores_every_acknowledged_account():
    live = tempfile.mkdtemp(prefix="portcullis-live-")
    server, origin = serve(live)
    acknowledged = []  # (time the sign-up was answered, username, origin-independent passkey)
    lock = threading.Lock()
    running = threading.Event()
    running.set()
    failures = []

    def sign_ups(worker):
        n = 0
        while running.is_set():
            n += 1
            username = f"w{worker}n{n}"
            try:
                passkey = Browser(origin).sign_up(username)
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                failures.append(repr(error))
                return
            with lock:
                acknowledged.append((time.time(), username, passkey))

    workers = [threading.Thread(target=sign_ups, args=(w,)) for w in range(4)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(3)
        backup = os.path.join(tempfile.mkdtemp(prefix="portcullis-backup-"), "portcullis.backup")
        began = time.time()
        result = portcullis(live, "backup", "--to", backup)
        assert result.returncode == 0, result.stdout + result.stderr
        time.sleep(1)  # sign-ups go on after the copy, and must not be in it
    finally:
        running.clear()
        for worker in workers:
            worker.join(timeout=60)
    assert not failures, failures
    before = [(username, passkey) for at, username, passkey in acknowledged if at < began]
    assert len(before) >= 20, f"the load made only {len(before)} accounts before the backup"
    assert len(acknowledged) > len(before), "no sign-up was answered while or after the copy ran"
    assert oct(os.stat(backup).st_mode & 0o777) == "0o600"

    # The copy is whole: no user without a passkey, no row pointing at nothing, integrity intact.
    copy = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA foreign_key_check").fetchall() == []
        assert copy.execute("SELECT COUNT(*) FROM users WHERE id NOT IN (SELECT user_id FROM passkeys)").fetchone() == (0,)
        names = {name for (name,) in copy.execute("SELECT username FROM users")}
    finally:
        copy.close()
    assert {username for username, _ in before} <= names

    # A backup never overwrites a file, and a running server's database is not restored over.
    again = portcullis(live, "backup", "--to", backup)
    assert again.returncode == 5 and "exists" in again.stderr, again.stderr
    busy = portcullis(live, "restore", backup, "--force")
    assert busy.returncode == 5 and "in use" in busy.stderr, busy.stderr
    stop(server)

    # Restored into a new directory and served there: everyone acknowledged before the backup signs in.
    restored = tempfile.mkdtemp(prefix="portcullis-restored-")
    result = portcullis(restored, "restore", backup)
    assert result.returncode == 0, result.stdout + result.stderr
    assert oct(os.stat(f"{restored}/portcullis.sqlite").st_mode & 0o777) == "0o600"
    refused = portcullis(restored, "restore", backup)
    assert refused.returncode == 5 and "--force" in refused.stderr, refused.stderr
    server, origin = serve(restored)
    try:
        for username, passkey in before:
            device = Browser(origin)
            device.sign_in(passkey)
            me = device.http.get(origin + "/api/v1/me").json()
            assert me["user"]["username"] == username
    finally:
        stop(server)


def test_restore_refuses_what_is_not_a_portcullis_database():
    directory = tempfile.mkdtemp(prefix="portcullis-restore-")
    junk = os.path.join(directory, "junk")
    with open(junk, "wb") as file:
        file.write(b"not a database at all" * 100)
    other = os.path.join(directory, "other.sqlite")
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    for source, reason in ((junk, "is not a database"), (other, "not a Portcullis database"), (junk + ".missing", "there is no file")):
        result = portcullis(directory, "restore", source)
        assert result.returncode == 5 and reason in result.stderr, (source, result.stderr)
    assert not os.path.exists(os.path.join(directory, "portcullis.sqlite")), "a refused restore created a database"
    # PostgreSQL has its own tools.
    result = subprocess.run([DEBUG_BINARY, "backup", "--to", os.path.join(directory, "b")], capture_output=True, text=True,
                            env=dict(environment(directory), DATABASE_URL="postgres://portcullis@localhost/portcullis"))
    assert result.returncode == 3 and "pg_dump" in result.stderr, result.stderr
