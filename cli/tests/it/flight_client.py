"""Flight SQL client checks against Strata's Flight SQL server, for the Rust integration tests.

    flight_client.py HOST:PORT [--user U --password P] [--ca CA.pem] MODE [options]

Modes (each exits 0 when every expectation holds, 1 with a message on stderr otherwise, and prints a JSON
summary on stdout):

    metadata [--out FILE]       catalogs, schemas, tables and columns through ADBC (GetObjects, GetTableSchema,
                                GetInfo, GetTableTypes); FILE gets the objects as JSON
    query --out FILE [--symbol S] [--sql SQL]
                                a parameterized query through ADBC (prepare, bind with DoPut, execute):
                                `SELECT * FROM gold.daily_indicators WHERE symbol = ? ORDER BY trade_date` by default;
                                FILE gets the result: .json ({"columns", "types", "rows"}), .csv or .arrow (Arrow IPC
                                file, exact types for comparing with the embedded engine)
    doget [--user2 U --password2 P]
                                raw pyarrow.flight: handshake, GetFlightInfo(CommandStatementQuery), DoGet; a forged
                                ticket, a reused ticket and a ticket without a token are refused (and one redeemed by
                                another user, with --user2)
    bad-auth                    --password is wrong: ADBC and pyarrow both fail with Unauthenticated; so does a
                                connection without credentials
    read-only                   COPY … TO, CREATE EXTERNAL TABLE, CREATE TABLE AS, INSERT and SET are refused
    users-line                  print the users-file line (`user:sha256hex`) for --user/--password; no server needed

TLS: with --ca (the PEM file of the certificate authority, or of a self-signed server certificate) the client
connects with grpc+tls:// and verifies the server against it. Needs `pyarrow`, `adbc-driver-flightsql` and
`adbc-driver-manager`.
"""
import argparse
import datetime
import decimal
import hashlib
import json
import math
import os
import sys

SQL_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
DEFAULT_SQL = "SELECT * FROM gold.daily_indicators WHERE symbol = ? ORDER BY trade_date"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


# ---------------------------------------------------------------------------------------------------------------
# Connections


def host_port(address):
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def uri(args):
    host, port = host_port(args.address)
    scheme = "grpc+tls" if args.ca else "grpc"
    return f"{scheme}://{host}:{port}"


def read_ca(args):
    if not args.ca:
        return None
    with open(args.ca, "rb") as f:
        return f.read()


def adbc_connect(args, user=None, password=None, credentials=True):
    """An ADBC DB-API connection (the handshake happens here when credentials are given)."""
    import adbc_driver_flightsql
    import adbc_driver_flightsql.dbapi

    db_kwargs = {}
    if credentials:
        db_kwargs["username"] = args.user if user is None else user
        db_kwargs["password"] = args.password if password is None else password
    ca = read_ca(args)
    if ca is not None:
        db_kwargs[adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value] = ca.decode()
    return adbc_driver_flightsql.dbapi.connect(uri(args), db_kwargs=db_kwargs, autocommit=True)


def flight_client(args):
    import pyarrow.flight as flight

    ca = read_ca(args)
    if ca is None:
        return flight.FlightClient(uri(args))
    return flight.FlightClient(uri(args), tls_root_certs=ca)


def flight_login(client, user, password):
    """Basic-auth handshake; returns call options carrying the bearer token."""
    import pyarrow.flight as flight

    header = client.authenticate_basic_token(user, password)
    name, value = header
    check(name.lower() == b"authorization", f"handshake answered header {name!r}, expected authorization")
    check(value.startswith(b"Bearer "), "handshake answered no bearer token")
    return flight.FlightCallOptions(headers=[header])


# ---------------------------------------------------------------------------------------------------------------
# Hand-written protobuf for the few Flight SQL messages needed (pyarrow has no Flight SQL client)


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes_field(number, data):
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def flight_sql_any(message_name, payload):
    """A google.protobuf.Any wrapping a Flight SQL message."""
    return _bytes_field(1, (SQL_PREFIX + message_name).encode()) + _bytes_field(2, payload)


def statement_query(sql):
    return flight_sql_any("CommandStatementQuery", _bytes_field(1, sql.encode()))


def statement_ticket(handle):
    return flight_sql_any("TicketStatementQuery", _bytes_field(1, handle))


def expect_failure(what, call, *fragments, status=None):
    """Run `call`, which must fail; its message must contain every fragment (case-insensitive)."""
    try:
        call()
    except Exception as e:  # noqa: BLE001 - any client error type is fine, the message is what is checked
        text = str(e)
        for fragment in fragments:
            check(fragment.lower() in text.lower(), f"{what}: error {type(e).__name__} does not mention "
                                                    f"{fragment!r}: {text}")
        if status is not None and hasattr(e, "status_code"):
            check(e.status_code == status, f"{what}: ADBC status {e.status_code!r}, expected {status!r}: {text}")
        return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"
    raise CheckFailed(f"{what}: succeeded, but should have failed")


# ---------------------------------------------------------------------------------------------------------------
# Output


def json_value(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def write_table(table, path, fmt=None):
    import pyarrow as pa
    import pyarrow.csv

    fmt = fmt or os.path.splitext(path)[1].lstrip(".").lower() or "json"
    if fmt == "csv":
        pyarrow.csv.write_csv(table, path)
    elif fmt in ("arrow", "ipc", "feather"):
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    elif fmt == "json":
        columns = table.column_names
        data = [table.column(name).to_pylist() for name in columns]
        rows = [[json_value(column[i]) for column in data] for i in range(table.num_rows)]
        with open(path, "w") as f:
            json.dump({"columns": columns, "types": [str(t) for t in table.schema.types], "rows": rows}, f)
    else:
        raise SystemExit(f"unknown output format {fmt!r} (json, csv or arrow)")


# ---------------------------------------------------------------------------------------------------------------
# Modes


def mode_metadata(args):
    with adbc_connect(args) as conn:
        info = {k: json_value(v) for k, v in conn.adbc_get_info().items()}
        check(info.get("vendor_name") == "Strata", f"GetSqlInfo names vendor {info.get('vendor_name')!r}")
        table_types = conn.adbc_get_table_types()
        check("TABLE" in table_types, f"table types {table_types}")
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        catalogs = [c["catalog_name"] for c in objects]
        check(catalogs == ["strata"], f"catalogs {catalogs}, expected ['strata']")
        tables = {}
        for catalog in objects:
            for schema in catalog["catalog_db_schemas"] or []:
                for table in schema["db_schema_tables"] or []:
                    name = f"{schema['db_schema_name']}.{table['table_name']}"
                    tables[name] = {
                        "type": table["table_type"],
                        "columns": [c["column_name"] for c in table["table_columns"] or []],
                    }
        summary = {"mode": "metadata", "info": info, "table_types": table_types, "tables": tables}
        if "gold.daily_indicators" in tables:
            check("symbol" in tables["gold.daily_indicators"]["columns"],
                  f"gold.daily_indicators columns {tables['gold.daily_indicators']['columns']}")
            schema = conn.adbc_get_table_schema("daily_indicators", db_schema_filter="gold")
            check("trade_date" in schema.names, f"GetTableSchema gave {schema.names}")
        missing = expect_failure(
            "schema of a missing table",
            lambda: conn.adbc_get_table_schema("no_such_table", db_schema_filter="gold"),
        )
        summary["missing_table"] = missing
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


def mode_query(args):
    with adbc_connect(args) as conn, conn.cursor() as cursor:
        symbol = args.symbol
        if symbol is None:
            cursor.execute("SELECT min(symbol) AS symbol FROM gold.daily_indicators")
            symbol = cursor.fetchone()[0]
            check(symbol is not None, "gold.daily_indicators is empty")
        cursor.execute(args.sql, (symbol,))
        table = cursor.fetch_arrow_table()
        check(table.num_rows > 0, f"no rows for symbol {symbol!r}")
        if "symbol" in table.column_names:
            seen = set(table.column("symbol").to_pylist())
            check(seen == {symbol}, f"rows of other symbols came back: {sorted(seen)[:5]}")
        # The same prepared statement, bound again with another value, runs again.
        cursor.execute(args.sql, ("NO SUCH SYMBOL",))
        check(cursor.fetch_arrow_table().num_rows == 0, "a symbol that does not exist returned rows")
    write_table(table, args.out, args.format)
    return {"mode": "query", "symbol": symbol, "rows": table.num_rows, "columns": table.column_names,
            "out": args.out}


def mode_doget(args):
    import pyarrow.flight as flight

    client = flight_client(args)
    options = flight_login(client, args.user, args.password)
    sql = "SELECT 41 + 1 AS answer, 'strata' AS name"

    def ticket():
        info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)), options)
        check(len(info.endpoints) == 1, f"{len(info.endpoints)} endpoints")
        check(info.schema.names == ["answer", "name"], f"FlightInfo schema {info.schema.names}")
        return info.endpoints[0].ticket

    first = ticket()
    table = client.do_get(first, options).read_all()
    check(table.to_pylist() == [{"answer": 42, "name": "strata"}], f"DoGet returned {table.to_pylist()}")
    summary = {"mode": "doget", "rows": table.num_rows}
    summary["reused"] = expect_failure(
        "a redeemed ticket", lambda: client.do_get(first, options).read_all(), "unknown or expired ticket")
    forged = flight.Ticket(statement_ticket(b"0" * 32))
    summary["forged"] = expect_failure(
        "a forged ticket", lambda: client.do_get(forged, options).read_all(), "unknown or expired ticket")
    fresh = ticket()
    summary["no_token"] = expect_failure(
        "DoGet without a token", lambda: client.do_get(fresh).read_all(), "authorization")
    summary["bad_token"] = expect_failure(
        "DoGet with a made-up token",
        lambda: client.do_get(fresh, flight.FlightCallOptions(
            headers=[(b"authorization", b"Bearer " + b"f" * 64)])).read_all(),
        "invalid or expired bearer token")
    if args.user2:
        other = flight_login(flight_client(args), args.user2, args.password2)
        summary["other_user"] = expect_failure(
            "a ticket redeemed by another user", lambda: client.do_get(fresh, other).read_all(),
            "belongs to another user")
    # The owner can still redeem it.
    check(client.do_get(fresh, options).read_all().num_rows == 1, "the owner could not redeem a ticket")
    return summary


def mode_bad_auth(args):
    import adbc_driver_manager
    import pyarrow.flight as flight

    unauthenticated = adbc_driver_manager.AdbcStatusCode.UNAUTHENTICATED
    summary = {"mode": "bad-auth"}

    def adbc_wrong_password():
        with adbc_connect(args) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()

    summary["adbc"] = expect_failure(
        "ADBC with a wrong password", adbc_wrong_password, "invalid user name or password", status=unauthenticated)
    summary["pyarrow"] = expect_failure(
        "pyarrow handshake with a wrong password",
        lambda: flight_client(args).authenticate_basic_token(args.user, args.password),
        "invalid user name or password")
    try:
        flight_client(args).authenticate_basic_token(args.user, args.password)
    except flight.FlightUnauthenticatedError:
        pass
    else:
        raise CheckFailed("a wrong password did not raise FlightUnauthenticatedError")

    def adbc_anonymous():
        with adbc_connect(args, credentials=False) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()

    summary["anonymous"] = expect_failure(
        "ADBC without credentials", adbc_anonymous, "authorization", status=unauthenticated)
    return summary


def mode_read_only(args):
    import adbc_driver_manager
    import pyarrow.flight as flight

    unauthorized = adbc_driver_manager.AdbcStatusCode.UNAUTHORIZED
    target = "/tmp/strata_flight_copy_check.csv"
    statements = [
        f"COPY (SELECT 1 AS x) TO '{target}'",
        "CREATE EXTERNAL TABLE strata_flight_probe STORED AS CSV LOCATION '/etc/hostname'",
        "CREATE TABLE gold.strata_flight_probe AS SELECT 1 AS x",
        "INSERT INTO gold.daily_indicators SELECT * FROM gold.daily_indicators LIMIT 0",
        "SET datafusion.execution.batch_size = 1",
    ]
    summary = {"mode": "read-only", "refused": {}}
    with adbc_connect(args) as conn:
        for sql in statements:
            def run(sql=sql):
                with conn.cursor() as cursor:
                    cursor.execute(sql)
                    cursor.fetchall()

            summary["refused"][sql] = expect_failure(sql, run, "read-only", status=unauthorized)
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 AS one")
            check(cursor.fetchall() == [(1,)], "a query after the refusals failed")
    check(not os.path.exists(target), f"COPY wrote {target}")
    # The same through raw Flight: GetFlightInfo refuses before any ticket exists.
    client = flight_client(args)
    options = flight_login(client, args.user, args.password)
    summary["raw"] = expect_failure(
        "raw GetFlightInfo with COPY",
        lambda: client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(statements[0])), options),
        "read-only")
    check(not os.path.exists(target), f"COPY wrote {target}")
    return summary


def mode_users_line(args):
    digest = hashlib.sha256(args.password.encode()).hexdigest()
    print(f"{args.user}:{digest}")
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address", help="HOST:PORT of the Flight SQL server ('-' for users-line)")
    parser.add_argument("mode", choices=["metadata", "query", "doget", "bad-auth", "read-only", "users-line"])
    parser.add_argument("--user", default="strata")
    parser.add_argument("--password", default="")
    parser.add_argument("--user2", help="a second user, for the cross-user ticket check of doget")
    parser.add_argument("--password2", default="")
    parser.add_argument("--ca", help="PEM certificate(s) to verify the server with; implies TLS")
    parser.add_argument("--out", help="output file (query: .json, .csv or .arrow; metadata: .json)")
    parser.add_argument("--format", choices=["json", "csv", "arrow"], help="output format (default: by extension)")
    parser.add_argument("--symbol", help="the bound parameter of the query (default: the first symbol)")
    parser.add_argument("--sql", default=DEFAULT_SQL, help="the query, with one ? parameter")
    args = parser.parse_args()

    if args.mode == "users-line":
        mode_users_line(args)
        return 0
    if args.mode == "query" and not args.out:
        parser.error("query needs --out FILE")
    modes = {
        "metadata": mode_metadata,
        "query": mode_query,
        "doget": mode_doget,
        "bad-auth": mode_bad_auth,
        "read-only": mode_read_only,
    }
    try:
        summary = modes[args.mode](args)
    except CheckFailed as e:
        print(f"flight_client.py {args.mode}: {e}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps(summary, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
