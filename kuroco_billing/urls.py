"""Top-level URLs: the admin, the front-end API, the Stripe webhook, the demo."""

from django.contrib import admin
from django.urls import include, path, re_path

from . import views
from .favicon import favicon
from .rcms_api.views import not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("rcms-api/", include("kuroco_billing.rcms_api.urls")),
    path("direct/stripe/", include("payments.urls")),
    # Anything else there is the webhook's JSON 404, even with DEBUG on.
    re_path(r"^direct/stripe/", not_found),
    path("healthz", views.healthz, name="healthz"),
    path("demo/", include("kuroco_billing.demo.urls")),
    path("favicon.ico", favicon, name="favicon"),
]

# Under /rcms-api/ and /direct/stripe/: the JSON envelope; elsewhere Django's pages.
handler400 = "kuroco_billing.rcms_api.views.bad_request"
handler403 = "kuroco_billing.rcms_api.views.permission_denied"
handler404 = "kuroco_billing.rcms_api.views.page_not_found"
handler500 = "kuroco_billing.rcms_api.views.server_error"
