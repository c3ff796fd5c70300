"""Runs moto's server mode on loopback, one request at a time.

moto's own launcher serves requests on many threads, and its TransactWriteItems is then not
atomic against a concurrent request (one transaction's Put can land although the transaction
was cancelled). DynamoDB applies a transaction atomically; serving one request at a time gives
the tests that guarantee, so they check Herald's logic rather than moto's thread safety.

moto's TransactWriteItems also backs up the whole table once per item of the transaction (a
full deepcopy each time), so a transaction on a table of a few thousand items takes seconds and
gigabytes, and it checks each condition after applying the items before it. It is replaced here
by DynamoDB's documented behaviour: all conditions checked first against the state before the
transaction, then the writes, with only the touched items copied for a rollback. And a query
on the table reads the whole table, sorted, to keep one partition: it reads the partition here.

Usage: python moto_server.py PORT
"""

import copy
import sys

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def _transact_write_items(self, transact_items):
    """TransactWriteItems as DynamoDB documents it: every condition is checked against the
    state before the transaction; if one fails, nothing is written and each item gets its
    cancellation reason. Only then are the writes applied, with a copy of just the touched
    items to restore if one of them fails."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen = set()
    checked = []
    reasons = []
    for entry in transact_items:
        if len(entry) != 1:
            raise TransactWriteSingleOpException()
        op_type, op = next(iter(entry.items()))
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        unique = (str(table_name), str(dict(sorted(key.items()))))
        if unique in seen:
            raise MultipleTransactionsException()
        seen.add(unique)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition,
            op.get("ExpressionAttributeNames"),
            op.get("ExpressionAttributeValues"),
        ).expr(current):
            old = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old = current.to_json()["Attributes"]
            reasons.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            reasons.append((None, None, None))
        checked.append((op_type, op, table_name, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    applied = []
    try:
        for op_type, op, table_name, key, before in checked:
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            applied.append((table_name, key, before))
    except Exception:
        for table_name, key, before in reversed(applied):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before.to_json()["Attributes"])
        raise


DynamoDBBackend.transact_write_items = _transact_write_items


_all_items = Table.all_items
_query = Table.query


def _all_items_of_partition(self):
    # moto's query on the table (not an index) reads every item of the table, sorted, and keeps
    # those of the partition; reading only the partition gives the same answer.
    partition = getattr(self, "_herald_partition", None)
    if partition is None or not self.range_key_attr:
        return _all_items(self)
    return list(self.items.get(partition, {}).values())


def _query_one_partition(self, hash_key, *args, **kwargs):
    on_index = kwargs.get("index_name") or (len(args) > 6 and args[6])
    self._herald_partition = None if on_index else hash_key
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        self._herald_partition = None


Table.all_items = _all_items_of_partition
Table.query = _query_one_partition


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
