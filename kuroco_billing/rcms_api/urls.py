"""/rcms-api/{api_id}/…: each API's endpoints, OpenAPI document and Swagger UI.

``openapi.json`` and ``swagger/`` are reserved paths; anything else under an
API number goes to the dispatcher, and everything else here is a JSON 404.
"""

from django.urls import path, re_path

from . import views

app_name = "rcms_api"

urlpatterns = [
    path("<int:api_id>/openapi.json", views.openapi_document, name="openapi"),
    path("<int:api_id>/swagger/", views.SwaggerView.as_view(), name="swagger"),
    path("<int:api_id>/<path:path>", views.endpoint, name="endpoint"),
    re_path(r"^.*$", views.not_found, name="not-found"),
]
