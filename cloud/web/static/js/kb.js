// Knowledge-base admin forms: sent with fetch so the page session's CSRF header goes along.
// A success redirects; a refusal comes back as the same page with the reasons, swapped in place.

async function send(form, texts) {
  const button = form.querySelector("button[type=submit]");
  const label = button ? button.textContent : "";
  if (button) { button.disabled = true; button.textContent = texts.saving; }
  try {
    const response = await fetch(form.action, {
      method: "POST", body: new FormData(form), headers: { "X-Requested-With": "medfix" },
    });
    if (response.redirected) { window.location.assign(response.url); return; }
    const html = await response.text();
    const page = new DOMParser().parseFromString(html, "text/html");
    const main = page.querySelector("main.content");
    if (!main) throw new Error(`unexpected answer ${response.status}`);
    document.querySelector("main.content").replaceWith(main);
    enableKbForms(texts);
    window.scrollTo(0, 0);
  } catch (error) {
    if (button) { button.disabled = false; button.textContent = label; }
    window.alert(`${texts.failed}: ${error.message}`);
  }
}

export function enableKbForms(texts) {
  document.querySelectorAll("form[data-kb-form]").forEach((form) => {
    if (form.dataset.bound) return;
    form.dataset.bound = "1";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      send(form, texts);
    });
  });
}
