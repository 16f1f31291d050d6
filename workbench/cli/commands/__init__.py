"""Subcommands of the ``workbench`` CLI; each module defines ``register(subparsers, common)``."""
