"""gRPC server reflection under both names clients use: ``grpc.reflection.v1`` (current grpcurl,
Postman, grpcui, Go/Java/C++ clients) and ``grpc.reflection.v1alpha`` (older clients).

``grpcio-reflection`` ships only the v1alpha service. The v1 protocol is the same messages with the
same field numbers under the package ``grpc.reflection.v1`` (grpc/grpc-proto: reflection/v1 is v1alpha
renamed), so the v1 service is served by the same servicer with the same (de)serializers, and the v1
file descriptor — the v1alpha one with its package renamed — is added to the default descriptor pool so
that a client asking reflection about ``grpc.reflection.v1.ServerReflection`` itself gets an answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection
V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
_ALPHA = "grpc.reflection.v1alpha"
_V1 = "grpc.reflection.v1"


def _v1_file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = V1_FILE
    proto.package = _V1
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(f".{_ALPHA}."):
                field.type_name = f".{_V1}." + field.type_name.removeprefix(f".{_ALPHA}.")
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(f".{_ALPHA}.", f".{_V1}.")
            method.output_type = method.output_type.replace(f".{_ALPHA}.", f".{_V1}.")
    return proto


def register_v1_descriptor(pool: descriptor_pool.DescriptorPool | None = None) -> None:
    """Add ``grpc/reflection/v1/reflection.proto`` to ``pool`` (the default pool) once."""
    pool = pool or descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        pool.AddSerializedFile(_v1_file_descriptor().SerializeToString())


def enable(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    """Serve reflection v1 and v1alpha on ``server`` listing ``service_names`` and both itself."""
    register_v1_descriptor()
    servicer = ReflectionServicer([*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME])
    handlers = {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(V1_SERVICE_NAME, handlers),
            grpc.method_handlers_generic_handler(V1ALPHA_SERVICE_NAME, handlers),
        )
    )
