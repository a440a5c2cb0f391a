// The "cameras" view: drawn into <section id="view-cameras"> with the helpers of app.js (registerView, api, el).
"use strict";

registerView("cameras", {
  async refresh(section) {
    if (!section.childElementCount) section.append(el("p", "Đang xây dựng.", "muted"));
  },
});
