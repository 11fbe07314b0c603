from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "External system integration"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the receivers)
