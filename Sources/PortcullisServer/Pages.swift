import Hummingbird
import NIOCore

/// The first page for people: sign up, sign in (also through autofill), see the account, sign out.
/// Plain HTML and one script, served with a strict Content-Security-Policy (no inline script).
enum Pages {
    static func register(on router: Router<AppRequestContext>) {
        router.get("/") { _, _ in page(index, type: "text/html; charset=utf-8") }
        router.get("app.js") { _, _ in page(script, type: "text/javascript; charset=utf-8") }
    }

    static func page(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-store",
                .init("Content-Security-Policy")!: "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let index = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Portcullis</title>
        <style>
          body { font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
          h1 { font-size: 1.6rem; } input, button { font: inherit; padding: .5rem .75rem; margin: .25rem 0; }
          input { width: 100%; box-sizing: border-box; } button { cursor: pointer; }
          #status { margin-top: 1rem; padding: .75rem; background: #f3f3f3; border-radius: .5rem; min-height: 1.5rem; }
          .hidden { display: none; }
        </style>
        </head>
        <body>
        <h1>Portcullis</h1>
        <p>Sign in with a passkey. There is no password, and no code by email or text.</p>
        <section id="signed-out">
          <label for="username">Username</label>
          <input id="username" name="username" autocomplete="username webauthn" autocapitalize="none" spellcheck="false">
          <p><button id="signup" type="button">Create an account with a passkey</button>
             <button id="signin" type="button">Sign in with a passkey</button></p>
        </section>
        <section id="signed-in" class="hidden">
          <p>Signed in as <strong id="who"></strong>.</p>
          <ul id="passkeys"></ul>
          <p><button id="signout" type="button">Sign out</button></p>
        </section>
        <div id="status" role="status" aria-live="polite"></div>
        <script src="/app.js"></script>
        </body>
        </html>
        """

    static let script = """
        "use strict";
        const $ = (id) => document.getElementById(id);
        const say = (text) => { $("status").textContent = text; };
        let pending = null;

        async function api(path, body) {
          const response = await fetch(path, {
            method: body === undefined ? "GET" : "POST",
            headers: { "Content-Type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
            credentials: "same-origin",
          });
          const text = await response.text();
          const json = text ? JSON.parse(text) : {};
          if (!response.ok) {
            if (json.code === "unknown_credential" && PublicKeyCredential.signalUnknownCredential) {
              PublicKeyCredential.signalUnknownCredential({ rpId: location.hostname, credentialId: json.credentialId }).catch(() => {});
            }
            throw new Error(json.title || ("error " + response.status));
          }
          return json;
        }

        function abortPending() { if (pending) { pending.abort(); pending = null; } }

        async function showAccount() {
          try {
            const me = await api("/api/v1/me");
            $("who").textContent = me.user.username;
            $("passkeys").replaceChildren(...me.passkeys.map((p) => {
              const li = document.createElement("li");
              li.textContent = p.name + (p.provider ? " (" + p.provider + ")" : "");
              return li;
            }));
            $("signed-out").classList.add("hidden");
            $("signed-in").classList.remove("hidden");
            return true;
          } catch { return false; }
        }

        async function signUp() {
          abortPending();
          try {
            const username = $("username").value.trim();
            const options = await api("/api/v1/signup/options", { username });
            const credential = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey) });
            const result = await api("/api/v1/signup/verify", { credential: credential.toJSON() });
            say("Welcome, " + result.user.username + ".");
            await showAccount();
          } catch (error) { say("Sign-up failed: " + error.message); }
        }

        async function signIn(conditional) {
          if (!conditional) abortPending();
          try {
            const options = await api("/api/v1/login/options", {});
            const request = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) };
            if (conditional) {
              pending = new AbortController();
              request.mediation = "conditional";
              request.signal = pending.signal;
            }
            const credential = await navigator.credentials.get(request);
            pending = null;
            const result = await api("/api/v1/login/verify", { credential: credential.toJSON() });
            say("Signed in as " + result.user.username + ".");
            await showAccount();
          } catch (error) {
            // A conditional request that finds no passkey ends quietly; the buttons remain.
            if (!conditional && error.name !== "AbortError") say("Sign-in failed: " + error.message);
          }
        }

        async function signOut() {
          try { await api("/api/v1/logout", {}); } catch {}
          location.reload();
        }

        $("signup").addEventListener("click", signUp);
        $("signin").addEventListener("click", () => signIn(false));
        $("signout").addEventListener("click", signOut);
        showAccount().then((signedIn) => {
          if (!signedIn && window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable) {
            PublicKeyCredential.isConditionalMediationAvailable().then((ok) => { if (ok) signIn(true); });
          }
        });
        """
}
