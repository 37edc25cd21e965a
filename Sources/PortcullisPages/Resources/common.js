"use strict";
// Shared by every page's script (loaded before it): the API, device approval's wait, failures and
// times in words, and the small element helpers the account and admin pages build with.

// Elements by ID; the status line; showing and hiding; a list item.
const $ = (id) => document.getElementById(id);
const say = (text) => { $("status").textContent = text; };
const show = (id, visible = true) => $(id).classList.toggle("hidden", !visible);
// Where a session or a device request is: "in PLACE (ADDRESS)" when the server knows the place, else "at ADDRESS".
const where = (x) => (x.place ? "in " + x.place + " (" + x.ip + ")" : "at " + x.ip);
const item = (text, ...children) => { const li = document.createElement("li"); li.append(text, ...children); return li; };
// Every action is a form, so it is reached and sent from the keyboard like any other: submitting it
// (its button, or Enter in one of its fields) runs `action` instead of loading a page.
// `button` makes a one-button form (with `fields` before the button); `onSubmit` wires a page's form
// by ID, and `act` the form around a page's button by the button's ID (set again to replace it).
function button(text, action, ...fields) {
  const form = document.createElement("form");
  form.className = "inline";
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.textContent = text;
  form.append(...fields, submit);
  form.addEventListener("submit", (event) => { event.preventDefault(); action(); });
  return form;
}
const onSubmit = (id, action) => $(id).addEventListener("submit", (event) => { event.preventDefault(); action(event); });
const act = (id, action) => { $(id).form.onsubmit = (event) => { event.preventDefault(); action(); }; };

// A call to the JSON API; a refusal throws an Error carrying the server's code and human title.
async function api(path, body, method) {
  const response = await fetch(path, {
    method: method || (body === undefined ? "GET" : "POST"),
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
    const error = new Error(json.title || ("error " + response.status));
    error.code = json.code;
    error.until = json.until;
    throw error;
  }
  return json;
}

// The browser's WebAuthn JSON methods (WebAuthn Level 3 §5.1.8, §5.1.9, §5.1.10), or the same
// conversions by hand where a browser does not have them yet: options from the server's JSON, and the
// credential back to JSON, with every binary member as base64url.
const fromBase64URL = (text) => {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
};
const toBase64URL = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const withIDs = (list) => (list || []).map((descriptor) => ({ ...descriptor, id: fromBase64URL(descriptor.id) }));

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return { ...json, challenge: fromBase64URL(json.challenge), user: { ...json.user, id: fromBase64URL(json.user.id) }, excludeCredentials: withIDs(json.excludeCredentials) };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: fromBase64URL(json.challenge), allowCredentials: withIDs(json.allowCredentials) };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: toBase64URL(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64URL(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
    if (r.getAuthenticatorData) response.authenticatorData = toBase64URL(r.getAuthenticatorData());
    if (r.getPublicKeyAlgorithm) response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    const key = r.getPublicKey ? r.getPublicKey() : null;
    if (key) response.publicKey = toBase64URL(key);
  } else {
    response.authenticatorData = toBase64URL(r.authenticatorData);
    response.signature = toBase64URL(r.signature);
    if (r.userHandle) response.userHandle = toBase64URL(r.userHandle);
  }
  return { id: credential.id, rawId: toBase64URL(credential.rawId), type: credential.type, response,
    authenticatorAttachment: credential.authenticatorAttachment || null, clientExtensionResults: credential.getClientExtensionResults() };
}

// Confirms this session with a passkey now: the fresh assertion that sensitive actions need.
async function reauth() {
  const options = await api("/api/v1/me/reauth/options", {});
  const credential = await navigator.credentials.get({ publicKey: requestOptions(options.publicKey) });
  return api("/api/v1/me/reauth/verify", { credential: credentialJSON(credential) });
}

// Runs `action`; when the server first wants a fresh passkey assertion, confirms and runs it again.
async function freshly(action) {
  try { return await action(); } catch (error) {
    if (error.code !== "reauthentication_required") throw error;
    await reauth();
    return action();
  }
}

// What a person reads when something fails: what happened and what to do next, in words. The
// browser's own WebAuthn messages (which can carry a specification's address) are never shown; the
// server's refusals come with a human title already.
function explain(error) {
  // The server's refusals carry its code (a string); a DOMException's numeric code is not one.
  if (error && typeof error.code === "string" && !(error instanceof DOMException)) {
    return error.until ? error.message + " Changes are possible again " + when(error.until) + "." : error.message;
  }
  switch (error && error.name) {
    // Browsers give this one name to a prompt closed, timed out, refused, or with no passkey for
    // this site on the device (so that a site cannot learn which): every next step is offered.
    case "NotAllowedError": return "The passkey prompt was closed, timed out, or found no passkey for this site on this device. "
      + "Try again, sign in with another device, or, if you have lost your passkeys, recover your account.";
    case "InvalidStateError": return "This device already holds a passkey for this account. Sign in with it, or add one from another device or security key.";
    case "AbortError": return "The passkey prompt was cancelled.";
    case "SecurityError": return "This page's address does not match the site's passkeys. Open the site at its usual address and try again.";
    case "NotSupportedError": return "This browser cannot use passkeys here. Sign in with another device instead.";
    case "ConstraintError": return "This device cannot check that it is you (no screen lock or fingerprint set up). Set one up, or use another device.";
    case "TypeError": return "The server could not be reached. Check your connection and try again.";
    default: return "Your device could not complete the passkey step. Try again, or use another device.";
  }
}

// A time as a person reads it: how long ago or from now, and the date and time in their own zone.
function when(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const seconds = Math.round((at - Date.now()) / 1000);
  const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  const [unit, size] = units.find(([, size]) => Math.abs(seconds) >= size) || ["second", 1];
  const relative = Math.abs(seconds) < 45 ? "just now"
    : new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(Math.round(seconds / size), unit);
  const absolute = at.toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  return relative + " (" + absolute + ")";
}

// A length of time in words ("3 days", "1 hour", "no wait").
function duration(seconds) {
  if (seconds <= 0) return "no wait";
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const [unit, size] = units.find(([, size]) => seconds >= size && seconds % size === 0) || units.find(([, size]) => seconds >= size);
  const count = Math.round(seconds / size);
  return count + " " + unit + (count === 1 ? "" : "s");
}

// A waiting device-approval code: counts down in `label` ("Expires in 9:41"), and `cancel` stops the
// wait. The caller's polling loop reads `cancelled` and `expired`.
function countdown(seconds, label, cancel) {
  const state = { cancelled: false, expired: false };
  const end = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    label.textContent = left > 0 ? "Expires in " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + "." : "Expired.";
    if (left === 0) { state.expired = true; clearInterval(timer); }
  };
  const timer = setInterval(tick, 1000);
  tick();
  cancel.form.onsubmit = (event) => { event.preventDefault(); state.cancelled = true; clearInterval(timer); label.textContent = "Cancelled."; };
  return state;
}

// Waits `ms`, or less when `state` (a countdown) is cancelled or expires meanwhile.
async function pause(ms, state) {
  const end = Date.now() + ms;
  while (Date.now() < end && !state.cancelled && !state.expired) await new Promise((done) => setTimeout(done, 200));
}

// Starts a device-approval request; with `username`, the account's signed-in devices are asked at
// once and must pick the number this device shows (the answer's `match_number`).
const startDeviceRequest = (username) => api("/api/v1/device/start", username ? { username } : {});

// Polls a device-approval request (RFC 8628 §3.4, §3.5) until it is approved (its answer), or the
// `waiting` countdown is cancelled or expires (null). Any other refusal throws.
async function approval(started, waiting) {
  let interval = started.interval * 1000;
  for (;;) {
    await pause(interval, waiting);
    if (waiting.cancelled || waiting.expired) return null;
    try {
      return await api("/api/v1/device/poll", { device_code: started.device_code });
    } catch (error) {
      if (error.code === "slow_down") interval += 5000;
      else if (error.code !== "authorization_pending") throw error;
    }
  }
}

// Draws the QR code of one of this server's links (`link`) into `container`, so a phone's camera can
// open it; the link stays written beside it for anyone who types it. Built as SVG elements: no markup
// from the network is ever parsed.
async function drawQR(container, link) {
  const drawn = await api("/qr", { link });
  const ns = "http://www.w3.org/2000/svg";
  const make = (name, attributes) => {
    const element = document.createElementNS(ns, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    return element;
  };
  const side = drawn.size + 8;
  const svg = make("svg", { viewBox: "-4 -4 " + side + " " + side, role: "img", "aria-label": "QR code of this link", "shape-rendering": "crispEdges" });
  svg.append(make("rect", { x: -4, y: -4, width: side, height: side, fill: "#fff" }), make("path", { d: drawn.path, fill: "#000" }));
  container.replaceChildren(svg);
}
