// Service group chat (服务群) on the phone; the bubble renderer and the socket are shared with the console panel.

import { api } from "./desk_common.js";

let TEXTS = {};
export function t(key) { return TEXTS[key] ?? key; }
export function setChatTexts(texts) { TEXTS = texts || {}; }

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// The console's cookie-authenticated fetch (X-Requested-With, 401 → sign in); the panel imports it from here.
export { api };

// The same upload store as the repair page (POST /api/v1/uploads): the answer's id and key attach the file.
export async function upload(file, kind, extra = {}) {
  const form = new FormData();
  form.append("file", file, file.name || `${kind}.bin`);
  form.append("kind", kind);
  for (const [key, value] of Object.entries(extra)) if (value !== undefined && value !== null && value !== "") form.append(key, String(value));
  return api("/api/v1/uploads", { method: "POST", form });
}

// /ws/groups with reconnect (backoff with jitter) and a ping every 25 s that also keeps us "online".
export class GroupSocket {
  constructor({ groupId = null, onMessage, onState, onReconnect }) {
    Object.assign(this, { groupId, onMessage, onState: onState || (() => {}), onReconnect: onReconnect || (() => {}) });
    this.attempt = 0; this.everOpen = false; this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = this.groupId ? `?group_id=${this.groupId}` : "";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/groups${query}`);
    this.onState(this.everOpen ? "reconnecting" : "connecting");
    ws.onopen = () => {
      this.attempt = 0; this.onState("open");
      clearInterval(this.ping);
      this.ping = setInterval(() => { if (ws.readyState === WebSocket.OPEN) ws.send("ping"); }, 25000);
      if (this.everOpen) this.onReconnect();
      this.everOpen = true;
    };
    ws.onmessage = (event) => {
      if (event.data === "pong") return;
      let message;
      try { message = JSON.parse(event.data); } catch { return; /* not ours */ }
      // The server's link to the other workers was down for a while: fetch again what may have been missed.
      if (message.type === "resync") this.onReconnect(); else this.onMessage(message);
    };
    ws.onclose = (event) => {
      clearInterval(this.ping);
      this.onState("reconnecting");
      if (event.code === 4403 || event.code === 4404) return; // refused: retrying will not help
      const delay = Math.min(30000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    };
  }
}

export function timeFormat(zone, lang) {
  const clock = new Intl.DateTimeFormat(lang || "zh-CN", { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false });
  const full = new Intl.DateTimeFormat(lang || "zh-CN", { timeZone: zone, month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
  const day = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
  return (iso) => {
    const at = new Date(iso);
    return day.format(at) === day.format(new Date()) ? clock.format(at) : full.format(at);
  };
}

// A message's text with its web addresses tappable (the bot's "open this device's repair page: https://…"); our own
// pages as 打开 › after the words that name them, rather than a long address that wraps mid-code.
function textHtml(text) {
  return String(text).split(/(https?:\/\/[^\s，。；、）)]+)/).map((part, i) => {
    if (i % 2 === 0) return esc(part);
    let url;
    try { url = new URL(part); } catch { return esc(part); }
    const own = url.origin === location.origin;
    const label = own ? `${t("Open")} ›` : part;
    return `<a class="m-link" href="${esc(own ? url.pathname + url.search : url.href)}"`
      + `${own ? "" : ' target="_blank" rel="noopener"'}>${esc(label)}</a>`;
  }).join("");
}

const AVATAR = { bot: "助", agent: "客", service_center: "远", engineer: "工", lab_user: "检" };

// One message as HTML: system lines centred, bubbles mine right / others left, the bot's with materials and feedback.
export function messageHtml(m, { userId, format, desk = false }) {
  if (m.kind === "system") {
    const link = m.meta && m.meta.ticket_number
      ? ` <a href="${desk ? `/console?ticket=${m.meta.ticket_id}` : `/t/${esc(m.meta.ticket_number)}`}">${esc(t("Open ticket"))}</a>` : "";
    return `<div class="m-system" data-id="${m.id}"><span>${esc(m.text)}${link}</span></div>`;
  }
  const author = m.author || { name: t("System"), kind: null };
  const mine = author.user_id != null && author.user_id === userId;
  const meta = m.meta || {};
  const classes = ["m", mine ? "mine" : "", m.kind === "bot" ? "bot" : "", meta.handoff ? "handoff" : ""].join(" ");
  let body = m.text ? `<div class="m-text">${textHtml(m.text)}</div>` : "";
  const photos = (m.attachments || []).filter((a) => a.kind === "photo");
  if (photos.length) body += `<div class="m-photos">${photos.map((a) => `<a href="${a.url}" target="_blank"><img src="${a.url}" alt="${esc(t("Photo"))}" loading="lazy"></a>`).join("")}</div>`;
  for (const voice of (m.attachments || []).filter((a) => a.kind === "voice")) {
    body += `<div class="m-voice"><audio controls preload="none" src="${voice.url}"></audio>${voice.duration_s ? ` <span class="muted small">${voice.duration_s}″</span>` : ""}</div>`;
  }
  if (m.transcript) body += `<div class="m-transcript">${esc(t("Transcript"))}：${esc(m.transcript)}</div>`;
  const materials = Array.isArray(meta.materials) ? meta.materials : [];
  if (materials.length) {
    body += `<div class="m-materials"><div class="muted small">${esc(t("Materials"))}</div>`
      + materials.map((x) => `<a href="${esc(x.url)}" target="_blank" rel="noopener"><span class="m-kind">${esc(t(`material.${x.kind}`))}</span>${esc(x.title || x.url)}</a>`).join("") + "</div>";
  }
  if (meta.handoff) body += `<div class="m-feedback-note">${esc(t("Handed over to a person"))}</div>`;
  if (m.kind === "bot" && meta.ask_id && !meta.handoff && !desk) {
    // The answer given on this phone before (the bot service keeps the real record).
    const given = localStorage.getItem(`medfix-feedback:${meta.ask_id}`);
    const button = (value, label) => `<button type="button" data-helpful="${value}"${given ? " disabled" : ""}`
      + `${given === value ? ' class="on"' : ""}>${esc(t(label))}</button>`;
    body += `<div class="m-feedback" data-ask="${esc(meta.ask_id)}">${button("true", "Solved")}${button("false", "Not solved")}</div>`
      + `<div class="m-feedback-note"${given ? "" : " hidden"}>${given ? esc(t("Thanks for the feedback")) : ""}</div>`;
  }
  if (m.ticket_number) {
    const href = desk ? `/console?ticket=${m.ticket_id}` : `/t/${esc(m.ticket_number)}`;
    body += `<div class="m-ticket">${esc(t("Ticket"))} <a href="${href}">${esc(m.ticket_number)}</a></div>`;
  }
  const role = author.kind ? `<span class="m-role">${esc(t(`member.${author.kind}`))}</span>` : "";
  return `<div class="${classes}" data-id="${m.id}"><div class="m-avatar k-${esc(author.kind || "system")}">${esc(AVATAR[author.kind] || (author.name || "?").slice(0, 1))}</div>`
    + `<div class="m-body"><div class="m-name">${mine ? "" : esc(author.name)}${mine ? "" : role}<span class="muted small"> ${esc(format(m.created_at))}</span></div>`
    + `<div class="m-bubble">${body}</div></div></div>`;
}

// "解决了 / 没解决" under a bot answer: POST /api/v1/bot/feedback (the bot service); a 404 means not there yet.
export async function sendFeedback(box, helpful) {
  const note = box.nextElementSibling;
  box.querySelectorAll("button").forEach((b) => { b.disabled = true; b.classList.toggle("on", b.dataset.helpful === String(helpful)); });
  try {
    await api("/api/v1/bot/feedback", { method: "POST", json: { ask_id: Number(box.dataset.ask), helpful } });
    note.textContent = t("Thanks for the feedback");
    try { localStorage.setItem(`medfix-feedback:${box.dataset.ask}`, String(helpful)); } catch { /* private mode */ }
  } catch (error) {
    note.textContent = error.status === 404 ? t("Feedback is not available yet") : (error.message || t("Network error; try again."));
    box.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
  note.hidden = false;
}

// ---------------- the phone chat page ----------------

export function startChat(config, texts) {
  setChatTexts(texts);
  const format = timeFormat(config.timeZone, config.lang);
  const list = document.getElementById("c-list");
  const scroller = document.getElementById("c-msgs");
  const older = document.getElementById("c-older");
  const input = document.getElementById("c-input");
  const errorBox = document.getElementById("c-error");
  const newButton = document.getElementById("c-new");
  const messages = new Map();
  let oldest = null;
  let more = true;
  let loading = false;
  let readMark = config.lastRead || 0;
  let readTimer = null;
  let unseen = 0;

  const showError = (text) => {
    errorBox.textContent = text; errorBox.hidden = false;
    clearTimeout(showError.timer); showError.timer = setTimeout(() => { errorBox.hidden = true; }, 3500);
  };
  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  const toBottom = () => { scroller.scrollTop = scroller.scrollHeight; };

  const render = () => {
    const sorted = [...messages.values()].sort((a, b) => a.id - b.id);
    list.innerHTML = sorted.map((m) => messageHtml(m, { userId: config.userId, format })).join("");
    older.textContent = more ? t("Load older messages") : t("No more messages");
  };

  const markRead = () => {
    clearTimeout(readTimer);
    readTimer = setTimeout(async () => {
      const newest = Math.max(0, ...messages.keys());
      if (newest <= readMark || document.hidden) return;
      readMark = newest;
      try { await api(`/api/v1/service-groups/${config.groupId}/read`, { method: "POST", json: { message_id: newest } }); } catch { /* next time */ }
    }, 400);
  };

  const loadPage = async (beforeId) => {
    if (loading) return;
    loading = true;
    try {
      const page = await api(`/api/v1/service-groups/${config.groupId}/messages?limit=30${beforeId ? `&before_id=${beforeId}` : ""}`);
      for (const m of page.items) messages.set(m.id, m);
      if (beforeId || oldest === null) more = page.more;
      if (page.items.length) oldest = Math.min(oldest ?? Infinity, page.items[0].id);
      const height = scroller.scrollHeight;
      render();
      if (beforeId) scroller.scrollTop = scroller.scrollHeight - height; // keep the reader's place
      else { toBottom(); markRead(); }
    } catch (error) {
      showError(error.message || t("Network error; try again."));
    } finally { loading = false; }
  };

  const receive = (m) => {
    const stick = atBottom() || (m.author && m.author.user_id === config.userId);
    messages.set(m.id, m);
    render();
    if (stick) { toBottom(); markRead(); } else {
      unseen += 1;
      newButton.textContent = `↓ ${unseen} ${t("new messages")}`;
      newButton.hidden = false;
    }
  };

  newButton.addEventListener("click", () => { toBottom(); newButton.hidden = true; unseen = 0; markRead(); });
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < 40 && more && oldest) loadPage(oldest);
    if (atBottom()) { newButton.hidden = true; unseen = 0; markRead(); }
  });
  older.addEventListener("click", () => { if (more && oldest) loadPage(oldest); });
  list.addEventListener("click", (event) => {
    const button = event.target.closest(".m-feedback button");
    if (button) sendFeedback(button.parentElement, button.dataset.helpful === "true");
  });
  document.addEventListener("visibilitychange", markRead);

  const post = async (body) => {
    if (config.deviceId) body = { ...body, device_id: config.deviceId };
    const m = await api(`/api/v1/service-groups/${config.groupId}/messages`, { method: "POST", json: body });
    receive(m);
    return m;
  };

  const form = document.getElementById("c-bar");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const send = document.getElementById("c-send");
    send.disabled = true;
    try { await post({ kind: "text", text }); input.value = ""; input.style.height = ""; } catch (error) { showError(`${t("Could not send")}：${error.message}`); } finally { send.disabled = false; input.focus(); }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
  input.addEventListener("input", () => { input.style.height = "auto"; input.style.height = `${Math.min(96, input.scrollHeight)}px`; });

  document.getElementById("c-photo-input").addEventListener("change", async (event) => {
    const files = [...event.target.files].slice(0, 9);
    event.target.value = "";
    if (!files.length) return;
    try {
      const refs = [];
      for (const file of files) { const stored = await upload(file, "photo"); refs.push({ id: stored.id, key: stored.key }); }
      await post({ kind: "photo", text: "", attachments: refs });
    } catch (error) { showError(`${t("Upload failed")}：${error.message}`); }
  });

  voiceNote({ post, showError });

  new GroupSocket({
    groupId: config.groupId,
    onState: (state) => { const el = document.getElementById("c-live"); el.dataset.state = state; el.title = t(state === "open" ? "Live" : "Reconnecting…"); },
    onReconnect: () => loadPage(null),
    onMessage: (message) => { if (message.type === "group.message" && message.group_id === config.groupId) receive(message.message); },
  });
  loadPage(null);
}

// Hold to talk, as on the repair page (report.js): MediaRecorder, the browser's speech recognition for a transcript.
function voiceNote({ post, showError }) {
  const mode = document.getElementById("c-mode");
  const hold = document.getElementById("c-hold");
  const input = document.getElementById("c-input");
  let recorder = null; let chunks = []; let started = 0; let recognition = null; let transcript = ""; let timer = null;
  mode.addEventListener("click", () => {
    const voice = hold.hidden;
    hold.hidden = !voice; input.hidden = voice;
    mode.textContent = voice ? mode.dataset.keyboard : mode.dataset.voice;
  });
  const stop = () => {
    if (recorder && recorder.state === "recording") recorder.stop();
    if (recognition) { try { recognition.stop(); } catch { /* stopped */ } }
    clearTimeout(timer);
    hold.classList.remove("recording"); hold.textContent = t("Hold to talk");
  };
  const start = async (event) => {
    event.preventDefault();
    if (!navigator.mediaDevices || !window.MediaRecorder) { showError(t("This browser cannot record")); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch { showError(t("Microphone permission denied")); return; }
    chunks = []; transcript = "";
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    recorder.onstop = async () => {
      stream.getTracks().forEach((track) => track.stop());
      const seconds = Math.max(1, Math.round((Date.now() - started) / 1000));
      const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      try {
        const stored = await upload(new File([blob], "voice.webm", { type: blob.type }), "voice", { duration_s: Math.min(seconds, 60), transcript });
        await post({ kind: "voice", text: "", attachments: [{ id: stored.id, key: stored.key, transcript: transcript || null }] });
      } catch (error) { showError(`${t("Upload failed")}：${error.message}`); }
    };
    started = Date.now();
    recorder.start(250);
    hold.classList.add("recording"); hold.textContent = t("Release to send");
    timer = setTimeout(stop, 60000);
    const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
    if (Recognition) {
      recognition = new Recognition();
      recognition.lang = document.documentElement.lang || "zh-CN";
      recognition.continuous = true;
      recognition.onresult = (e) => { transcript = [...e.results].map((r) => r[0].transcript).join(""); };
      try { recognition.start(); } catch { recognition = null; }
    }
  };
  hold.addEventListener("pointerdown", start);
  hold.addEventListener("pointerup", stop);
  hold.addEventListener("pointerleave", stop);
}
