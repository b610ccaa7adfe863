// The repair page asks the bot while the reporter types the description: up to three answers, each expandable,
// with "this solved my problem" (counted as self-served; nothing needs submitting) — self-service before a ticket.

const MIN_CHARS = 6;
const DEBOUNCE_MS = 700;
const MIN_ALTERNATIVE = 0.2; // below this a "maybe" is noise, not help

const box = document.getElementById("bot-suggest");
const form = document.getElementById("report-form");
const field = form?.querySelector("textarea[name=description]");
const T = box ? box.dataset : {};
let lastText = "";
let timer = null;
let generation = 0;
let solved = false; // once the reporter says a suggestion solved it, the bot stops suggesting

function conversationId() {
  const name = `medfix-bot:${form.dataset.code || ""}`;
  let id = sessionStorage.getItem(name);
  if (!id) {
    id = crypto.randomUUID ? crypto.randomUUID().replaceAll("-", "") : `${Date.now()}${Math.random().toString(16).slice(2)}`;
    sessionStorage.setItem(name, id);
  }
  return id;
}

function deviceId() {
  const member = form.ownerDocument.querySelector("input[name=member]:checked");
  const id = (member && member.value) || form.dataset.deviceId;
  return id ? Number(id) : null;
}

async function post(url, body) {
  const response = await fetch(url, { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Requested-With": "medfix" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function materialList(materials) {
  const list = node("ul", "bot-materials");
  for (const m of materials || []) {
    const item = node("li");
    const link = node("a", "", m.title);
    link.href = m.url;
    link.target = "_blank";
    item.append(link);
    list.append(item);
  }
  return list;
}

function suggestion(reply, entry) {
  const details = node("details", "weui-cell bot-suggestion");
  details.append(node("summary", "", entry.question || reply.question || ""));
  const body = node("div", "bot-answer");
  const fill = (answer, materials) => {
    body.replaceChildren(node("div", "bot-answer__text", answer), materialList(materials));
    const solvedButton = node("button", "weui-btn weui-btn_mini weui-btn_primary", T.solved);
    solvedButton.type = "button";
    solvedButton.addEventListener("click", () => markSolved(reply, entry.entry_id));
    const not = node("button", "weui-btn weui-btn_mini weui-btn_default", T.not);
    not.type = "button";
    not.addEventListener("click", () => details.remove());
    const actions = node("div", "bot-actions");
    actions.append(solvedButton, not);
    body.append(actions);
  };
  if (entry.answer) fill(entry.answer, entry.materials);
  details.addEventListener("toggle", async () => {
    if (!details.open || body.childElementCount) return;
    try {
      const response = await fetch(`/api/v1/bot/entries/${entry.entry_id}`);
      if (response.ok) { const full = await response.json(); fill(full.answer, full.materials); }
    } catch { /* the suggestion stays collapsed; the form works regardless */ }
  });
  details.append(body);
  return details;
}

async function markSolved(reply, entryId) {
  try {
    await post("/api/v1/bot/feedback", { ask_id: reply.ask_id, helpful: true, entry_id: entryId,
      conversation_id: reply.conversation_id });
  } catch { /* the reporter is helped either way */ }
  box.replaceChildren(node("div", "weui-cells__title", T.title));
  const done = node("div", "weui-cells bot-done");
  done.append(node("div", "weui-cell", T.done));
  box.append(done);
  solved = true;
}

function show(reply) {
  box.replaceChildren();
  if (reply.urgent) {
    const alarm = node("div", "bot-safety");
    alarm.append(node("strong", "", T.safety), node("div", "", reply.text));
    box.append(alarm);
    box.hidden = false;
    return;
  }
  const items = [];
  if (reply.answer && reply.entry_id) {
    items.push({ entry_id: reply.entry_id, question: reply.question, answer: reply.answer, materials: reply.materials });
  }
  for (const alt of reply.alternatives || []) {
    if (items.length >= 3) break;
    if (alt.confidence >= MIN_ALTERNATIVE && !items.some((i) => i.entry_id === alt.entry_id)) items.push(alt);
  }
  if (!items.length) { box.hidden = true; return; }
  box.append(node("div", "weui-cells__title", T.title));
  const cells = node("div", "weui-cells");
  for (const item of items) cells.append(suggestion(reply, item));
  box.append(cells, node("p", "muted small bot-still", T.still));
  box.hidden = false;
}

async function ask() {
  const text = field.value.trim();
  if (text.length < MIN_CHARS || text === lastText || solved) return;
  lastText = text;
  const mine = ++generation;
  try {
    const reply = await post("/api/v1/bot/ask", { text: text.slice(0, 2000), device_id: deviceId(),
      conversation_id: conversationId(), channel: "report" });
    if (mine === generation) show(reply); // a slower, older answer never replaces a newer one
  } catch { /* suggestions are a bonus: a failure leaves the form as it is */ }
}

if (box && field) {
  field.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, DEBOUNCE_MS);
  });
}
