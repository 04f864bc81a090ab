"""Installed models: manifests, directory layout, the catalog, the hub."""
