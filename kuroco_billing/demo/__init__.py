"""The demo: ``manage.py seed_demo`` (``make run``, ``make tutorial``) and the /demo/ page."""
