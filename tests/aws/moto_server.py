"""Runs moto's server mode on loopback, one request at a time.

moto's own launcher serves requests on many threads, and its TransactWriteItems is then not
atomic against a concurrent request (one transaction's Put can land although the transaction
was cancelled). DynamoDB applies a transaction atomically; serving one request at a time gives
the tests that guarantee, so they check Herald's logic rather than moto's thread safety.

Usage: python moto_server.py PORT
"""

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
