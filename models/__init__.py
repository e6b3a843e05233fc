"""Pydantic models shared by workflows, activities, the relay and the command line.

Nothing here does I/O or imports httpx/jinja2, so workflow code can import it freely.
"""
