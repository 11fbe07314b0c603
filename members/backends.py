"""The first authentication backend: refuses a sign-in while a lockout holds."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.helpers import toggleable

from . import lockouts


class SignInThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout of one account from one address, plus the per-address cap."""

    @toggleable
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None and lockouts.address_is_capped(request):
            # Marked as axes marks its own lockouts, so the attempt is not
            # recorded and cannot prolong the lockout.
            request.axes_locked_out = True
            raise AxesBackendPermissionDenied("Too many failed sign-ins from this address")
        return super().authenticate(request, username, password, **kwargs)
