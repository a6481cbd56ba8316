"""The REST shim: GitLab's AI gateway HTTP API, translated into gRPC calls to the router."""
