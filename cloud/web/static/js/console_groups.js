// The console's service groups panel: every group with unread badges, the chat, handed-over questions with the
// "mark the right entry" picker (POST /api/v1/bot/asks/{id}/resolve), a message turned into a ticket, requests.
import { GroupSocket, api, esc, messageHtml, setChatTexts, t, timeFormat } from "./groupchat.js";

const groups = new Map();
const messages = new Map();
let current = null;
let more = false;
let loadingOlder = false;
let config;
let format;

const el = (id) => document.getElementById(id);
const panelOpen = () => !el("groups-panel").hidden;

function renderToggle() {
  const total = [...groups.values()].reduce((sum, g) => sum + g.unread, 0);
  const handoffs = [...groups.values()].reduce((sum, g) => sum + (g.handoffs || 0), 0);
  const toggle = el("groups-toggle");
  if (!toggle) return;
  toggle.innerHTML = `${esc(t("Service groups"))}${total ? ` <span class="gp-badge${handoffs ? " handoff" : ""}" id="groups-unread">${total}</span>` : ""}`;
  toggle.classList.toggle("on", panelOpen());
}

function renderGroups() {
  const rows = [...groups.values()].sort((a, b) => (b.handoffs || 0) - (a.handoffs || 0) || (b.unread > 0) - (a.unread > 0)
    || ((b.last_message && b.last_message.id) || 0) - ((a.last_message && a.last_message.id) || 0));
  el("gp-groups").innerHTML = rows.length ? rows.map((g) => {
    const last = g.last_message;
    const preview = last ? `${last.author ? `${last.author.name}：` : ""}${last.text || last.transcript || `[${t("Photo")}]`}` : "";
    return `<li class="gp-group${g.id === current ? " selected" : ""}" data-group="${g.id}"><div class="gp-group-row">`
      + `<span class="gp-group-name">${esc(g.name)}</span>`
      + (g.handoffs ? `<span class="gp-badge handoff" title="${esc(t("Handed over to a person"))}">${g.handoffs}</span>` : "")
      + (g.unread ? `<span class="gp-badge">${g.unread}</span>` : "")
      + `</div><div class="gp-group-last">${esc(g.hospital_name)}${last ? ` · ${esc(format(last.created_at))}` : ""}</div>`
      + `<div class="gp-group-last">${esc(preview.slice(0, 60))}</div></li>`;
  }).join("") : `<li class="gp-empty">${esc(t("No groups yet."))}</li>`;
  renderToggle();
}

function actionsHtml(m) {
  const meta = m.meta || {};
  let html = "";
  // Any bot answer can be corrected (a "not solved" one above all); handed-over ones are highlighted.
  if (m.kind === "bot" && meta.ask_id) html += `<button type="button" class="gp-act" data-pick="${esc(meta.ask_id)}">${esc(t("Mark the right entry"))}</button>`;
  const fromMember = ["text", "photo", "voice"].includes(m.kind) && m.author && m.author.kind === "lab_user";
  if (fromMember && !m.ticket_id) html += `<button type="button" class="gp-act" data-ticket="${m.id}">${esc(t("Turn into ticket"))}</button>`;
  return html ? `<div class="gp-actions" data-for="${m.id}">${html}</div>` : "";
}

function renderChat(stick = true) {
  const box = el("gp-msgs");
  const sorted = [...messages.values()].sort((a, b) => a.id - b.id);
  box.innerHTML = sorted.map((m) => messageHtml(m, { userId: config.userId, format, desk: true }) + actionsHtml(m)).join("")
    || `<div class="gp-empty">…</div>`;
  if (stick) box.scrollTop = box.scrollHeight;
}

async function markRead() {
  const newest = Math.max(0, ...messages.keys());
  const group = groups.get(current);
  if (!newest || !group || !panelOpen()) return;
  try {
    const answer = await api(`/api/v1/service-groups/${current}/read`, { method: "POST", json: { message_id: newest } });
    group.unread = answer.unread;
    group.handoffs = 0;
    renderGroups();
  } catch { /* next time */ }
}

async function openGroup(id) {
  current = id;
  messages.clear();
  const group = groups.get(id);
  el("gp-chat-head").textContent = group ? `${group.name} · ${group.hospital_name}` : "";
  el("gp-compose").hidden = false;
  renderGroups();
  api(`/api/v1/service-groups/${id}/members`).then((members) => {
    el("gp-members").innerHTML = members.map((m) => `<li><span class="m-role">${esc(t(`member.${m.kind}`))}</span>${esc(m.name)}</li>`).join("");
  }).catch(() => {});
  const page = await api(`/api/v1/service-groups/${id}/messages?limit=50`);
  for (const m of page.items) messages.set(m.id, m);
  more = page.more;
  renderChat();
  markRead();
}

// Older messages when the agent scrolls to the top.
async function loadOlder() {
  if (!more || loadingOlder || !current || !messages.size) return;
  loadingOlder = true;
  const box = el("gp-msgs");
  const height = box.scrollHeight;
  try {
    const page = await api(`/api/v1/service-groups/${current}/messages?limit=50&before_id=${Math.min(...messages.keys())}`);
    for (const m of page.items) messages.set(m.id, m);
    more = page.more;
    renderChat(false);
    box.scrollTop = box.scrollHeight - height;
  } catch { /* try again on the next scroll */ } finally { loadingOlder = false; }
}

async function loadGroups() {
  const list = await api("/api/v1/service-groups");
  groups.clear();
  for (const g of list) groups.set(g.id, g);
  renderGroups();
}

function onLive(message) {
  if (message.type === "group.handoff") {
    // "没解决" after an answer, or the bot gave up: the answer in the open chat turns orange.
    for (const m of messages.values()) {
      if (m.meta && String(m.meta.ask_id) === String(message.ask_id)) m.meta = { ...m.meta, handoff: true };
    }
    if (message.group_id === current) renderChat(false);
    loadGroups().catch(() => {});
    return;
  }
  if (message.type !== "group.message") return;
  const m = message.message;
  const group = groups.get(message.group_id);
  if (!group) { loadGroups().catch(() => {}); return; }
  const known = messages.has(m.id);
  if (!group.last_message || group.last_message.id <= m.id) group.last_message = m;
  if (message.group_id === current) {
    messages.set(m.id, m);
    renderChat(!known);
    if (panelOpen()) markRead();
    else if (!known) group.unread += 1;
  } else if (!known && message.event === "posted" && !(m.author && m.author.user_id === config.userId)) {
    group.unread += 1;
    if (m.meta && m.meta.handoff) group.handoffs = (group.handoffs || 0) + 1;
  }
  renderGroups();
}

// ---- the handed-over question: search the knowledge base, mark the entry that answers it ----
function openPicker(button) {
  const askId = button.dataset.pick;
  const holder = button.closest(".gp-actions");
  if (holder.nextElementSibling && holder.nextElementSibling.classList.contains("gp-picker")) return;
  const picker = document.createElement("div");
  picker.className = "gp-picker";
  picker.innerHTML = `<input type="search" placeholder="${esc(t("Search entries"))}"><ul></ul><div class="gp-note"></div>`;
  holder.after(picker);
  const input = picker.querySelector("input");
  const list = picker.querySelector("ul");
  const note = picker.querySelector(".gp-note");
  let timer;
  const search = async () => {
    try {
      const page = await api(`/api/v1/kb/entries?q=${encodeURIComponent(input.value.trim())}&limit=10`);
      const items = page.items || page;
      list.innerHTML = items.length ? items.map((e) => `<li data-entry="${e.id}"><b>${esc(e.question)}</b> <span class="muted">${esc((e.models || []).join(", "))}</span></li>`).join("")
        : `<li class="muted">${esc(t("Nothing found."))}</li>`;
    } catch (error) { note.textContent = error.status === 404 ? t("Knowledge base unavailable") : error.message; }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 250); });
  list.addEventListener("click", async (event) => {
    const item = event.target.closest("[data-entry]");
    if (!item) return;
    try {
      await api(`/api/v1/bot/asks/${askId}/resolve`, { method: "POST", json: { entry_id: Number(item.dataset.entry), answer: null, new_entry: null } });
      note.textContent = `${t("Marked")}：${item.querySelector("b").textContent}`;
      list.innerHTML = "";
    } catch (error) { note.textContent = `${t("Could not save")}：${error.message}`; }
  });
  input.focus();
  search();
}

// ---- a member's message becomes a ticket; without a known device the agent picks one ----
async function toTicket(button, deviceId = null) {
  const messageId = Number(button.dataset.ticket);
  const holder = button.closest(".gp-actions");
  try {
    const made = await api(`/api/v1/service-groups/${current}/messages/${messageId}/ticket`, { method: "POST", json: deviceId ? { device_id: deviceId } : {} });
    holder.innerHTML = `<span class="gp-note">${esc(t("Ticket created"))} <a href="/console?ticket=${made.ticket_id}">${esc(made.number)}</a></span>`;
  } catch (error) {
    const needsDevice = error.body && (error.body.errors || []).some((e) => e.field === "device_id");
    if (!needsDevice || deviceId) { holder.insertAdjacentHTML("beforeend", `<span class="gp-note">${esc(error.message)}</span>`); return; }
    const devices = await api(`/api/v1/service-groups/${current}/devices`);
    const picker = document.createElement("div");
    picker.className = "gp-picker";
    picker.innerHTML = `<select><option value="">${esc(t("Choose the device"))}</option>${devices.map((d) => `<option value="${d.id}">${esc(d.system_number)} ${esc(d.model)} · ${esc(d.department)}</option>`).join("")}</select>`;
    holder.after(picker);
    picker.querySelector("select").addEventListener("change", (event) => {
      if (event.target.value) { picker.remove(); toTicket(button, Number(event.target.value)); }
    });
  }
}

async function loadRequests() {
  const box = el("gp-requests");
  if (!box) return;
  const rows = await api("/api/v1/service-groups/requests?status=pending");
  box.innerHTML = rows.length ? rows.map((r) => `<div class="gp-req" data-request="${r.id}"><b>${esc(r.name)}</b>`
    + `<div class="gp-note">${esc(r.hospital_name)} · ${esc(t("Requested by"))} ${esc(r.requested_by_name)}</div>`
    + `<div>${esc(t("Reason"))}：${esc(r.reason)}</div><div style="margin-top:6px">`
    + `<button type="button" data-decide="true">${esc(t("Approve"))}</button> <button type="button" class="reject" data-decide="false">${esc(t("Reject"))}</button></div></div>`).join("")
    : `<div class="gp-note">${esc(t("No pending requests."))}</div>`;
}

function setOpen(open) {
  el("groups-panel").hidden = !open;
  const url = new URL(location.href);
  if (open && current) url.searchParams.set("group", String(current)); else url.searchParams.delete("group");
  history.replaceState(null, "", url);
  renderToggle();
  if (open) markRead();
}

export async function startGroupsPanel(options) {
  config = options;
  setChatTexts(options.texts);
  format = timeFormat(options.timeZone, options.lang);
  el("groups-toggle").addEventListener("click", () => setOpen(!panelOpen()));
  el("gp-back").addEventListener("click", () => setOpen(false));
  el("gp-groups").addEventListener("click", (event) => {
    const item = event.target.closest("[data-group]");
    if (item) { openGroup(Number(item.dataset.group)); setOpen(true); }
  });
  el("gp-msgs").addEventListener("scroll", () => { if (el("gp-msgs").scrollTop < 30) loadOlder(); });
  el("gp-msgs").addEventListener("click", (event) => {
    const pick = event.target.closest("[data-pick]");
    if (pick) openPicker(pick);
    const ticket = event.target.closest("[data-ticket]");
    if (ticket) toTicket(ticket);
  });
  el("gp-compose").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = el("gp-input");
    const text = input.value.trim();
    if (!text || !current) return;
    try {
      const m = await api(`/api/v1/service-groups/${current}/messages`, { method: "POST", json: { text } });
      messages.set(m.id, m);
      input.value = "";
      renderChat();
    } catch (error) { alert(`${t("Could not save")}：${error.message}`); }
  });
  el("gp-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); el("gp-compose").requestSubmit(); }
  });
  const side = el("gp-requests");
  if (side) side.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-decide]");
    if (!button) return;
    const id = button.closest("[data-request]").dataset.request;
    try {
      await api(`/api/v1/service-groups/requests/${id}/decision`, { method: "POST", json: { approve: button.dataset.decide === "true" } });
      await Promise.all([loadRequests(), loadGroups()]);
    } catch (error) { alert(error.message); }
  });
  await loadGroups();
  loadRequests().catch(() => {});
  new GroupSocket({ onMessage: onLive, onReconnect: () => { loadGroups().catch(() => {}); if (current) openGroup(current); } });
  const wanted = Number(new URLSearchParams(location.search).get("group"));
  if (wanted && groups.has(wanted)) { await openGroup(wanted); setOpen(true); }
}
