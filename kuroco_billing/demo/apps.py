from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "kuroco_billing.demo"
    label = "demo"
    verbose_name = "Demo"
