"""Stage 5: training runs and their records.

Training the model families on a split (``training``), recording runs and reading them back
(``records``), evaluating a recorded run into the tables the dashboards read (``evaluation``,
``evaluation_tables``), and the whole pipeline of ``workbench demo`` (``pipeline``).
"""
