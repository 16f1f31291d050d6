"""A real JupyterLab from the project's environment, for browser tests of executed notebooks.

:func:`jupyter_lab` copies notebooks into a folder of its own, trusts them (so their HTML and
JavaScript outputs run, as in a notebook the user executed), and starts ``jupyter lab`` on
127.0.0.1 with a known token, the news and update checks off, no browser, every config, data,
runtime, settings and workspace folder in a temporary directory, and cells rendered all at once
(no windowing, so every output is in the page). The server and its kernels stop afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

JUPYTER = Path(sys.executable).parent / "jupyter"

#: per cell of the notebook (markdown cells too, in order): every Bokeh root in its outputs as
#: [canvases of at least 20 x 20 px that show more than one colour, SVGs with content]; Bokeh
#: draws inside shadow roots, which are searched too
FIGURES = """() => {
  function deep(root, selector, out) {
    for (const el of root.querySelectorAll("*")) {
      if (el.matches(selector)) out.push(el);
      if (el.shadowRoot) deep(el.shadowRoot, selector, out);
    }
    return out;
  }
  function sized(el) {
    const r = el.getBoundingClientRect();
    return r.width >= 20 && r.height >= 20;
  }
  function painted(canvas) {
    if (!sized(canvas) || !canvas.width || !canvas.height) return false;
    let ctx;
    try { ctx = canvas.getContext("2d"); } catch (e) { return true; }
    if (!ctx) return true;  // a WebGL canvas: drawn by the GPU, its size is what can be read
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const first = data.slice(0, 4).join();
    for (let i = 0; i < data.length; i += 4 * 13) if (data.slice(i, i + 4).join() !== first) return true;
    return false;
  }
  return [...document.querySelectorAll(".jp-Notebook .jp-Cell")].map(cell =>
    [...cell.querySelectorAll(".jp-OutputArea-output [data-root-id]")].map(root => [
      deep(root, "canvas", []).filter(painted).length,
      deep(root, "svg", []).filter(s => sized(s) && s.childElementCount > 0).length]));
}"""

#: the text of every output area that shows an error (a traceback, stderr, HoloViews' or
#: Panel's rendering error in place of a figure)
ERROR_OUTPUTS = """() => {
  const out = [];
  for (const area of document.querySelectorAll(".jp-OutputArea-output")) {
    const mime = area.getAttribute("data-mime-type") || "";
    const text = area.innerText || "";
    if (mime === "application/vnd.jupyter.stderr" && /Traceback|Error/.test(text)) out.push(text.slice(0, 300));
    else if (/Traceback \\(most recent call last\\)|Unable to run Panel code|Bokeh or Panel library is missing/.test(text))
      out.push(text.slice(0, 300));
  }
  return out;
}"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def figure_outputs(notebook: Path) -> list[int]:
    """Per cell of an executed notebook, how many of its outputs are HoloViews/Panel figures
    (the cell that loads the extension shows Panel's comm manager, not a figure: 0)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    counts = []
    for cell in nb["cells"]:
        mimes = [set(out.get("data", {})) for out in cell.get("outputs", [])]
        loads = any(m.startswith("application/vnd.holoviews_load") for ms in mimes for m in ms)
        counts.append(0 if loads else sum(any(m.startswith("application/vnd.holoviews_exec") for m in ms)
                                          for ms in mimes))
    return counts


def error_outputs(notebook: Path) -> list[str]:
    """The error outputs saved in an executed notebook (``ename: evalue``)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return [f"{out.get('ename')}: {out.get('evalue')}" for cell in nb["cells"]
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


class Lab:
    """A running JupyterLab: ``url(name)`` opens a notebook of its root folder."""

    def __init__(self, root: Path, port: int, token: str):
        self.root, self.port, self.token = root, port, token

    def url(self, name: str) -> str:
        """The address of a notebook in the lab, with the token."""
        return f"http://127.0.0.1:{self.port}/lab/tree/{name}?token={self.token}"


@contextmanager
def jupyter_lab(notebooks: list[Path], workdir: Path, timeout: float = 90) -> Iterator[Lab]:
    """JupyterLab serving trusted copies of ``notebooks`` (see the module docstring)."""
    root = workdir / "lab"
    root.mkdir(parents=True, exist_ok=True)
    home = workdir / "jupyter"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_PLATFORM_DIRS": "1",
           "IPYTHONDIR": str(home / "ipython")}
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True, exist_ok=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    copies = []
    for path in notebooks:
        copies.append(root / path.name)
        shutil.copy(path, copies[-1])
    subprocess.run([str(JUPYTER), "trust", *map(str, copies)], env=env, check=True, capture_output=True)
    port, token = free_port(), secrets.token_hex(16)
    log = open(workdir / "jupyter-lab.log", "wb")
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.open_browser=False", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly", "--ServerApp.allow_remote_access=False",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}: "
                                   + (workdir / "jupyter-lab.log").read_text(errors="replace")[-2000:])
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer on 127.0.0.1:{port} in {timeout:.0f} s")
                time.sleep(0.5)
        yield Lab(root, port, token)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the server and the kernels it started (its own session)
            proc.wait()
        log.close()
