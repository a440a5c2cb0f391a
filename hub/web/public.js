// The public status page's refresh: status.json every minute, rebuilt into the same elements the hub renders
// (hub/api/public_page.py; a test compares the two). textContent only: messages must never be parsed as HTML.
"use strict";
(() => {
  const params = new URLSearchParams(location.search);
  const REFRESH_MS = Math.max(1000, Number(params.get("refresh_ms")) || 60000);
  const TREND = { rising: "↑ lên", falling: "↓ xuống", steady: "→ đứng" };
  const $ = (id) => document.getElementById(id);
  let lastGood = null;

  function h(tag, cls, ...kids) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    n.append(...kids);
    return n;
  }
  const p2 = (n) => String(n).padStart(2, "0");
  // Vietnam is UTC+7 all year: no time-zone database needed, and the phone's own zone does not matter.
  function when(iso) {
    const d = new Date(Date.parse(iso) + 7 * 3600e3);
    return `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())} ${p2(d.getUTCDate())}/${p2(d.getUTCMonth() + 1)}/${d.getUTCFullYear()}`;
  }
  const metres = (x) => `${x.toFixed(2).replace(".", ",")} m`;
  const flow = (x) => `${Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".")} m³/s`;
  const areaLabel = (code, name) => (name ? `${name} (mã ${code})` : `Địa bàn mã ${code}`);
  const list = (items, empty) => (items.length ? h("ul", "list", ...items) : h("p", "empty", empty));

  function areas(s) {
    const items = s.areas.map((a) => {
      const badge = a.risk ? h("span", `badge r${a.risk.level}`, a.risk.label) : h("span", "badge r0", "Chưa có cấp");
      const what = a.risk ? `${a.risk.meaning_vi}. ` : "";
      const kids = [h("div", "head", badge, h("strong", null, areaLabel(a.code, a.name))),
        h("p", null, `${what}${a.warnings} cảnh báo đang có hiệu lực.`)];
      if (a.hazards.length) kids.push(h("ul", "sub", ...a.hazards.map((z) => h("li", null, `${z.name_vi}: cấp ${z.level}`))));
      return h("li", "item", ...kids);
    });
    return h("section", "areas", h("h2", null, "Cấp độ rủi ro thiên tai theo địa bàn"),
      list(items, "Hiện không có địa bàn nào có cảnh báo."));
  }

  function alarms(s) {
    const items = s.alarms.map((a) => h("li", "item",
      h("div", "head", h("span", `badge s-${a.severity}`, a.severity_vi), h("strong", null, a.title_vi)),
      h("p", null, a.message),
      h("p", "meta", `${a.area ? areaLabel(a.area, a.area_name) : "không rõ địa bàn"} · từ ${when(a.since)}`)));
    return h("section", "alarms", h("h2", null, `Cảnh báo đang có hiệu lực (${items.length})`),
      list(items, "Hiện không có cảnh báo nào."));
  }

  function stations(s) {
    const items = s.stations.map((st) => {
      let reading = "Chưa có số liệu đo.";
      if (st.level_m !== null && st.observed_at !== null) {
        reading = `${metres(st.level_m)}${st.trend ? ` ${TREND[st.trend]}` : ""} · lúc ${when(st.observed_at)}` +
          (st.stale ? " (số liệu cũ)" : "");
      }
      return h("li", "item",
        h("div", "head", h("span", st.bd_level === null ? "badge bn" : `badge b${st.bd_level}`, st.bd_label),
          h("strong", null, `Sông ${st.river} · ${st.name}`)),
        h("p", null, reading),
        h("p", "meta", st.bd_m.map((v, i) => `BĐ${i + 1} ${metres(v)}`).join(" · ")));
    });
    return h("section", "stations", h("h2", null, "Mực nước sông"), list(items, "Không có trạm thủy văn nào."));
  }

  function releases(s) {
    const items = s.releases.map((r) => h("li", "item", h("strong", null, `Hồ ${r.name} (${r.province})`),
      h("p", null, `${r.opened ? "Đã mở cửa xả lúc" : "Dự kiến mở cửa xả lúc"} ${when(r.planned_open)}` +
        (r.release_m3s !== null ? ` · lưu lượng ${flow(r.release_m3s)}` : ""))));
    return h("section", "releases", h("h2", null, "Hồ chứa thông báo xả lũ"), list(items, "Không có thông báo xả lũ."));
  }

  function render(s) {
    const main = $("status");
    if (!s.available) {
      main.replaceChildren(h("p", "empty", "Máy chủ này chưa bật hệ thống cảnh báo: chưa có số liệu để hiển thị."));
    } else {
      main.replaceChildren(areas(s), alarms(s), stations(s), releases(s));
    }
    $("updated").textContent = `Cập nhật lúc ${when(s.generated_at)} (giờ Việt Nam)`;
    lastGood = s.generated_at;
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  }

  async function refresh() {
    if (document.visibilityState === "hidden") return; // a phone in a pocket spends no data
    try {
      const resp = await fetch("/public/status.json", { headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error(String(resp.status));
      render(await resp.json());
    } catch {
      const since = lastGood ? `; số liệu hiển thị từ ${when(lastGood)}` : "";
      $("updated").textContent = `Không tải được số liệu mới, đang thử lại${since}.`;
    }
  }

  setInterval(refresh, REFRESH_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refresh(); });
})();
