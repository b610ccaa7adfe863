// Drag-and-drop ordering of device-group members: every drop sends the full ordered id list.

function toast(text, kind) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, 2500);
}

function renumber(list) {
  list.querySelectorAll(".member .pos").forEach((pos, i) => { pos.textContent = String(i + 1); });
}

export async function saveOrder(list, texts) {
  const ids = [...list.querySelectorAll(".member")].map((li) => Number(li.dataset.deviceId));
  const response = await fetch(`/api/v1/groups/${list.dataset.groupId}/order`, {
    method: "PUT",
    headers: { "Content-Type": "application/json", "X-Requested-With": "medfix" },
    body: JSON.stringify({ device_ids: ids }),
  });
  if (!response.ok) {
    toast(texts.failed, "error");
    // The server keeps the truth: reload so the page never shows an order that was not saved.
    setTimeout(() => window.location.reload(), 1200);
    return;
  }
  renumber(list);
  toast(texts.saved, "ok");
}

export function enableGroupOrdering(texts) {
  document.querySelectorAll("ol.members.sortable").forEach((list) => {
    // global Sortable comes from the sortablejs npm package
    window.Sortable.create(list, {
      handle: ".handle",
      animation: 150,
      onEnd: () => saveOrder(list, texts),
    });
  });
}
