"""A TLS front for the test broker: tansu 0.6 parses certificate options but serves plaintext only, so the suite
terminates TLS here (Python's ssl module, i.e. OpenSSL) and forwards the bytes to tansu on loopback.

    python dev/tls_front.py LISTEN_PORT TARGET_PORT CERT KEY CA

The front requires a client certificate signed by CA (mutual TLS), so a client must present the certificate,
trust the CA and then pass tansu's SASL login. It serves until killed; every connection is a pair of bounded
copy loops that end when either side closes.
"""

import asyncio
import ssl
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - the peer is gone already
            pass


async def main() -> None:
    listen, target, cert, key, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, broker_writer), pipe(broker_reader, client_writer))

    server = await asyncio.start_server(serve, "127.0.0.1", listen, ssl=context)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
