"""DNS for the containers: a server answering NXDOMAIN to every query (see dev/kube_play.py's doc).

Guarantees: dns_stub serves forever on BIND:53 (UDP), echoing the question with RCODE 3; ensure_dns starts it
(as `dev/kube_play.py dns-stub`, detached, in its own session) unless something already answers on ip:53, waits
until it answers, records its pid in $STRATA_DOCKER_RUN/dns.pids when that directory exists, and returns the pid
(None when nothing was started); RuntimeError if it does not come up.
"""
import os
import socket
import subprocess
import sys
import time

# The entry point the server is started through (its `dns-stub` command).
ENTRY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kube_play.py")


def dns_stub(bind):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, 53))
    while True:
        data, addr = sock.recvfrom(4096)
        if len(data) < 12 or data[2] & 0x80:
            continue
        qdcount = int.from_bytes(data[4:6], "big")
        end = 12
        try:
            for _ in range(qdcount):
                while data[end] != 0:
                    end += 1 + data[end]
                end += 5
        except IndexError:
            continue
        # Same id; QR=1, the query's opcode and RD; RA=1; RCODE=3 (NXDOMAIN); the question; no records.
        flags = ((0x80 | (data[2] & 0x79)) << 8) | 0x80 | 3
        sock.sendto(data[:2] + flags.to_bytes(2, "big") + data[4:6] + bytes(6) + data[12:end], addr)


def dns_answers(ip):
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x00\x00\x01\x00\x01"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    try:
        sock.sendto(query, (ip, 53))
        return sock.recvfrom(512)[0][:2] == b"\x12\x34"
    except OSError:
        return False
    finally:
        sock.close()


def ensure_dns(ip):
    """Start the NXDOMAIN server on ip:53 unless something answers there; returns its pid or None."""
    if dns_answers(ip):
        return None
    proc = subprocess.Popen([sys.executable, ENTRY, "dns-stub", "--bind", ip],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    for _ in range(50):
        if dns_answers(ip):
            # dev/docker.sh's strata_docker_stop stops it too, should `down` never run.
            run_dir = os.environ.get("STRATA_DOCKER_RUN")
            if run_dir and os.path.isdir(run_dir):
                with open(os.path.join(run_dir, "dns.pids"), "a") as f:
                    f.write(f"{proc.pid}\n")
            return proc.pid
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the DNS server on {ip}:53 did not start")
