// The technician's view of the nodes (view "nodes"): health per node. Drawn with the helpers of app.js.
"use strict";

const HEALTH = { ok: "Tốt", degraded: "Có lỗi", offline: "Mất kết nối", never_seen: "Chưa kết nối" };

function renderNodes(section, nodes) {
  let table = section.querySelector("#nodes");
  if (!table) {
    table = el("table");
    table.id = "nodes";
    const head = el("tr");
    for (const h of ["Thiết bị", "Tình trạng", "Ghi chú"]) head.append(el("th", h));
    table.append(el("thead"), el("tbody"));
    table.tHead.append(head);
    section.append(el("h2", "Trạm / thiết bị"), table);
  }
  table.tBodies[0].replaceChildren(
    ...nodes.map((n) => {
      const tr = el("tr");
      tr.dataset.nodeId = n.node_id;
      tr.append(el("td", n.name ? `${n.name} (${n.node_id})` : n.node_id));
      tr.append(el("td", HEALTH[n.health] || n.health, `health-${n.health}`));
      tr.append(el("td", n.problems.join("; ")));
      return tr;
    }),
  );
}

registerView("nodes", {
  async refresh(section) {
    renderNodes(section, (await api("/api/nodes")).nodes);
  },
});
