from django.apps import AppConfig


class RcmsApiConfig(AppConfig):
    name = "kuroco_billing.rcms_api"
    label = "rcms_api"
    verbose_name = "APIs"
