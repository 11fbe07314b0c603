"""The demo page, at /demo/ (kuroco_billing/urls.py includes it)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.demo, name="demo"),
]
