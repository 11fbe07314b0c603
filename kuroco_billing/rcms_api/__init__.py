"""The front-end JSON API: APIs, their endpoints, and dispatch at /rcms-api/."""
