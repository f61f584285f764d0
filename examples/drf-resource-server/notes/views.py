from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from notes.models import Note
from portcullis_auth import ReadWriteScope


@api_view(["GET"])
@permission_classes([IsAuthenticated, ReadWriteScope])
def me(request):
    user = request.user
    return Response(
        {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
        }
    )


@api_view(["GET"])
@permission_classes([IsAuthenticated, ReadWriteScope])
def notes(request):
    rows = Note.objects.filter(owner=request.user)
    return Response([{"id": n.id, "text": n.text, "created_at": n.created_at} for n in rows])


# A view for other services: any valid token with `read`, a client_credentials one included.
@api_view(["GET"])
@permission_classes([ReadWriteScope])
def stats(request):
    return Response({"notes": Note.objects.count(), "client_id": request.auth.client_id})
