// The admin console: one page, a view per section, everything through /admin/api/.
// Elements are built with h(), never from HTML strings, so no value from the API can
// become markup.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const view = document.getElementById("view");
const GRANTS = ["authorization_code", "password", "refresh_token", "client_credentials", "convert_token",
  "urn:ietf:params:oauth:grant-type:token-exchange"];
const ID_TOKEN_ALGS = [["RS256", "RS256 (every relying party verifies it)"],
  ["EdDSA", "EdDSA (only for relying parties that verify Ed25519)"]];

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else if (value !== false && value != null) el.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child != null) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

class ApiError extends Error {}

// Set when an application change was not confirmed by every running server; shown
// above the next view drawn.
let unconfirmed = null;

async function api(method, path, body) {
  const response = await fetch("/admin/api" + path, {
    method,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (response.status === 401) location.href = "/admin/login";
  const servers = response.headers.get("Portcullis-Unconfirmed-Servers");
  if (servers) {
    unconfirmed = `${servers} running server(s) did not confirm the change within 5 s. They no longer answer from `
      + "their cache, so the change holds there too; check that they are healthy.";
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(data?.error_description || `The server answered ${response.status}.`);
  return data;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

// A user as a person reads them: the email (the id on hover), or the id when there is
// no email; null when there is no user.
function person(email, id) {
  if (id == null) return null;
  return h("span", { class: "person", title: `user ${id}` }, email || `user ${id}`);
}

function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

function show(...nodes) {
  view.replaceChildren(...nodes);
  if (unconfirmed) view.prepend(message(unconfirmed));
  unconfirmed = null;
}

function message(text, kind = "error") {
  return h("p", { class: kind, role: kind === "error" ? "alert" : "status" }, text);
}

/// A table whose cells carry their column name, for the narrow-screen layout.
function table(columns, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", { "data-label": columns[i] }, cell))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "Nothing here."))));
}

function pager(listing, page, perPage, go) {
  const pages = Math.max(1, Math.ceil(listing.total / perPage));
  return h("div", { class: "pager" },
    h("button", { class: "secondary", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous"),
    h("span", {}, `Page ${page} of ${pages} (${listing.total})`),
    h("button", { class: "secondary", disabled: page >= pages, onclick: () => go(page + 1) }, "Next"));
}

/// Runs an action, then redraws; failures are shown above the view.
async function act(work, redraw) {
  try {
    await work();
    await redraw();
  } catch (error) {
    view.prepend(message(error.message));
  }
}

/// A bar as wide as `percent`; set through the CSSOM, which the page's CSP allows
/// where a style attribute would be refused.
function bar(percent) {
  const fill = h("span", { class: "fill" });
  fill.style.width = `${percent}%`;
  return fill;
}

async function dashboard() {
  const stats = await api("GET", "/stats");
  const peak = Math.max(1, ...stats.sign_ins_per_day.map((d) => d.sign_ins));
  const card = (value, label) => h("div", { class: "card" }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
  show(h("h1", {}, "Dashboard"),
    h("div", { class: "cards" },
      card(stats.users, "users"), card(stats.active_users, "active users"),
      card(stats.applications, "applications"), card(stats.active_sessions, "active sessions")),
    h("h2", {}, "Sign-ins per day"),
    h("div", { class: "panel bars" }, stats.sign_ins_per_day.map((d) =>
      h("div", { class: "bar" },
        h("span", {}, new Date(d.day * 1000).toLocaleDateString()),
        bar((100 * d.sign_ins) / peak),
        h("span", {}, d.sign_ins)))));
}

/// The form to register an application or, given `app`, to edit it (the client type
/// is fixed once registered).
function applicationForm(app, onSaved) {
  const checked = (g) => (app ? app.grant_types.includes(g) : false);
  const grants = GRANTS.map((g) => h("label", {}, h("input", { type: "checkbox", name: "grant", value: g, checked: checked(g) }), g.split(":").pop()));
  const form = h("form", { class: "panel", id: app ? "edit-application" : "new-application" },
    h("h2", {}, app ? `Edit ${app.name}` : "Register an application"),
    h("label", { for: "app-name" }, "Name"),
    h("input", { id: "app-name", name: "name", type: "text", required: true, value: app?.name }),
    app ? h("p", { class: "muted" }, `Client type: ${app.client_type}`) : [
      h("label", { for: "app-type" }, "Client type"),
      h("select", { id: "app-type", name: "client_type" },
        h("option", { value: "confidential" }, "Confidential (a server that keeps a secret)"),
        h("option", { value: "public" }, "Public (browser or mobile app, no secret)"))],
    h("fieldset", { class: "checks" }, h("legend", {}, "Grant types"), grants),
    h("label", { for: "app-redirects" }, "Redirect URIs (one per line)"),
    h("textarea", { id: "app-redirects", name: "redirect_uris", rows: 2 }, app ? app.redirect_uris.join("\n") : ""),
    h("label", { for: "app-logout-redirects" }, "Post-logout redirect URIs (one per line; where signing out may return to)"),
    h("textarea", { id: "app-logout-redirects", name: "post_logout_redirect_uris", rows: 2 },
      app ? app.post_logout_redirect_uris.join("\n") : ""),
    h("label", { for: "app-id-token-alg" }, "ID token signing algorithm"),
    h("select", { id: "app-id-token-alg", name: "id_token_signed_response_alg" },
      ID_TOKEN_ALGS.map(([value, label]) =>
        h("option", { value, selected: (app?.id_token_signed_response_alg ?? "RS256") === value }, label))),
    h("label", {}, h("input", { type: "checkbox", name: "skip_authorization", checked: app?.skip_authorization ?? false }),
      " Skip the consent page (first-party app)"),
    h("p", {}, h("button", { type: "submit" }, app ? "Save" : "Register")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const fields = {
      name: data.get("name"),
      grant_types: data.getAll("grant"),
      redirect_uris: data.get("redirect_uris").split(/\s+/).filter(Boolean),
      post_logout_redirect_uris: data.get("post_logout_redirect_uris").split(/\s+/).filter(Boolean),
      id_token_signed_response_alg: data.get("id_token_signed_response_alg"),
      skip_authorization: data.get("skip_authorization") === "on",
    };
    try {
      const saved = app
        ? await api("PATCH", `/applications/${app.client_id}`, fields)
        : await api("POST", "/applications", { ...fields, client_type: data.get("client_type") });
      await onSaved(saved);
    } catch (error) {
      form.prepend(message(error.message));
    }
  });
  return form;
}

function secretBox(created) {
  if (!created.client_secret) {
    return message(`Registered ${created.name}: client id ${created.client_id}. Public clients have no secret.`, "notice");
  }
  const code = h("code", { id: "client-secret" }, created.client_secret);
  return h("div", { class: "secret", role: "alert" },
    h("strong", {}, `Client secret for ${created.name}`),
    h("p", {}, "Copy it now and keep it safe: it is shown only this once and cannot be recovered. ",
      "Rotating makes a new one."),
    h("p", {}, "Client id: ", h("code", { id: "client-id" }, created.client_id)),
    code,
    h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(created.client_secret) }, "Copy secret"));
}

async function applications(params, flash) {
  const page = Number(params.get("page") || 1);
  const listing = await api("GET", `/applications?page=${page}&per_page=20`);
  const redraw = (banner) => applications(params, banner);
  const rows = listing.items.map((app) => [
    app.name,
    h("code", {}, app.client_id),
    app.client_type,
    app.grant_types.join(", "),
    app.redirect_uris.join(" "),
    h("div", {}, `ID tokens ${app.id_token_signed_response_alg}`,
      app.post_logout_redirect_uris.length ? h("div", { class: "muted" }, `after logout: ${app.post_logout_redirect_uris.join(" ")}`) : null),
    h("div", { class: "row-actions" },
      app.client_type === "confidential" ? h("button", { class: "secondary", onclick: () => act(async () => {
        if (!(await confirmAction(`Rotate the secret of ${app.name}? The current secret stops working at once.`))) return;
        const rotated = await api("POST", `/applications/${app.client_id}/rotate-secret`);
        await redraw(secretBox(rotated));
      }, async () => {}) }, "Rotate secret") : null,
      h("button", { class: "secondary", onclick: () => {
        const editor = applicationForm(app, () => redraw(message(`Saved ${app.name}.`, "notice")));
        view.querySelector("#edit-application")?.remove();
        view.querySelector("table").after(editor);
        editor.querySelector("input").focus();
      } }, "Edit"),
      h("button", { class: "danger", onclick: () => act(async () => {
        if (!(await confirmAction(`Delete ${app.name}? Every token it holds is revoked.`))) return;
        await api("DELETE", `/applications/${app.client_id}`);
      }, () => redraw()) }, "Delete")),
  ]);
  show(h("h1", {}, "Applications"), flash || "",
    table(["Name", "Client id", "Type", "Grants", "Redirect URIs", "OpenID Connect", "Actions"], rows),
    pager(listing, page, 20, (p) => { location.hash = `#/applications?page=${p}`; }),
    applicationForm(null, (created) => redraw(secretBox(created))));
}

async function users(params) {
  const q = params.get("q") || "";
  const page = Number(params.get("page") || 1);
  const listing = await api("GET", `/users?q=${encodeURIComponent(q)}&page=${page}&per_page=20`);
  const redraw = () => users(params);
  const search = h("form", { class: "inline", role: "search" },
    h("div", {}, h("label", { for: "user-q" }, "Email or username"), h("input", { id: "user-q", type: "search", name: "q", value: q })),
    h("button", { type: "submit" }, "Search"));
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/users?q=${encodeURIComponent(new FormData(search).get("q"))}`;
  });
  const rows = listing.items.map((user) => [
    user.email ? h("span", {}, user.email, " ", user.email_verified
      ? h("span", { class: "badge", title: "The user proved they receive mail at this address" }, "verified")
      : h("span", { class: "badge muted" }, "unverified")) : "",
    user.username, user.is_active ? "active" : "deactivated", user.is_staff ? "staff" : "",
    h("div", { class: "row-actions" },
      h("button", { class: user.is_active ? "danger" : "secondary", "data-user": user.id, onclick: () => act(async () => {
        if (user.is_active && !(await confirmAction(`Deactivate ${user.email || user.username}? Their tokens are revoked at once.`))) return;
        await api("PATCH", `/users/${user.id}`, { is_active: !user.is_active });
      }, redraw) }, user.is_active ? "Deactivate" : "Activate"),
      h("button", { class: "secondary", onclick: () => act(async () => {
        if (!(await confirmAction(`${user.is_staff ? "Remove" : "Give"} staff rights ${user.is_staff ? "from" : "to"} ${user.email || user.username}?`))) return;
        await api("PATCH", `/users/${user.id}`, { is_staff: !user.is_staff });
      }, redraw) }, user.is_staff ? "Remove staff" : "Make staff"),
      h("button", { class: "secondary", disabled: !user.email || !user.is_active, onclick: async () => {
        if (!(await confirmAction(`Mail ${user.email} a link to choose a new password? Earlier links stop working.`))) return;
        try {
          await api("POST", `/users/${user.id}/password-reset`);
          view.prepend(message(`A password-reset mail is on its way to ${user.email}.`, "status"));
        } catch (error) {
          view.prepend(message(error.message));
        }
      } }, "Send reset mail"),
      h("a", { href: `#/tokens?user=${user.id}` }, "Tokens"), " ",
      h("a", { href: `#/social?user=${user.id}` }, "Social links")),
  ]);
  show(h("h1", {}, "Users"), search,
    table(["Email", "Username", "Status", "Role", "Actions"], rows),
    pager(listing, page, 20, (p) => { location.hash = `#/users?q=${encodeURIComponent(q)}&page=${p}`; }));
}

async function tokens(params) {
  const user = params.get("user") || "";
  const clientId = params.get("client_id") || "";
  const page = Number(params.get("page") || 1);
  const query = new URLSearchParams({ page, per_page: 20 });
  if (user) query.set("user", user);
  if (clientId) query.set("client_id", clientId);
  const listing = await api("GET", `/tokens?${query}`);
  const redraw = () => tokens(params);
  const filter = h("form", { class: "inline" },
    h("div", {}, h("label", { for: "tok-user" }, "User id"), h("input", { id: "tok-user", type: "number", name: "user", value: user })),
    h("div", {}, h("label", { for: "tok-client" }, "Client id"), h("input", { id: "tok-client", type: "text", name: "client_id", value: clientId })),
    h("button", { type: "submit" }, "Filter"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(filter);
    location.hash = `#/tokens?user=${data.get("user")}&client_id=${encodeURIComponent(data.get("client_id"))}`;
  });
  const rows = listing.items.map((token) => [
    token.kind === "refresh" ? "sign-in (refresh)" : "access", person(token.user_email, token.user_id) ?? "client", h("code", {}, token.client_id),
    token.scope, when(token.created_at), when(token.expires_at),
    h("button", { class: "danger", "data-token": token.id, onclick: () => act(async () => {
      const what = token.kind === "refresh" ? "this sign-in (its refresh and access tokens)" : "this access token";
      if (!(await confirmAction(`Revoke ${what}?`))) return;
      await api("DELETE", `/tokens/${token.id}`);
    }, redraw) }, "Revoke"),
  ]);
  show(h("h1", {}, "Live tokens"), filter,
    table(["Kind", "User", "Client", "Scope", "Issued", "Expires", "Actions"], rows),
    pager(listing, page, 20, (p) => { location.hash = `#/tokens?user=${user}&client_id=${encodeURIComponent(clientId)}&page=${p}`; }));
}

async function social(params) {
  const user = params.get("user") || "";
  const page = Number(params.get("page") || 1);
  const listing = await api("GET", `/social?${new URLSearchParams({ page, per_page: 20, ...(user ? { user } : {}) })}`);
  const redraw = () => social(params);
  const rows = listing.items.map((link) => [
    link.user_id, link.provider, h("code", {}, link.uid), when(link.created_at),
    h("button", { class: "danger", onclick: () => act(async () => {
      if (!(await confirmAction(`Unlink ${link.provider} from user ${link.user_id}?`))) return;
      await api("DELETE", `/social/${link.id}`);
    }, redraw) }, "Unlink"),
  ]);
  show(h("h1", {}, user ? `Social links of user ${user}` : "Social links"),
    table(["User", "Provider", "Provider's id", "Linked", "Actions"], rows),
    pager(listing, page, 20, (p) => { location.hash = `#/social?user=${user}&page=${p}`; }));
}

async function audit(params) {
  const page = Number(params.get("page") || 1);
  const listing = await api("GET", `/audit?page=${page}&per_page=50`);
  const rows = listing.items.map((e) => [when(e.created_at), person(e.actor_email, e.actor_user_id), e.action,
    e.target_type === "user" ? person(e.target_email, e.target_id) : `${e.target_type} ${e.target_id}`,
    e.ip || "", e.detail]);
  show(h("h1", {}, "Audit log"),
    table(["When", "Who", "Action", "Object", "From", "Detail"], rows),
    pager(listing, page, 50, (p) => { location.hash = `#/audit?page=${p}`; }));
}

const routes = { dashboard, applications, users, tokens, social, audit };

async function route() {
  const [path, query] = (location.hash.slice(2) || "dashboard").split("?");
  const name = routes[path] ? path : "dashboard";
  for (const link of document.querySelectorAll("header nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name}`);
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
  }
  try {
    await routes[name](new URLSearchParams(query || ""));
  } catch (error) {
    show(message(error.message));
  }
  view.focus();
}

window.addEventListener("hashchange", route);
route();
