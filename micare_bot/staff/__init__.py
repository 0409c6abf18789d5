"""The care-team side (issue 5): staff accounts and roles, the queue, its actions and escalation.

``roster`` (accounts, roles, teams, cover), ``auth`` (staff sessions), ``queue``
(list, read, claim, reply, re-route, re-label, done), ``canned`` (reply templates).
HTTP lives in ``channels/staff_web.py`` (JSON API and the role guard) and
``channels/staff_pages.py`` (server-rendered pages).
"""
