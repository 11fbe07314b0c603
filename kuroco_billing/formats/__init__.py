"""Date formats shared by every page (settings.FORMAT_MODULE_PATH)."""
