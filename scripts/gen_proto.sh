#!/usr/bin/env bash
# Regenerates the checked-in Python modules from transport/proto/federation.proto.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/unseen/transport/proto
python -m grpc_tools.protoc -I "$out" --python_out="$out" --grpc_python_out="$out" --mypy_out="$out" --mypy_grpc_out="$out" "$out/federation.proto"
# grpc_tools writes an absolute-looking import; make it package-relative.
sed -i 's/^import federation_pb2 as federation__pb2/from unseen.transport.proto import federation_pb2 as federation__pb2/' "$out/federation_pb2_grpc.py"
sed -i 's/^import federation_pb2 as _federation_pb2$/from unseen.transport.proto import federation_pb2 as _federation_pb2/' "$out/federation_pb2_grpc.pyi"
