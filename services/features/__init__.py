"""Clients of the embedded backend's extension routes (one module per feature, pydantic models in and out).

Each module wraps `ApexApi.call` for the routes one Angular page calls; `NotOffered` from it means
the connected server (a real ApexStore) does not have the feature.
"""
