"""Top-level URLs: the admin, the front-end API, the Stripe webhook, the demo."""

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("rcms-api/", include("kuroco_billing.rcms_api.urls")),
    path("direct/stripe/", include("payments.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("demo/", include("kuroco_billing.demo.urls")),
]

# Under /rcms-api/ these answer in the API's JSON envelope; elsewhere Django's pages.
handler400 = "kuroco_billing.rcms_api.views.bad_request"
handler403 = "kuroco_billing.rcms_api.views.permission_denied"
handler404 = "kuroco_billing.rcms_api.views.page_not_found"
handler500 = "kuroco_billing.rcms_api.views.server_error"
