"""gRPC reflection v1 (what current grpcurl and Postman ask first) besides v1alpha, on a real server.

The client side uses v1 message classes built from the v1 descriptor, on the v1 method path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from steward.kit.grpc import GrpcServer
from steward.kit.grpc_reflection import V1_FILE, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME, register_v1_descriptor

V1_METHOD = f"/{V1_SERVICE_NAME}/ServerReflectionInfo"


def _v1_class(name: str) -> Any:
    register_v1_descriptor()
    return message_factory.GetMessageClass(
        descriptor_pool.Default().FindMessageTypeByName(f"grpc.reflection.v1.{name}")
    )


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = GrpcServer(service="kit-test", host="127.0.0.1", port=0)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as ch:
            yield ch
    finally:
        await server.stop(0)


async def _ask(channel: grpc.aio.Channel, **request: Any) -> Any:
    request_cls, response_cls = _v1_class("ServerReflectionRequest"), _v1_class("ServerReflectionResponse")
    call = channel.stream_stream(
        V1_METHOD,
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )

    async def requests() -> AsyncIterator[Any]:
        yield request_cls(**request)

    responses = [r async for r in call(requests(), timeout=5)]
    assert len(responses) == 1
    return responses[0]


async def test_v1_lists_services(channel: grpc.aio.Channel) -> None:
    response = await _ask(channel, list_services="")
    names = {s.name for s in response.list_services_response.service}
    assert {"grpc.health.v1.Health", V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME} <= names


async def test_v1_describes_itself_and_other_services(channel: grpc.aio.Channel) -> None:
    response = await _ask(channel, file_containing_symbol=V1_SERVICE_NAME)
    assert not response.HasField("error_response")
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(b)
        for b in response.file_descriptor_response.file_descriptor_proto
    ]
    own = next(f for f in files if f.name == V1_FILE)
    assert own.package == "grpc.reflection.v1"
    method = own.service[0].method[0]
    assert method.input_type == ".grpc.reflection.v1.ServerReflectionRequest"

    health = await _ask(channel, file_containing_symbol="grpc.health.v1.Health")
    assert health.file_descriptor_response.file_descriptor_proto

    unknown = await _ask(channel, file_containing_symbol="no.such.Service")
    assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
