from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.response import Response
from rest_framework_simplejwt.views import (
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
    TokenVerifyView,
)


@api_view(["GET"])
def me(request):
    return Response({"username": request.user.get_username(), "id": request.user.pk})


urlpatterns = [
    path("api/token/", TokenObtainPairView.as_view()),
    path("api/token/refresh/", TokenRefreshView.as_view()),
    path("api/token/blacklist/", TokenBlacklistView.as_view()),
    path("api/token/verify/", TokenVerifyView.as_view()),
    path("api/me/", me),
    # The same views under another common layout (djoser-style), so clients
    # that take configurable endpoint paths can be tested against it.
    path("auth/jwt/create/", TokenObtainPairView.as_view()),
    path("auth/jwt/refresh/", TokenRefreshView.as_view()),
    path("auth/jwt/blacklist/", TokenBlacklistView.as_view()),
]
