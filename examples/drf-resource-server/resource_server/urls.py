from django.urls import path

from notes import views

urlpatterns = [
    path("api/me", views.me),
    path("api/notes", views.notes),
    path("api/notes/stats", views.stats),
]
