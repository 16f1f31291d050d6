"""Keyboard shortcuts for a page: a tiny browser component that listens to key presses on the
document and sends the ones it is told about to the server.

Keys typed into an input (the search box) or pressed on a focused slider handle (which moves
by its own step) are left alone; ``Escape`` leaves the input.
``focus_key`` (default ``/``) moves the focus into the first input whose placeholder starts
with ``focus_placeholder``, looking inside Bokeh's shadow DOMs.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent


class KeyboardShortcuts(JSComponent):
    """Send presses of ``keys`` to the server: ``pressed`` is the last key pressed, and every press
    (the same key again too) fires its watchers, so pages bind to it:
    ``pn.bind(act, shortcuts.param.pressed, watch=True)``."""

    keys = param.List(default=[], item_type=str, doc="keys sent to the server, e.g. ['a', 'u', 'n']")
    focus_key = param.String(default="/", doc="key that focuses the search box")
    focus_placeholder = param.String(default="Search", doc="start of the search box's placeholder")
    hint = param.String(default="", doc="text shown where the component sits")
    pressed = param.String(default="", doc="the last of ``keys`` pressed (every press fires its watchers)")

    _esm = """
    function deepFind(root, selector) {
      const hit = root.querySelector(selector);
      if (hit) return hit;
      for (const el of root.querySelectorAll("*")) {
        if (el.shadowRoot) {
          const found = deepFind(el.shadowRoot, selector);
          if (found) return found;
        }
      }
      return null;
    }

    export function render({ model, el }) {
      const onKey = (event) => {
        const target = event.composedPath()[0];
        const tag = target && target.tagName ? target.tagName.toUpperCase() : "";
        if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) {
          if (event.key === "Escape" && target.blur) target.blur();
          return;
        }
        if (event.ctrlKey || event.metaKey || event.altKey) return;
        if (target && target.getAttribute && target.getAttribute("role") === "slider") return;
        if (event.key === model.focus_key) {
          const input = deepFind(document, `input[placeholder^="${model.focus_placeholder}"]`);
          if (input) { event.preventDefault(); input.focus(); input.select(); }
          return;
        }
        if (model.keys.includes(event.key)) {
          event.preventDefault();
          model.send_msg({ key: event.key });
        }
      };
      document.addEventListener("keydown", onKey);
      model.on("remove", () => document.removeEventListener("keydown", onKey));
      const hint = document.createElement("span");
      hint.className = "wb-shortcuts";
      hint.style.color = "#555";
      hint.textContent = model.hint;
      model.on("hint", () => { hint.textContent = model.hint; });
      el.appendChild(hint);
    }
    """

    def _handle_msg(self, data) -> None:
        key = data.get("key") if isinstance(data, dict) else None
        if key in self.keys:
            with param.parameterized.discard_events(self):
                self.pressed = key
            self.param.trigger("pressed")  # a second press of the same key is news too
