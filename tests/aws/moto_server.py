"""Runs moto's server mode on loopback, one request at a time.

moto's own launcher serves requests on many threads, and its TransactWriteItems is then not
atomic against a concurrent request (one transaction's Put can land although the transaction
was cancelled). DynamoDB applies a transaction atomically; serving one request at a time gives
the tests that guarantee, so they check Herald's logic rather than moto's thread safety.

moto's TransactWriteItems also backs up the whole table once per item of the transaction (a
full deepcopy each time), so a 100-item transaction on a table of a few thousand items takes
seconds and gigabytes. The backup is made once per table per call here instead; what moto
stores and returns is unchanged.

Usage: python moto_server.py PORT
"""

import copy
import sys

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class _TableBackupOncePerCall:
    """Stands in for the `copy` module inside one TransactWriteItems call."""

    def __init__(self) -> None:
        self.tables: dict[int, Table] = {}

    def deepcopy(self, obj, memo=None):
        if isinstance(obj, Table):
            if id(obj) not in self.tables:
                self.tables[id(obj)] = copy.deepcopy(obj, memo)
            return self.tables[id(obj)]
        return copy.deepcopy(obj, memo)


_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items_backing_up_once(self, transact_items):
    dynamodb_models.copy = _TableBackupOncePerCall()
    try:
        return _transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_write_items_backing_up_once


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
