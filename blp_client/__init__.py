"""A Python client for the BLP estimation service: `Client(url, api_key).estimate(products, spec)`."""

from blp_client.client import Client
from blp_client.errors import (
                               ApiError,
                               BadRequest,
                               Conflict,
                               InvalidInput,
                               JobFailed,
                               NotFound,
                               PayloadTooLarge,
                               ServiceUnavailable,
                               Unauthorized,
                               UnsupportedMediaType,
)
from blp_client.results import CounterfactualResult, Results
from blp_client.spec import build_spec

__all__ = ['Client', 'Results', 'CounterfactualResult', 'build_spec', 'ApiError', 'BadRequest', 'Unauthorized',
           'NotFound', 'Conflict', 'PayloadTooLarge', 'UnsupportedMediaType', 'InvalidInput', 'ServiceUnavailable',
           'JobFailed']
