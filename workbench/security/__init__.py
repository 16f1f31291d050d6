"""Security stage: who may do what (one role table for the dashboards and the API), logins and
their throttle, the served app's hardening, safe text, and the limits that keep what a user
sends from running unbounded. Imported by ``service`` and ``app``; imports only lower stages.
"""
