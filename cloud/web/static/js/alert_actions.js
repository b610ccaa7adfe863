// 我来处理 / 标为误报 on an alert list, the phone page's and the desk's alike: ask (each page has its own dialog),
// post, say where the alert stands now and reload. words: the page's texts; ask({ take | refute }) resolves to
// true or the typed reason, null when dismissed; done(message) shows the answer.
export function startAlertActions({ words, ask, done }) {
  const error = document.getElementById("alert-error");
  document.getElementById("alert-list")?.addEventListener("click", async (event) => {
    const take = event.target.closest("[data-take]");
    const refute = event.target.closest("[data-refute]");
    if (!take && !refute) return;
    const body = new URLSearchParams();
    const answer = await ask(take ? "take" : "refute");
    if (!answer) return;
    if (refute) body.set("note", answer);
    const path = take ? `/alerts/${take.dataset.take}/acknowledge` : `/alerts/${refute.dataset.refute}/false-alarm`;
    error.hidden = true;
    const response = await fetch(path, { method: "POST", body,
      headers: { "X-Requested-With": "medfix", Accept: "application/json" } }).catch(() => null);
    const reply = response ? await response.json().catch(() => ({})) : { detail: words.network };
    if (response && response.ok) {
      done(reply.message || "");
      setTimeout(() => location.reload(), 1200);
      return;
    }
    error.textContent = reply.detail || words.network;
    error.hidden = false;
    error.scrollIntoView({ block: "center" });
    // someone else acted first: the list shows where the alert stands now
    if (response && response.status === 409) setTimeout(() => location.reload(), 2500);
  });
}
