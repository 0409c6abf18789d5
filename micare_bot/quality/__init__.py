"""Intake quality for clinics: figures, charts, exports, labeled test runs (issue 7)."""
