// Admin console forms: POST with the CSRF header, confirm destructive actions in a dialog, show errors in place,
// show a secret (one-time password, gateway token) once, then go where the server says.

function toast(text, kind = "ok") {
  const el = document.getElementById("toast");
  if (!el || !text) return;
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, 2500);
}

function dialog(id) {
  return document.getElementById(id);
}

// Resolves true when the person confirms in the page's confirm dialog.
export function confirmDialog(text, okText) {
  const box = dialog("confirm-dialog");
  if (!box) return Promise.resolve(true);
  box.querySelector(".dialog-text").textContent = text;
  const ok = box.querySelector("[data-ok]");
  if (okText) ok.textContent = okText;
  return new Promise((resolve) => {
    const finish = (answer) => { box.close(); resolve(answer); };
    ok.onclick = () => finish(true);
    box.querySelector("[data-cancel]").onclick = () => finish(false);
    box.oncancel = () => resolve(false);
    box.showModal();
  });
}

function showSecret(secret, note) {
  const box = dialog("secret-dialog");
  box.querySelector(".secret-value").textContent = secret;
  if (note) box.querySelector(".dialog-text").textContent = note;
  const copy = box.querySelector("[data-copy]");
  copy.onclick = async () => {
    try { await navigator.clipboard.writeText(secret); copy.textContent = copy.dataset.copied; } catch { /* shown */ }
  };
  return new Promise((resolve) => {
    box.querySelector("[data-ok]").onclick = () => { box.close(); resolve(); };
    box.oncancel = (event) => event.preventDefault(); // read it first: it is never shown again
    box.showModal();
  });
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const box = form.querySelector(".form-error");
  if (box) { box.hidden = true; box.textContent = ""; }
}

function showErrors(form, body) {
  let placed = false;
  for (const err of body.errors || []) {
    const input = err.field && form.querySelector(`[name="${err.field}"]`);
    if (!input) continue;
    input.setAttribute("aria-invalid", "true");
    const note = document.createElement("div");
    note.className = "field-error";
    note.textContent = err.message;
    input.closest("label, .field")?.append(note) ?? input.after(note);
    placed = true;
  }
  const box = form.querySelector(".form-error");
  if (box && !placed) { box.textContent = body.detail; box.hidden = false; }
  else if (!box && !placed) toast(body.detail, "error");
}

export async function submit(form) {
  clearErrors(form);
  if (form.dataset.confirm && !(await confirmDialog(form.dataset.confirm, form.dataset.confirmOk))) return;
  const button = form.querySelector("button[type=submit], button:not([type])");
  if (button) button.disabled = true;
  let response;
  try {
    response = await fetch(form.action, {
      method: "POST",
      headers: { "X-Requested-With": "medfix", Accept: "application/json" },
      body: new URLSearchParams(new FormData(form)),
    });
  } catch {
    if (button) button.disabled = false;
    toast(document.body.dataset.networkError || "Network error", "error");
    return;
  }
  if (button) button.disabled = false;
  let body = {};
  try { body = await response.json(); } catch { body = { detail: response.statusText }; }
  if (!response.ok || body.ok === false) { showErrors(form, body); return; }
  if (body.secret) await showSecret(body.secret, body.message);
  else toast(body.message, "ok");
  setTimeout(() => { if (body.redirect) window.location.assign(body.redirect); else window.location.reload(); },
             body.secret ? 0 : 500);
}

export function enableForms(root = document) {
  root.querySelectorAll("form[data-ajax]").forEach((form) => {
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(form); });
  });
}

enableForms();
