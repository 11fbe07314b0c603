"""Error reports (Django's debug page, mailed reports) hide secrets with DEBUG on too."""

import re

from django.views.debug import SafeExceptionReporterFilter

_WRAPPER = "sensitive_variables_wrapper"


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Honours ``sensitive_variables``/``sensitive_post_parameters`` whatever DEBUG says.

    Django's own filter stands down when DEBUG is on, and a development machine
    with DEBUG on still holds real test-mode keys and passwords. It also lets the
    nearest marked caller decide alone: ``authenticate()`` (which names only
    ``credentials``) would expose the password in the backend below it, even
    though ``sign_in`` above is marked ``sensitive_variables()``. Here a frame
    anywhere beneath a function marked without names shows no variables at all.
    Settings and environment variables with credentials in URLs are hidden too.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE|_URL|DSN",
        flags=re.IGNORECASE,
    )

    def is_active(self, request) -> bool:
        return True

    def cleanse_setting(self, key, value):
        # Nested values come back here too (dicts, lists): a password inside any URL,
        # such as a cache's LOCATION, is hidden whatever the setting is called.
        value = super().cleanse_setting(key, value)
        if isinstance(value, str):
            return _URL_PASSWORD.sub(rf"\g<head>{self.cleansed_substitute}@", value)
        return value

    def get_traceback_frame_variables(self, request, tb_frame):
        if _beneath_all_sensitive(tb_frame):
            return {name: self.cleansed_substitute for name in tb_frame.f_locals}.items()
        return super().get_traceback_frame_variables(request, tb_frame)


# scheme://user:password@host: the password part, up to the last "@" (a password
# may hold "/" or an unescaped "@"; starring a little more is harmless here).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)\S+@", re.I)


def _beneath_all_sensitive(frame) -> bool:
    """Whether ``frame`` or a caller is a ``sensitive_variables()`` (all variables) wrapper."""
    while frame is not None:
        wrapper = frame.f_locals.get(_WRAPPER) if frame.f_code.co_name == _WRAPPER else None
        if getattr(wrapper, "sensitive_variables", None) == "__ALL__":
            return True
        frame = frame.f_back
    return False
