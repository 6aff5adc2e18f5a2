"""FetchData stage: the Fetcher ABC and the built-in sources."""

from plmkit.stages.fetch.base import SPLITS, Fetcher
from plmkit.stages.fetch.files import FileFetcher
from plmkit.stages.fetch.frame import DataFrameFetcher
from plmkit.stages.fetch.nsmc import NsmcFetcher
from plmkit.stages.fetch.read import TableOptions, read_table
from plmkit.stages.fetch.url import UrlFetcher

__all__ = [
    "SPLITS",
    "DataFrameFetcher",
    "Fetcher",
    "FileFetcher",
    "NsmcFetcher",
    "TableOptions",
    "UrlFetcher",
    "read_table",
]
