"""The front-end JSON API: APIs, their endpoints, and dispatch at /rcms-api/."""
from django.apps import AppConfig


class RcmsApiConfig(AppConfig):
    name = "kuroco_billing.rcms_api"
    label = "rcms_api"
    verbose_name = "APIs"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the token-revocation receivers)
