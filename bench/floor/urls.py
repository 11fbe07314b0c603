"""The floor's only URL, outside the product's URLs."""

from django.urls import path

from . import views

urlpatterns = [path("floor/webhook/", views.webhook)]
