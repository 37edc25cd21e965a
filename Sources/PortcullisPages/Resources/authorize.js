"use strict";
// The sign-in page of an app's authorization request: a passkey sign-in through the API (which sets
// the session cookie), then the same request continues at /oauth2/resume. common.js gives api().
(() => {
  const main = document.getElementById("authorize");
  const status = document.getElementById("status");
  const form = document.getElementById("authorize-form");
  const interaction = main.dataset.interaction;
  // The page carries the options of a sign-in with any passkey, so the browser asks for one at once.
  // They are used once, while their challenge is young (half its lifetime, which the timeout gives,
  // leaves the person the other half); after that, or for a typed username, the API gives new ones.
  let carried = null;
  try { carried = main.dataset.options ? JSON.parse(main.dataset.options) : null; } catch { carried = null; }
  const shownAt = Date.now();

  async function signInOptions(username) {
    const options = carried;
    carried = null;
    if (options && !username && Date.now() - shownAt < (options.publicKey.timeout || 0) / 2) return options;
    return api("/api/v1/login/options", username ? { username } : {});
  }

  function resume() {
    location.assign("/oauth2/resume?interaction=" + encodeURIComponent(interaction));
  }

  // A device without a passkey: another device where the person is signed in approves this one
  // (device approval); the request then continues with that session, which the app is told about.
  act("authorize-other-device", async () => {
    const pending = document.getElementById("authorize-device");
    try {
      const username = document.getElementById("username").value.trim();
      const started = await startDeviceRequest(username);
      document.getElementById("authorize-number").textContent = started.match_number;
      document.getElementById("authorize-number-box").classList.toggle("hidden", !username);
      document.getElementById("authorize-verify-at").textContent = started.verification_uri;
      document.getElementById("authorize-user-code").textContent = started.user_code;
      const qr = document.getElementById("authorize-device-qr");
      drawQR(qr, started.verification_uri_complete).catch(() => qr.replaceChildren());
      pending.classList.remove("hidden");
      status.textContent = "Waiting for the other device to approve…";
      const waiting = countdown(started.expires_in, document.getElementById("authorize-countdown"), document.getElementById("authorize-device-cancel"));
      if (!await approval(started, waiting)) {
        pending.classList.add("hidden");
        status.textContent = waiting.cancelled ? "Cancelled. Nothing was signed in." : "The code expired. Start again to get a new one.";
        return;
      }
      status.textContent = "Approved. Returning to the app…";
      resume();
    } catch (error) {
      pending.classList.add("hidden");
      status.textContent = explain(error);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "Waiting for your passkey…";
    try {
      const username = document.getElementById("username").value.trim();
      const options = await signInOptions(username);
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
      const signedIn = await api("/api/v1/login/verify", { credential: credentialJSON(credential), interaction });
      status.textContent = "Signed in. Returning to the app…";
      // The server ended the request with this sign-in when no page was needed (returnTo is the app's
      // redirect URI with the code); otherwise the request continues at /oauth2/resume.
      if (signedIn.returnTo) location.assign(signedIn.returnTo); else resume();
    } catch (error) {
      status.textContent = explain(error);
    }
  });
})();
