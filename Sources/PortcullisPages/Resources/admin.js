"use strict";
// The admin page, over the admin API. Reads need an admin's full-rights session; every change asks
// for a fresh passkey assertion first (freshly() in common.js). common.js gives api(), when(), explain() and the element helpers.
(() => {

  // A change: confirmed with a passkey when the server asks, then the page is brought up to date.
  async function change(action, done, refresh) {
    try {
      const result = await freshly(action);
      say(done);
      await refresh();
      await showAudit();
      return result;
    } catch (error) { say("Refused: " + explain(error)); return null; }
  }

  // Accounts: search, details, disable or enable, delete.
  async function searchUsers() {
    try {
      const users = (await api("/api/v1/admin/users?q=" + encodeURIComponent($("user-query").value.trim()))).users;
      $("users").replaceChildren(...(users.length ? users.map((u) => item(
        u.username + (u.admin ? " (administrator)" : "") + (u.disabled ? " — disabled" : "") + ", since " + when(u.createdAt) + ". ",
        button("Show", () => showUser(u.id)))) : [item("No account starts with that.")]));
    } catch (error) { say(explain(error)); }
  }

  async function showUser(id) {
    try {
      const account = await api("/api/v1/admin/users/" + id);
      const u = account.user;
      $("user-name").textContent = u.username + (u.displayName !== u.username ? " (" + u.displayName + ")" : "");
      $("user-state").textContent = (u.disabled ? "Disabled: cannot sign in." : "Active.") + (u.admin ? " Administrator." : "") + " Created " + when(u.createdAt) + ".";
      $("user-passkeys").replaceChildren(...account.passkeys.map((p) => item((p.provider || p.name) + (p.deviceBound ? ", on one device only" : "")
        + ", added " + when(p.createdAt) + (p.lastUsedAt ? ", last used " + when(p.lastUsedAt) : ", never used") + ".")));
      $("user-events").replaceChildren(...account.events.map((e) => item(e.kind.replace(/_/g, " ") + " " + when(e.at) + (e.ip ? " from " + e.ip : "") + ".")));
      $("user-toggle").textContent = u.disabled ? "Enable this account" : "Disable this account (signs it out everywhere)";
      act("user-toggle", () => change(() => api("/api/v1/admin/users/" + u.id + (u.disabled ? "/enable" : "/disable"), {}),
        u.username + (u.disabled ? " is enabled." : " is disabled and signed out everywhere."), async () => { await showUser(u.id); await searchUsers(); }));
      act("user-delete", () => {
        if (!confirm("Delete " + u.username + " and everything of theirs? This cannot be undone.")) return;
        change(() => api("/api/v1/admin/users/" + u.id, undefined, "DELETE"), u.username + " is deleted.",
          async () => { $("user-details").classList.add("hidden"); await searchUsers(); });
      });
      $("user-details").classList.remove("hidden");
    } catch (error) { say(explain(error)); }
  }

  // Apps: the registered clients, a new one (its secret shown once), a new secret, removal.
  async function showClients() {
    const clients = (await api("/api/v1/admin/clients")).clients;
    $("clients").replaceChildren(...(clients.length ? clients.map((c) => item(
      c.name + " (" + c.client_id + "; " + (c.public ? "public" : "confidential") + (c.third_party ? ", third-party" : "") + "): "
        + c.redirect_uris.join(", ") + ". ",
      ...(c.public ? [] : [button("New secret", () => {
        if (!confirm("Make a new secret for " + c.name + "? The current one stops working at once.")) return;
        change(() => api("/api/v1/admin/clients/" + encodeURIComponent(c.client_id) + "/rotate-secret", {}).then((r) => showSecret(c.name, r.client_secret)),
          "A new secret for " + c.name + " is shown below, once.", showClients);
      })]), " ",
      button("Remove", () => {
        if (!confirm("Remove " + c.name + "? Its sign-ins and tokens stop working.")) return;
        change(() => api("/api/v1/admin/clients/" + encodeURIComponent(c.client_id), undefined, "DELETE"), c.name + " is removed.", showClients);
      }))) : [item("No apps yet.")]));
  }

  function showSecret(name, secret) {
    $("client-secret-for").textContent = name;
    $("client-secret").textContent = secret;
    $("client-secret-box").classList.remove("hidden");
  }

  async function registerClient() {
    const body = {
      name: $("client-name").value.trim(),
      redirect_uris: $("client-redirects").value.split("\n").map((uri) => uri.trim()).filter((uri) => uri),
      public: $("client-public").checked, third_party: $("client-third-party").checked,
    };
    const created = await change(() => api("/api/v1/admin/clients", body), body.name + " is registered.", showClients);
    if (!created) return;
    if (created.client_secret) showSecret(created.client.name, created.client_secret);
    $("client-form").reset();
  }

  // Recovery: a user's open requests, approved with the code the person reads out; accounts at risk.
  async function showCases() {
    const username = $("case-username").value.trim();
    try {
      const cases = (await api("/api/v1/admin/recovery-cases?username=" + encodeURIComponent(username))).cases;
      $("cases").replaceChildren(...(cases.length ? cases.map((c) => {
        const input = document.createElement("input");
        input.placeholder = "The code " + username + " reads to you";
        input.setAttribute("aria-label", "Comparison code");
        return item("Asked " + when(c.createdAt) + " from " + c.ip + "; " + c.proofs.length + " approval(s) so far. Approve only after checking who is asking, in person or on a call. ",
          button("Approve", () => change(() => api("/api/v1/admin/recovery-cases/" + c.id + "/approve", { comparisonCode: input.value.trim() }),
            "Approved.", showCases), input));
      }) : [item("No open request for that account.")]));
    } catch (error) { say(explain(error)); }
  }

  async function showUnrecoverable() {
    const accounts = (await api("/api/v1/admin/unrecoverable")).accounts;
    $("unrecoverable").replaceChildren(...(accounts.length ? accounts.map((a) => item(a.user.username + ": " + a.readiness.passkeys + " passkey(s), "
      + a.readiness.acceptedContacts + " of " + a.readiness.threshold + " contacts, " + (a.readiness.recoveryCode ? "a recovery code" : "no recovery code") + "."))
      : [item("None.")]));
  }

  async function showWaysIn() {
    const report = await api("/api/v1/admin/ways-in");
    $("ways-in").replaceChildren(...report.waysIn.map((w) => item(w.name + ": " + w.proofs.join(" + ") + ", " + (w.waitSeconds > 0 ? "after " + w.wait : "no wait")
      + (w.phishingResistant ? ", phishing-resistant" : "") + (w.belowFloor ? ", BELOW THE FLOOR" : "") + "; yields " + w.yields + ".")),
      ...(report.signingKeysNote ? [item(report.signingKeysNote)] : []));
  }

  async function showAudit() {
    const entries = (await api("/api/v1/admin/audit")).entries;
    const words = { admin_granted: "made an administrator", admin_revoked: "no longer an administrator", admin_disabled: "disabled",
      admin_enabled: "enabled", admin_deleted_user: "deleted an account" };
    $("audit").replaceChildren(...(entries.length ? entries.map(({ username, event }) => item(when(event.at) + ": "
      + (event.kind === "admin_deleted_user" ? (username || "an admin") + " deleted the account " + event.username
        : (username || "a deleted account") + " " + (words[event.kind] || event.kind) + (event.by ? " by " + event.by : " from the command line"))
      + (event.ip && event.ip !== "command line" ? " (" + event.ip + ")" : "") + ".")) : [item("Nothing yet.")]));
  }

  onSubmit("user-search", searchUsers);
  onSubmit("client-form", registerClient);
  onSubmit("case-search", showCases);

  (async () => {
    try { await api("/api/v1/admin/audit"); } catch (error) {
      $("not-admin").classList.remove("hidden");
      if (error.code !== "unauthenticated" && error.code !== "admin_required") say(explain(error));
      return;
    }
    $("admin").classList.remove("hidden");
    for (const part of [searchUsers, showClients, showUnrecoverable, showWaysIn, showAudit]) {
      try { await part(); } catch (error) { say(explain(error)); }
    }
  })();
})();
