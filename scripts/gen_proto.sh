#!/usr/bin/env bash
# Regenerate the gRPC/protobuf modules from mediaserver/engines/ipc/proto/engine.proto.
# The generated files are committed; run this after editing the .proto (needs grpcio-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
"$PYTHON" -m grpc_tools.protoc \
    --proto_path=. \
    --python_out=. \
    --grpc_python_out=. \
    mediaserver/engines/ipc/proto/engine.proto
