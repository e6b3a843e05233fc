"""Prompt generation: Jinja2 templates per task type, rendered within a character budget.

Imports jinja2, so workflow code must not import this package; activities/prompts.py wraps it.
"""
