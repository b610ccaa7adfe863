// The geofence check on the hospital form: where is this browser, and how far from the geofence centre?

const EARTH_RADIUS_M = 6371008.8;

// Great-circle distance in metres (haversine), as the server's geofence check measures it.
export function distanceM(lat1, lon1, lat2, lon2) {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

export function enableGeofenceCheck(texts) {
  const form = document.getElementById("hospital-form");
  const check = document.getElementById("geo-check");
  const use = document.getElementById("geo-use");
  const result = document.getElementById("geo-result");
  if (!form || !check) return;
  let here = null;
  const field = (name) => form.elements[name];
  const show = (text, kind = "") => { result.textContent = text; result.className = `geo-result ${kind}`; result.hidden = false; };
  const describe = () => {
    if (!here) return;
    const lat = parseFloat(field("latitude").value);
    const lon = parseFloat(field("longitude").value);
    const radius = parseFloat(field("geofence_radius_m").value);
    const position = `${texts.noCentre}: ${here.lat.toFixed(5)}, ${here.lon.toFixed(5)}`;
    if (Number.isNaN(lat) || Number.isNaN(lon)) { show(position); return; }
    const d = distanceM(here.lat, here.lon, lat, lon);
    const amount = d >= 1000 ? `${(d / 1000).toFixed(1)} ${texts.km}` : `${Math.round(d)} ${texts.m}`;
    const inside = !Number.isNaN(radius) && d <= radius;
    show(`${texts.distance}: ${amount} · ${inside ? texts.inside : texts.outside}`, inside ? "inside" : "outside");
  };
  check.addEventListener("click", () => {
    if (!navigator.geolocation) { show(texts.denied, "outside"); return; }
    show(texts.locating);
    navigator.geolocation.getCurrentPosition(
      (pos) => { here = { lat: pos.coords.latitude, lon: pos.coords.longitude }; use.hidden = false; describe(); },
      () => show(texts.denied, "outside"),
      { enableHighAccuracy: true, timeout: 10000 },
    );
  });
  use.addEventListener("click", () => {
    if (!here) return;
    field("latitude").value = here.lat.toFixed(6);
    field("longitude").value = here.lon.toFixed(6);
    describe();
    show(`${result.textContent} · ${texts.filled}`, "inside");
  });
  ["latitude", "longitude", "geofence_radius_m"].forEach((name) => field(name).addEventListener("input", describe));
}
