"""Sign-in lockouts in the admin: see who is locked out from where, and clear it."""

from __future__ import annotations

import math

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import ngettext

from . import lockouts


class LockoutAdmin(AccessAttemptAdmin):
    """Axes' failure records, one per account, address and browser."""

    list_display = [
        "username",
        "ip_address",
        "failures_since_start",
        "attempt_time",
        "locked_out_until",
        "user_agent",
    ]
    list_display_links = ["username"]
    actions = ["clear_lockout"]

    @admin.display(description="locked out until")
    def locked_out_until(self, obj: AccessAttempt):
        if not lockouts.is_locked_out(obj):
            return "—"
        cool_off = get_cool_off()
        return obj.attempt_time + cool_off if cool_off is not None else "until cleared"

    @admin.action(description="Clear lockout", permissions=["delete"])
    def clear_lockout(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        cleared = lockouts.clear(queryset)
        self.message_user(
            request,
            ngettext(
                "Cleared %d failure record: that account may sign in from that address again.",
                "Cleared %d failure records: those accounts may sign in from those "
                "addresses again.",
                cleared,
            ) % cleared,
            messages.SUCCESS,
        )


admin.site.register(AccessAttempt, LockoutAdmin)
admin.site.register(AccessFailureLog, AccessFailureLogAdmin)
admin.site.register(AccessLog, AccessLogAdmin)


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """django-axes' answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE).

    The admin's login gets a page in the site's look with the time left and a way
    back; anything under the JSON paths keeps the API's 429 envelope.
    """
    from django.contrib.admin import site
    from django.template.response import TemplateResponse

    from kuroco_billing.rcms_api.errors import ApiError
    from kuroco_billing.rcms_api.failures import JSON_PATH_PREFIXES, failure

    from .services import LOCKED_OUT

    username = (credentials or {}).get("username") or request.POST.get("username", "")
    seconds = lockouts.seconds_left(request, username.strip().lower())
    headers = {"Retry-After": str(seconds)} if seconds is not None else {}
    if request.path.startswith(JSON_PATH_PREFIXES):
        return failure(ApiError("too_many_requests", LOCKED_OUT, headers=headers), request)
    context = {
        **site.each_context(request),
        "title": "Sign-in locked",
        "minutes_left": math.ceil(seconds / 60) if seconds is not None else None,
        "back_url": request.get_full_path(),
    }
    response = TemplateResponse(request, "admin/lockout.html", context, status=429,
                                headers=headers)
    return response.render()
