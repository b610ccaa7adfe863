// Drag and drop of device-group members: within a group every drop sends the full ordered id list; a drop on
// another group of the same hospital moves the device there at that position.

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

export async function moveToGroup(item, list, position, texts) {
  const response = await fetch(`/admin/groups/${list.dataset.groupId}/move`, {
    method: "POST",
    headers: { "X-Requested-With": "medfix", Accept: "application/json" },
    body: new URLSearchParams({ device_id: item.dataset.deviceId, position: String(position) }),
  });
  const body = await response.json().catch(() => ({}));
  toast(response.ok ? (body.warnings?.[0] || body.message || texts.moved) : (body.detail || texts.failed),
        response.ok && !body.warnings?.length ? "ok" : "error");
  // Both groups' counts, warnings and remove buttons change: show the server's view.
  setTimeout(() => window.location.reload(), body.warnings?.length ? 2200 : 900);
}

export function enableGroupOrdering(texts) {
  document.querySelectorAll("ol.members.sortable").forEach((list) => {
    // global Sortable comes from the sortablejs npm package; groups of one hospital share a drag group
    window.Sortable.create(list, {
      group: `hospital-${list.dataset.hospitalId || "any"}`,
      handle: ".handle",
      animation: 150,
      onEnd: (event) => {
        if (event.from === event.to) {
          if (event.oldIndex !== event.newIndex) saveOrder(list, texts);
        } else {
          moveToGroup(event.item, event.to, event.newIndex + 1, texts);
        }
      },
    });
  });
}
