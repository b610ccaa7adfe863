// The WeChat sandbox: a chat view inside the phone iframe, the scan button, and the template messages panel.

import { formatTime } from "./localtime.js";

const POLL_MS = 1500;

const escape = (text) => String(text ?? "").replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

export function startSandbox(config) {
  const t = (key) => config.texts[key] || key;
  const phone = document.getElementById("phone");
  const back = document.getElementById("phone-back");
  const title = document.getElementById("phone-title");
  const status = document.getElementById("scan-status");
  const openidPicker = document.getElementById("openid");
  const chats = {};   // openid -> chat entries, as that user's WeChat would show them
  const seen = new Set();  // template msgids already put into a chat

  const openLink = (openid, path) =>
    `/wechat/sandbox/open?openid=${encodeURIComponent(openid)}&next=${encodeURIComponent(path)}`;

  function bubble(entry, openid) {
    if (entry.from === "me") return `<div class="row me"><div class="bubble">${escape(entry.text)}</div></div>`;
    if (entry.kind === "news") {
      return entry.articles.map((a) => `<div class="row"><a class="news" target="_self"
        ${a.open ? `href="${escape(openLink(openid, a.open))}"` : ""}>
        <strong>${escape(a.title)}</strong><span>${escape(a.description)}</span></a></div>`).join("");
    }
    if (entry.kind === "template") {
      const lines = Object.entries(entry.fields).map(([k, v]) => `<div><em>${escape(k)}</em> ${escape(v)}</div>`);
      return `<div class="row"><a class="template" target="_self"
        ${entry.open ? `href="${escape(openLink(openid, entry.open))}"` : ""}>
        <strong>${escape(t("Template message"))}</strong>${lines.join("")}<span class="more">${escape(t("Tap to open"))} ›</span></a></div>`;
    }
    return `<div class="row"><div class="bubble">${escape(entry.text)}</div></div>`;
  }

  function showChat() {
    const openid = openidPicker.value;
    const entries = chats[openid] || [];
    phone.srcdoc = `<!doctype html><html><head><meta charset="utf-8">
      <link rel="stylesheet" href="/static/css/sandbox.css"></head>
      <body class="chat">${entries.map((e) => bubble(e, openid)).join("") || ""}</body></html>`;
  }

  phone.addEventListener("load", () => {
    let inChat = true;
    try {
      inChat = phone.contentWindow.location.href === "about:srcdoc";
      title.textContent = inChat ? t("WeChat") : (phone.contentDocument.title || t("WeChat"));
      if (inChat) phone.contentWindow.scrollTo(0, phone.contentDocument.body.scrollHeight);
    } catch { /* another origin (the stand-in's authorize page passes through): keep the last title */ }
    back.hidden = inChat;
  });
  back.addEventListener("click", showChat);
  openidPicker.addEventListener("change", showChat);

  function add(openid, entry) {
    (chats[openid] ||= []).push(entry);
    if (openid === openidPicker.value) showChat();
  }

  document.getElementById("scan").addEventListener("click", async () => {
    const label = document.getElementById("label");
    const openid = openidPicker.value;
    status.textContent = t("Scanning…");
    add(openid, { from: "me", text: `[${label.selectedOptions[0].textContent.trim()}]` });
    const response = await fetch("/wechat/sandbox/scan", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ scene: label.value, openid, subscribe: document.getElementById("subscribe").checked }),
    });
    const answer = await response.json();
    if (!response.ok || answer.status !== 200) {
      status.textContent = `${t("The callback failed")}: ${answer.detail || answer.status}`;
      return;
    }
    const reply = answer.reply;
    status.textContent = `/wechat/callback → ${answer.status}`;
    if (reply.type === "news") add(openid, { kind: "news", articles: reply.articles });
    else add(openid, { kind: "text", text: reply.content || t("No reply") });
  });

  // Text and voice messages to the Official Account, answered by the bot.
  async function send(voice) {
    const field = document.getElementById("chat-text");
    const text = field.value.trim();
    const openid = openidPicker.value;
    add(openid, { from: "me", text: voice ? `${t("[Voice]")} ${text}` : text });
    field.value = "";
    const response = await fetch("/wechat/sandbox/message", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ openid, text, voice }),
    });
    const answer = await response.json();
    if (!response.ok || answer.status !== 200) {
      status.textContent = `${t("The callback failed")}: ${answer.detail || answer.status}`;
      return;
    }
    const reply = answer.reply;
    if (reply.type === "news") add(openid, { kind: "news", articles: reply.articles });
    else add(openid, { kind: "text", text: reply.content || t("No reply") });
  }
  document.getElementById("send-text")?.addEventListener("click", () => send(false));
  document.getElementById("send-voice")?.addEventListener("click", () => send(true));

  const bind = document.getElementById("bind-engineer");
  bind?.addEventListener("click", async () => {
    const response = await fetch("/wechat/sandbox/bind-engineer", { method: "POST" });
    if (response.ok) { bind.textContent = t("Engineer bound"); bind.disabled = true; }
  });

  async function poll() {
    try {
      const response = await fetch("/wechat/sandbox/messages");
      if (response.ok) render(await response.json());
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  function render(byUser) {
    for (const [name, list] of Object.entries(byUser)) {
      const box = document.getElementById(`messages-${name}`);
      if (!box) continue;
      const openid = box.dataset.openid;
      box.innerHTML = list.length ? list.map((m) => `<li data-msgid="${m.msgid}">
          <span class="muted small">${escape(formatTime(m.at * 1000, { withDate: false }))} · ${escape(m.template_id)}</span>
          <div class="msg-title">${escape(Object.values(m.fields)[0] || "")}</div>
          <div class="small">${escape(Object.values(m.fields).slice(1).join(" · "))}</div>
          ${m.open ? `<a class="small" href="${escape(openLink(openid, m.open))}" target="phone">${escape(t("Open"))} ›</a>` : ""}
        </li>`).join("") : `<li class="muted small empty">${escape(t("No messages yet."))}</li>`;
      for (const m of list) {
        if (seen.has(m.msgid)) continue;
        seen.add(m.msgid);
        (chats[openid] ||= []).push({ kind: "template", fields: m.fields, open: m.open });
        if (openid === openidPicker.value && back.hidden) showChat();  // only when the chat is showing
      }
    }
  }

  showChat();
  poll();
}
