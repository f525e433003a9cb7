// Caretaker's only script: tabs, the role-package picker, and menus. Pages work without
// it (all tab panels show, and the Selected list submits what it holds).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Tabs (WAI-ARIA pattern): click or arrow keys switch panels.
  document.querySelectorAll('[role="tablist"]').forEach((list) => {
    const tabs = Array.from(list.querySelectorAll('[role="tab"]'));
    const show = (tab, focus) => {
      tabs.forEach((t) => {
        const on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        const panel = document.getElementById(t.getAttribute("aria-controls"));
        if (panel) panel.hidden = !on;
      });
      if (focus) tab.focus();
    };
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => show(tab, false));
      tab.addEventListener("keydown", (e) => {
        if (e.key === "ArrowRight") { e.preventDefault(); show(tabs[(i + 1) % tabs.length], true); }
        if (e.key === "ArrowLeft") { e.preventDefault(); show(tabs[(i - 1 + tabs.length) % tabs.length], true); }
      });
    });
    if (tabs.length) show(tabs[0], false);
  });

  // The two-column picker: Available <-> Selected with arrow buttons, double-click or Enter.
  document.querySelectorAll("fieldset.picker").forEach((picker) => {
    const available = picker.querySelector("#available");
    const selected = picker.querySelector("#selected");
    const move = (from, to, all) => {
      Array.from(from.options).filter((o) => all || o.selected).forEach((o) => {
        o.selected = false;
        to.appendChild(o);
      });
      sort(to);
    };
    const sort = (list) => {
      Array.from(list.options)
        .sort((a, b) => a.text.localeCompare(b.text))
        .forEach((o) => list.appendChild(o));
    };
    picker.querySelectorAll("[data-move]").forEach((button) => {
      button.addEventListener("click", () => {
        const kind = button.dataset.move;
        if (kind === "add") move(available, selected, false);
        if (kind === "add-all") move(available, selected, true);
        if (kind === "remove") move(selected, available, false);
        if (kind === "remove-all") move(selected, available, true);
      });
    });
    available.addEventListener("dblclick", () => move(available, selected, false));
    selected.addEventListener("dblclick", () => move(selected, available, false));
    available.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); move(available, selected, false); } });
    selected.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); move(selected, available, false); } });
    // Every package in Selected is submitted, whatever is highlighted.
    picker.closest("form").addEventListener("submit", () => {
      Array.from(selected.options).forEach((o) => { o.selected = true; });
    });
    Array.from(selected.options).forEach((o) => { o.selected = false; });
    sort(available);
    sort(selected);
  });

  // The contractor field matters only for Contractor users.
  const type = document.getElementById("user_type");
  const contractor = document.getElementById("contractor-field");
  if (type && contractor) {
    const sync = () => { contractor.hidden = type.value !== "Contractor"; };
    type.addEventListener("change", sync);
    sync();
  }

  // Create Asset: the Model list offers the chosen manufacturer's models only.
  const manufacturer = document.getElementById("manufacturer");
  const model = document.getElementById("model");
  if (manufacturer && model && manufacturer.tagName === "SELECT" && model.tagName === "SELECT") {
    const syncModels = () => {
      Array.from(model.querySelectorAll("optgroup")).forEach((group) => {
        const on = group.dataset.manufacturer === manufacturer.value;
        group.hidden = !on;
        group.disabled = !on;
      });
      const chosen = model.selectedOptions[0];
      if (chosen && chosen.parentElement.tagName === "OPTGROUP" && chosen.parentElement.disabled) model.value = "";
    };
    manufacturer.addEventListener("change", syncModels);
    syncModels();
  }

  // Menus close when another opens or on a click elsewhere.
  const menus = Array.from(document.querySelectorAll("details.menu"));
  menus.forEach((menu) => menu.addEventListener("toggle", () => {
    if (menu.open) menus.filter((m) => m !== menu).forEach((m) => { m.open = false; });
  }));
  document.addEventListener("click", (e) => {
    menus.forEach((m) => { if (!m.contains(e.target)) m.open = false; });
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") menus.forEach((m) => { m.open = false; });
  });
});

// Copy buttons (the API Secret Key, shown once).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  });
});
