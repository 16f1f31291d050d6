"""Running the API: ``serve_api`` (used by ``workbench api``) with uvicorn."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.paths import workspace_dir
from workbench.service.files import ServiceFiles
from workbench.service.snapshot import read_snapshot, refresh_snapshot_read_only
from workbench.service.state import ApiSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def prepare(workspace: str | Path | None) -> tuple[Path, dict, str]:
    """The workspace folder and its serving snapshot, refreshed from the database when no other
    process holds it; ``(path, snapshot, note)``."""
    path = workspace_dir(workspace)
    if not (path / "workbench.duckdb").exists():
        raise WorkbenchError(f"no workspace database in {path}; build one first with `workbench ingest` "
                             "and `workbench train`, or pass --workspace DIR")
    snapshot, note = refresh_snapshot_read_only(path)
    if snapshot is None:
        read_snapshot(ServiceFiles(path))  # raises the error that says who writes it
    return path, snapshot, note


def serve_api(workspace: str | Path | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
              settings: ApiSettings | None = None, echo=print) -> None:
    """Serve the API of ``workspace`` at ``http://host:port/`` until interrupted."""
    import uvicorn

    from workbench.service.api import create_app

    if not 0 < int(port) < 65536:
        raise WorkbenchError(f"port {port} must be between 1 and 65535, e.g. 8000")
    path, snapshot, note = prepare(workspace)
    app = create_app(path, settings)
    state = app.state.service
    if not len(state.keys):
        echo(f"note: no API keys in {state.files.keys} yet, so every request is refused; "
             "add one with `workbench keys add NAME --role classify`")
    echo(f"serving run {snapshot['serving']['run_id']} ({snapshot['serving']['source']}; {note}) at "
         f"http://{host}:{port}/v1 (docs at /docs; Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False,
                server_header=False)  # which server software answers is not the caller's business
