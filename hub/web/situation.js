// The "situation" view: drawn into <section id="view-situation"> with the helpers of app.js (registerView, api, el).
"use strict";

registerView("situation", {
  async refresh(section) {
    if (!section.childElementCount) section.append(el("p", "Đang xây dựng.", "muted"));
  },
});
