"""Create blob container NAME in the Azure emulator at URL (Azurite's well-known account), signing the request
with the account's shared key as Azure's own clients do. Exits 0 when it exists afterwards.

usage: azure_container.py URL NAME
"""
import base64
import hashlib
import hmac
import sys
import urllib.error
import urllib.request
from email.utils import formatdate

ACCOUNT = "devstoreaccount1"
# The emulator's published development key (not a secret: every Azurite has it).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
VERSION = "2021-08-06"

url, name = sys.argv[1].rstrip("/"), sys.argv[2]
date = formatdate(usegmt=True)
canonical_headers = f"x-ms-date:{date}\nx-ms-version:{VERSION}\n"
canonical_resource = f"/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
# VERB, Content-Encoding, -Language, -Length (empty for 0), -MD5, -Type, Date, If-Modified-Since, If-Match,
# If-None-Match, If-Unmodified-Since, Range; then the x-ms- headers and the resource.
to_sign = "PUT\n\n\n\n\napplication/octet-stream\n" + "\n" * 6 + canonical_headers + canonical_resource
signature = base64.b64encode(hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
request = urllib.request.Request(f"{url}/{ACCOUNT}/{name}?restype=container", method="PUT", data=b"",
                                 headers={"x-ms-date": date, "x-ms-version": VERSION, "Content-Type": "application/octet-stream",
                                          "Authorization": f"SharedKey {ACCOUNT}:{signature}"})
try:
    urllib.request.urlopen(request, timeout=5)
except urllib.error.HTTPError as e:
    if e.code != 409:  # 409: it exists already
        sys.exit(f"{e.code} {e.read().decode(errors='replace')[:300]}")
