"""The ``workbench`` command line (entry point :func:`workbench.cli.main.main`); one module of
:mod:`workbench.cli.commands` per group of subcommands."""
