"""Prints a free loopback port in 18800-18899 (another run or test may
hold some); used by the fuzzing and load scripts."""
import socket

for port in range(18800, 18900):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
else:
    raise SystemExit("no free port in 18800-18899")
