"""Generated gRPC/protobuf modules for the worker protocol (scripts/gen_proto.sh)."""
