from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "External system integration"

    def ready(self) -> None:
        from django.core.signals import request_started

        from . import signals  # noqa: F401  (connects the receivers)
        from .services import drainers

        request_started.connect(drainers.start_with_the_process,
                                dispatch_uid="payments.start_drainer")
