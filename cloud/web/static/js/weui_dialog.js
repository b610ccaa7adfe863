// WeUI dialogs for the phone pages: a confirmation, and a question with a reason field (never window.prompt).

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// Resolves to the typed reason (reason: true), true (confirmed) or null (dismissed).
export function weuiDialog({ title = "", text = "", ok = "OK", cancel = "Cancel", reason = false, placeholder = "",
  required = "", warn = false } = {}) {
  return new Promise((resolve) => {
    const box = document.createElement("div");
    box.className = "weui-dialog-wrap";
    box.innerHTML = '<div class="weui-mask"></div>'
      + `<div class="weui-dialog" role="dialog" aria-modal="true" aria-labelledby="dlg-title">`
      + `<div class="weui-dialog__hd"><strong class="weui-dialog__title" id="dlg-title">${esc(title)}</strong></div>`
      + `<div class="weui-dialog__bd">${text ? `<div>${esc(text)}</div>` : ""}`
      + (reason ? `<textarea class="dialog-reason" rows="3" maxlength="400" placeholder="${esc(placeholder)}"></textarea>`
        + '<div class="dialog-error" hidden></div>' : "")
      + "</div><div class=\"weui-dialog__ft\">"
      + `<button type="button" class="weui-dialog__btn weui-dialog__btn_default" data-dlg="cancel">${esc(cancel)}</button>`
      + `<button type="button" class="weui-dialog__btn weui-dialog__btn_primary${warn ? " dialog-warn" : ""}" data-dlg="ok">${esc(ok)}</button>`
      + "</div></div>";
    document.body.appendChild(box);
    const input = box.querySelector("textarea");
    const close = (value) => { box.remove(); document.removeEventListener("keydown", onKey); resolve(value); };
    const onKey = (event) => { if (event.key === "Escape") close(null); };
    document.addEventListener("keydown", onKey);
    box.querySelector("[data-dlg=cancel]").addEventListener("click", () => close(null));
    box.querySelector(".weui-mask").addEventListener("click", () => close(null));
    box.querySelector("[data-dlg=ok]").addEventListener("click", () => {
      if (!input) { close(true); return; }
      const value = input.value.trim();
      if (!value) {
        const error = box.querySelector(".dialog-error");
        error.textContent = required;
        error.hidden = false;
        input.focus();
        return;
      }
      close(value);
    });
    (input || box.querySelector("[data-dlg=ok]")).focus();
  });
}
