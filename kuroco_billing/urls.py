"""Top-level URLs: the admin, the front-end API, the Stripe webhook, the demo."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("rcms-api/", include("kuroco_billing.rcms_api.urls")),
    path("direct/stripe/", include("payments.urls")),
]
