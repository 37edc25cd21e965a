"use strict";
let pending = null;

// What a passkey is, in words: its provider's name when the server knows it (from its AAGUID).
function kindOf(p) {
  if (p.provider) return p.provider;
  if (p.transports.includes("internal") || p.transports.includes("hybrid")) return "Passkey on a phone or computer";
  if (p.deviceBound) return "Security key";
  return "Passkey";
}

// A recovery rule's proofs ("contact+code") in words.
function ruleWords(proofs) {
  const words = { contacts: "your recovery contacts approve", contact: "one recovery contact approves", code: "your recovery code",
    admins: "two administrators approve" };
  const text = proofs.split("+").map((p) => words[p] || p).join(" and ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// A recovery rule as a list item: its proofs and its wait, in words.
const ruleItem = (rule) => item(ruleWords(rule.proofs) + ": " + (rule.waitSeconds > 0 ? "after " + duration(rule.waitSeconds) : "no wait") + ".");

// How this session began, in words.
const births = { "device-approval": "approved from another device", recovered: "signed in by account recovery" };

const create = async (options) => credentialJSON(await navigator.credentials.create({ publicKey: creationOptions(options.publicKey) }));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function abortPending() { if (pending) { pending.abort(); pending = null; } }

// The account page.
async function showAccount() {
  let me;
  try { me = await api("/api/v1/me"); } catch { return false; }
  $("who").textContent = me.user.username;
  const birth = me.session.birth;
  $("birth").textContent = birth.kind === "passkey" ? "" : " (" + (births[birth.kind] || birth.kind)
    + (birth.coolingUntil ? "; account changes are locked until " + when(birth.coolingUntil) : "") + ")";
  // Tell the passkey provider which of its passkeys still work here and the account's current names
  // (WebAuthn Level 3 §5.1.11, §5.1.12), so it can hide removed ones and show today's name.
  if (PublicKeyCredential.signalAllAcceptedCredentials) {
    PublicKeyCredential.signalAllAcceptedCredentials({ rpId: me.rpId, userId: me.userHandle, allAcceptedCredentialIds: me.acceptedCredentialIds }).catch(() => {});
  }
  if (PublicKeyCredential.signalCurrentUserDetails) {
    PublicKeyCredential.signalCurrentUserDetails({ rpId: me.rpId, userId: me.userHandle, name: me.user.username, displayName: me.user.displayName }).catch(() => {});
  }
  const notices = [];
  if (birth.kind === "recovered" && birth.coolingUntil) {
    const div = document.createElement("div");
    div.className = "notice";
    div.id = "recovered-notice";
    div.textContent = "Welcome back. Your old passkeys are listed below: remove any that was on a lost or stolen device "
      + when(birth.coolingUntil) + " or later. Until then this session cannot change your account, so that whoever "
      + "recovered it cannot lock you out if it was not you.";
    notices.push(div);
  }
  $("alerts").replaceChildren(...notices, ...me.openRecoveryCases.map((c) => {
    const div = document.createElement("div");
    div.className = "notice";
    div.append("Someone asked to recover this account " + when(c.createdAt) + " from " + c.ip + ". If this wasn't you: ",
      button("Cancel it", async () => { try { await api(c.cancel, {}); say("The recovery request is cancelled."); await showAccount(); } catch (e) { say("Cancel failed: " + explain(e)); } }));
    return div;
  }));
  $("passkeys").replaceChildren(...me.passkeys.map((p) => item(
    kindOf(p) + (p.name && p.name !== "Passkey" && p.name !== p.provider ? " “" + p.name + "”" : "")
      + (p.deviceBound ? ", on one device only" : p.backedUp ? ", synced between your devices" : "")
      + ". Added " + when(p.createdAt) + (p.lastUsedAt ? ", last used " + when(p.lastUsedAt) : ", not used yet") + ". ",
    renameForm(p),
    ...(me.passkeys.length > 1 ? [button("Remove", () => removePasskey(p))] : []))));
  if (me.passkeys.length > 1) show("second-passkey", false);
  await showDeviceRequests();
  await showSessionsAppsAndTimeline();
  await showRecovery();
  show("signed-out", false);
  show("signed-in");
  watch();
  return true;
}

// A signed-in page keeps looking, from the moment it shows the account (after loading, signing up or
// signing in): for recovery requests every 15 seconds, so one shows up in every live session, and for
// sign-in requests that name this account every 3 seconds, so they show at once.
let watching = false;
function watch() {
  if (watching) return;
  watching = true;
  setInterval(() => { if (!document.hidden) showAlerts(); }, 15000);
  setInterval(() => { if (!document.hidden) showDeviceRequests(); }, 3000);
}

// A browser's User-Agent in a few words ("Chrome on Linux").
function device(userAgent) {
  const browser = [["Edg/", "Edge"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Safari/", "Safari"]].find(([mark]) => userAgent.includes(mark));
  const system = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Mac OS X", "macOS"], ["Windows", "Windows"], ["Linux", "Linux"]]
    .find(([mark]) => userAgent.includes(mark));
  if (!browser && !system) return userAgent ? "“" + userAgent.slice(0, 60) + "”" : "an unknown device";
  return (browser ? browser[1] : "A browser") + (system ? " on " + system[1] : "");
}

// The security timeline's events, in words.
const happenings = {
  signup: "Account created", signin: "Signed in with a passkey", signin_device_approval: "Signed in by approval from another device",
  reauthenticated: "Confirmed with a passkey", logout: "Signed out", session_revoked: "Signed out a session", passkey_added: "Passkey added",
  passkey_renamed: "Passkey renamed", passkey_removed: "Passkey removed", device_approved: "Approved a sign-in on another device",
  device_denied: "Denied a sign-in on another device", enrolment_created: "Started enrolling a new device", enrolment_opened: "A new device opened its enrolment link",
  enrolment_confirmed: "Confirmed a new device", enrolment_cancelled: "Enrolment cancelled", recovery_settings_changed: "Recovery settings changed",
  recovery_code_created: "New recovery code created", recovery_contact_invited: "Recovery contact invited", recovery_contact_accepted: "Recovery contact accepted",
  recovery_contact_removed: "Recovery contact removed", recovery_started: "Someone asked to recover this account", recovery_approved: "A recovery request was approved",
  recovery_code_failed: "A wrong recovery code was tried", recovery_cancelled: "A recovery request was cancelled", recovery_completed: "Account recovered",
  admin_granted: "Made an administrator", admin_revoked: "No longer an administrator", admin_disabled: "Disabled by an administrator", admin_enabled: "Enabled by an administrator",
};

async function showSessionsAppsAndTimeline() {
  const sessions = (await api("/api/v1/me/sessions")).sessions;
  $("sessions").replaceChildren(...sessions.map((session) => item(
    device(session.userAgent) + " " + where(session) + (session.current ? " (this device)" : "") + ". "
      + (session.birth.kind === "passkey" ? "Signed in with a passkey" : births[session.birth.kind] || session.birth.kind) + " " + when(session.createdAt)
      + ", last seen " + when(session.lastSeenAt) + ". ",
    button(session.current ? "Sign out" : "Sign out there", () => sensitive(async () => {
      await api("/api/v1/me/sessions/" + session.id, undefined, "DELETE");
      if (session.current) location.reload();
    }, "Signed out there.")))));
  const apps = (await api("/api/v1/me/apps")).apps;
  $("apps").replaceChildren(...(apps.length ? apps.map((app) => item(
    app.name + ": " + app.scopes.map((scope) => scopeWords[scope] || scope).join(", ") + ". Allowed " + when(app.consentedAt) + ". ",
    button("Disconnect", () => sensitive(() => api("/api/v1/me/apps/" + encodeURIComponent(app.clientID), undefined, "DELETE"),
      app.name + " is disconnected: it was signed out and can no longer act for you.")))) : [item("None yet.")]));
  const events = (await api("/api/v1/me/events")).events.slice(0, 20);
  $("timeline").replaceChildren(...events.map((event) => item((happenings[event.kind] || event.kind) + " " + when(event.at)
    + (event.ip ? " from " + event.ip : "") + (event.userAgent ? " (" + device(event.userAgent) + ")" : "") + ".")));
}

// Sign-in requests that named this account, shown on every signed-in page at once: the person picks
// the number the asking device shows (number matching), so approving takes looking at that device.
async function showDeviceRequests() {
  let requests;
  try { requests = (await api("/api/v1/device/pending")).requests; } catch { return; }
  const box = $("device-requests");
  const key = requests.map((r) => r.userCode).join();
  if (box.dataset.key === key) return;  // unchanged: leave what the person is looking at
  box.dataset.key = key;
  box.replaceChildren(...requests.map((r) => {
    const div = document.createElement("div");
    div.className = "notice device-request";
    const intro = document.createElement("p");
    intro.textContent = (r.client ? "The app " + r.client + " on " : "") + device(r.userAgent) + " " + where(r) + " asks to sign in as you ("
      + when(r.requestedAt) + "). If it is your device, pick the number it shows. If not, deny it.";
    const picks = document.createElement("p");
    picks.append(...r.choices.map((number) => button(String(number), () => decidePushed(r, number))), " ",
      button("Deny: it is not mine", () => decidePushed(r, null)));
    div.append(intro, picks);
    return div;
  }));
}

async function decidePushed(r, number) {
  const approve = number !== null;
  await sensitive(() => api("/api/v1/device/" + (approve ? "approve" : "deny"), approve ? { user_code: r.userCode, number } : { user_code: r.userCode }),
    approve ? "Approved: the other device is signed in." : "Denied. Nothing was signed in.");
  $("device-requests").dataset.key = "";
  await showDeviceRequests();
}

const scopeWords = { openid: "who you are", profile: "your name and username", offline_access: "access while you are away" };

async function showAlerts() {
  try {
    const me = await api("/api/v1/me");
    if (me.openRecoveryCases.length !== $("alerts").querySelectorAll(".notice:not(#recovered-notice)").length) await showAccount();
  } catch {}
}

async function showRecovery() {
  try {
    const r = await api("/api/v1/me/recovery");
    const ready = r.readiness;
    $("readiness").textContent = (ready.canRecoverWithoutAdmins ? "You can recover this account if you lose a device." : "You could not recover this account on your own today.")
      + " Passkeys: " + ready.passkeys + ", contacts: " + ready.acceptedContacts + " of " + ready.threshold + ", recovery code: " + (ready.recoveryCode ? "yes" : "no") + ".";
    $("next").replaceChildren(...ready.next.map((text) => item(text)));
    $("rules").replaceChildren(...r.rules.map(ruleItem));
    $("code-state").textContent = !r.recoveryCode.enabled ? "Recovery codes are turned off on this site."
      : r.recoveryCode.set ? "You have a recovery code, made " + when(r.recoveryCode.createdAt) + "." : "You have no recovery code yet.";
    $("new-code").textContent = r.recoveryCode.set ? "Replace the recovery code" : "Create a recovery code";
    $("new-code").dataset.replaces = r.recoveryCode.set ? "yes" : "";
    show("new-code", r.recoveryCode.enabled);
    $("contacts").replaceChildren(...(r.contacts.length ? r.contacts.map((c) => item(
      c.user.username + (c.accepted ? " (accepted " + when(c.createdAt) + ")" : " (invited, not accepted yet)") + " ",
      button("Remove", () => { if (confirm("Remove " + c.user.username + " as a recovery contact?")) sensitive(() => api("/api/v1/me/recovery/contacts/" + c.id, undefined, "DELETE"), c.user.username + " is no longer a recovery contact."); })))
      : [item("None yet.")]));
    if (document.activeElement !== $("threshold")) $("threshold").value = r.threshold;
    $("addresses").replaceChildren(...(r.addresses.length ? r.addresses.map((address) => item(address
      + (r.verifiedAddresses.includes(address) ? " (confirmed) " : " (not confirmed yet: open the link we sent to it) "),
      button("Remove", () => sensitive(() => api("/api/v1/me/recovery", { addresses: r.addresses.filter((a) => a !== address) }, "PATCH"), "Removed.")))) : [item("None.")]));
    const invitations = (await api("/api/v1/me/recovery/invitations")).invitations.filter((i) => !i.accepted);
    $("invitations").replaceChildren(...invitations.map((i) => item(i.from.username + " asks you to be a recovery contact. ",
      button("Accept", () => sensitive(() => api("/api/v1/me/recovery/invitations/" + i.id + "/accept", {}), "You are now a recovery contact.")))));
    // One entry per person asking, however many requests name them: the code they read finds theirs.
    const owners = new Map();
    for (const c of (await api("/api/v1/me/recovery-requests")).approvable) {
      const entry = owners.get(c.user.id) || { user: c.user, cases: [] };
      entry.cases.push(c);
      owners.set(c.user.id, entry);
    }
    $("requests").replaceChildren(...[...owners.values()].map(({ user, cases }) => {
      const input = document.createElement("input");
      input.placeholder = "The code " + user.username + " reads to you";
      const from = cases.length === 1 ? "from " + cases[0].ip : "(" + cases.length + " requests, from " + [...new Set(cases.map((c) => c.ip))].join(", ") + ")";
      return item(user.username + " asked to recover their account " + from + ". Only approve if they told you so in person or on a call. ",
        button("Approve", () => sensitive(() => api("/api/v1/me/recovery-requests/approve", { owner: user.id, comparisonCode: input.value }), "Approved."), input),
        " ", button("Decline: they did not ask me", () => {
          if (confirm("Decline? " + user.username + "'s open recovery requests are cancelled, and " + user.username + " is told that you declined.")) {
            sensitive(() => api("/api/v1/me/recovery-requests/decline", { owner: user.id }), "Declined. The requests are cancelled and " + user.username + " is told.");
          }
        }));
    }));
  } catch (error) { say(explain(error)); }
}

/// Runs a sensitive action, confirming with a passkey first when the server asks for it.
async function sensitive(action, done) {
  try {
    const result = await freshly(action);
    if (done) say(done);
    await showAccount();
    return result;
  } catch (error) { say("Refused: " + explain(error)); }
}

/// A small form that renames a passkey (Enter submits it).
function renameForm(p) {
  const form = document.createElement("form");
  form.className = "inline";
  const input = document.createElement("input");
  input.value = p.name;
  input.maxLength = 64;
  input.setAttribute("aria-label", "Name of this passkey");
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.textContent = "Rename";
  form.append(input, submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sensitive(() => api("/api/v1/me/passkeys/" + p.id, { name: input.value.trim() }, "PATCH"), "Renamed.");
  });
  return form;
}

/// Removes a passkey (lost or stolen): every session it signed in ends with it, this one too
/// when this passkey made it.
async function removePasskey(p) {
  if (!confirm("Remove the passkey " + p.name + "? Every session it signed in will be signed out.")) return;
  const result = await sensitive(() => api("/api/v1/me/passkeys/" + p.id, undefined, "DELETE"));
  if (!result) return;
  const ended = result.sessionsEnded === 1 ? "1 session it had signed in was signed out" : result.sessionsEnded + " sessions it had signed in were signed out";
  if (result.signedOut) {
    show("signed-in", false);
    show("signed-out");
    say("Passkey removed, and " + ended + ", this one among them. Sign in with another passkey.");
  } else {
    say("Passkey removed, and " + ended + ".");
  }
}

// An invite link (`portcullis invite create`) carries its code in the query: the page keeps it for
// the sign-up and takes it out of the address bar, so it is not bookmarked or shared by mistake.
const invite = new URLSearchParams(location.search).get("invite");
if (invite) {
  history.replaceState(null, "", location.pathname);
  $("invited").classList.remove("hidden");
}

async function signUp() {
  abortPending();
  try {
    const username = $("username").value.trim();
    const credential = await create(await api("/api/v1/signup/options", invite ? { username, invite } : { username }));
    const result = await api("/api/v1/signup/verify", { credential });
    say("Welcome, " + result.user.username + ".");
    show("invited", false);
    await showAccount();
    // One passkey is one device (or one provider's sync): a second, elsewhere, keeps the account open.
    show("second-passkey");
  } catch (error) { say("Sign-up failed: " + explain(error)); }
}

async function signIn(conditional) {
  if (!conditional) abortPending();
  try {
    // A typed username asks for that account's passkeys only (an unknown one looks the same).
    const username = conditional ? "" : $("username").value.trim();
    const options = await api("/api/v1/login/options", username ? { username } : {});
    const request = { publicKey: requestOptions(options.publicKey) };
    if (conditional) {
      pending = new AbortController();
      request.mediation = "conditional";
      request.signal = pending.signal;
    }
    const credential = await navigator.credentials.get(request);
    pending = null;
    const result = await api("/api/v1/login/verify", { credential: credentialJSON(credential) });
    say("Signed in as " + result.user.username + ".");
    await showAccount();
  } catch (error) {
    // A conditional request that finds no passkey ends quietly; the buttons remain.
    if (!conditional && error.name !== "AbortError") say("Sign-in failed: " + explain(error));
  }
}

async function signInWithAnotherDevice() {
  abortPending();
  try {
    const username = $("username").value.trim();
    const started = await startDeviceRequest(username);
    $("device-for").textContent = username;
    $("device-number").textContent = started.match_number;
    show("device-number-box", !!username);
    $("verify-at").textContent = started.verification_uri;
    $("user-code").textContent = started.user_code;
    drawQR($("device-qr"), started.verification_uri_complete).catch(() => $("device-qr").replaceChildren());
    show("device-pending");
    const waiting = countdown(started.expires_in, $("device-countdown"), $("device-cancel"));
    let result;
    try { result = await approval(started, waiting); } catch (error) {
      say("Not signed in: " + explain(error));
      show("device-pending", false);
      return;
    }
    show("device-pending", false);
    if (!result) { say(waiting.cancelled ? "Cancelled. Nothing was signed in." : "The code expired. Start again to get a new one."); return; }
    say("Signed in as " + result.user.username + ", approved from another device.");
    await showAccount();
  } catch (error) { say(explain(error)); }
}

async function signOut() {
  try { await api("/api/v1/logout", {}); } catch {}
  location.reload();
}

// /device: approve a sign-in on a device without passkeys.
async function lookupDevice() {
  try {
    const code = $("device-code").value.trim();
    await reauth();
    const found = await api("/api/v1/device/lookup?user_code=" + encodeURIComponent(code));
    $("device-info").textContent = (found.client ? "The app " + found.client + " on a device " : "A device ") + where(found) + " (" + found.userAgent
      + ") asked " + when(found.requestedAt) + " to sign in as you. " + (found.choices ? "If it is yours, pick the number it shows." : "Approve only if it is yours.");
    // A request that named this account is approved by picking the number its device shows.
    $("device-choices").replaceChildren(...(found.choices || []).map((number) => button(String(number), () => decideDevice(true, number))));
    show("approve", !found.choices);
    show("device-details");
  } catch (error) { say("No such request: " + explain(error)); }
}

async function decideDevice(approve, number) {
  try {
    const decision = { user_code: $("device-code").value.trim() };
    if (number !== undefined) decision.number = number;
    await api("/api/v1/device/" + (approve ? "approve" : "deny"), decision);
    say(approve ? "Approved: the other device is signed in." : "Denied.");
    show("device-details", false);
  } catch (error) { say("Refused: " + explain(error)); }
}

// /enrol#TOKEN: this new device registers its own passkey once the signed-in one confirms.
async function enrolThisDevice() {
  show("enrol");
  try {
    const token = location.hash.slice(1);
    history.replaceState(null, "", "/enrol");
    const opened = await api("/api/v1/enrol/open", { token });
    $("confirm-code").textContent = opened.confirmationCode;
    for (;;) {
      await sleep(2000);
      let options;
      try { options = await api("/api/v1/enrol/passkey/options", { id: opened.id }); } catch (error) { if (error.code === "not_found") continue; throw error; }
      const result = await api("/api/v1/enrol/passkey/verify", { id: opened.id, credential: await create(options) });
      say("This device has its own passkey now. Signed in as " + result.user.username + ".");
      return;
    }
  } catch (error) { say("Enrolment failed: " + explain(error)); }
}

async function startEnrolment() {
  const created = await sensitive(() => api("/api/v1/me/enrolments", {}));
  if (!created) return;
  $("enrol-link").textContent = created.link;
  drawQR($("enrol-qr"), created.link).catch(() => $("enrol-qr").replaceChildren());
  $("enrol-confirm").dataset.id = created.id;
  show("enrolment");
}

// /recover: a case bound to this browser; it ends only in a new passkey.
async function recoverProgress() {
  const id = sessionStorage.getItem("recovery-case");
  if (!id) return;
  try {
    const c = await api("/api/v1/recovery/" + id);
    $("comparison-code").textContent = sessionStorage.getItem("recovery-comparison") || "";
    show("recover-start", false);
    show("recover-case");
    if (c.status !== "open") { $("progress").textContent = "This request is " + c.status + "."; show("new-passkey", false); return; }
    $("progress").textContent = c.released ? "Approved: create your new passkey." : c.releaseAt ? "Approved; for your safety it opens " + when(c.releaseAt) + "." : "Waiting for approval (" + c.proofs.length + " so far).";
    show("new-passkey", c.released);
  } catch (error) { say(explain(error)); }
}

async function recoverBegin() {
  try {
    const started = await api("/api/v1/recovery", { username: $("recover-username").value.trim() });
    sessionStorage.setItem("recovery-case", started.id);
    sessionStorage.setItem("recovery-comparison", started.comparisonCode);
    say("Your account's owner is told at once on every device and address.");
    await recoverProgress();
  } catch (error) { say(explain(error)); }
}

async function recoverCode() {
  try {
    await api("/api/v1/recovery/" + sessionStorage.getItem("recovery-case") + "/code", { code: $("recovery-code-input").value });
    say("Recovery code accepted.");
    await recoverProgress();
  } catch (error) { say(explain(error)); }
}

async function recoverPasskey() {
  try {
    const id = sessionStorage.getItem("recovery-case");
    const options = await api("/api/v1/recovery/" + id + "/passkey/options", {});
    const result = await api("/api/v1/recovery/" + id + "/passkey/verify", { credential: await create(options) });
    sessionStorage.removeItem("recovery-case");
    say("Recovered. Welcome back, " + result.user.username + ". For a day this session cannot change your account.");
    show("recover", false);
    await showAccount();
  } catch (error) { say("Recovery failed: " + explain(error)); }
}

onSubmit("signin-form", (event) => event.submitter && event.submitter.id === "signup" ? signUp() : signIn(false));
act("other-device", signInWithAnotherDevice);
act("signout", signOut);
act("add-passkey", () => sensitive(async () => api("/api/v1/me/passkeys/verify", { credential: await create(await api("/api/v1/me/passkeys/options", {})) }), "Passkey added."));
act("enrol-device", startEnrolment);
onSubmit("enrol-form", () => sensitive(() => api("/api/v1/me/enrolments/" + $("enrol-confirm").dataset.id + "/confirm", { confirmationCode: $("enrol-code").value.trim() }), "Confirmed: the new device can create its passkey."));
act("new-code", async () => {
  if ($("new-code").dataset.replaces && !confirm("Replace your recovery code? The one you have now stops working at once.")) return;
  const result = await sensitive(() => api("/api/v1/me/recovery/code", {}), "Write this code down and keep it safe. It is shown once.");
  if (result) {
    $("recovery-code").textContent = result.code;
    $("download-code").href = URL.createObjectURL(new Blob([location.host + " recovery code: " + result.code + "\n"], { type: "text/plain" }));
    show("recovery-code-box");
  }
});
act("copy-code", () => navigator.clipboard.writeText($("recovery-code").textContent)
  .then(() => say("Copied. Paste it somewhere only you can reach."), () => say("Copying was not allowed: select the code and copy it yourself.")));
$("contact-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (await sensitive(() => api("/api/v1/me/recovery/contacts", { username: $("contact").value.trim() }), "Invited.")) $("contact").value = "";
});
$("threshold-form").addEventListener("submit", (event) => { event.preventDefault(); sensitive(() => api("/api/v1/me/recovery", { threshold: Number($("threshold").value) }, "PATCH"), "Saved."); });
$("address-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const current = (await api("/api/v1/me/recovery")).addresses;
  const added = $("address").value.split(",").map((a) => a.trim()).filter((a) => a);
  if (await sensitive(() => api("/api/v1/me/recovery", { addresses: [...current, ...added] }, "PATCH"), "Added.")) $("address").value = "";
});
onSubmit("lookup-form", lookupDevice);
act("approve", () => decideDevice(true));
act("deny", () => decideDevice(false));
onSubmit("recover-form", recoverBegin);
onSubmit("code-form", recoverCode);
act("new-passkey", recoverPasskey);

const path = location.pathname;
if (path === "/device") {
  show("device");
  const code = new URLSearchParams(location.search).get("user_code");
  if (code) $("device-code").value = code;
} else if (path === "/enrol") {
  enrolThisDevice();
} else if (path === "/recover") {
  show("recover");
  api("/api/v1/recovery/rules").then((r) => $("recover-rules").replaceChildren(...r.rules.map(ruleItem))).catch(() => {});
  recoverProgress();
  setInterval(recoverProgress, 3000);
} else {
  showAccount().then((signedIn) => {
    if (signedIn) return;
    show("signed-out");
    if (window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => { if (ok) signIn(true); });
    }
  });
}
