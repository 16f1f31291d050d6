"""The classification service: the HTTP API, its keys, its request log and the monitoring of
served traffic.

The API (:mod:`workbench.service.api`, run by ``workbench api``) never opens the workspace
database for writing: it serves from a snapshot file and appends its log to files of its own
(:mod:`workbench.service.files`), which the process holding the database brings back into the
workspace (:mod:`workbench.service.sync`). Monitoring (:mod:`workbench.service.monitoring`)
reads the log and compares it with the serving run's training reference.
"""
