"""The store's cipher writes what eventsourcing's AESCipher reads and the other way
round (events saved before it came in still decrypt), with a fresh nonce every time."""

from __future__ import annotations

import os

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from registry.cipher import NONCE_SIZE, StoreCipher

KEY = "w3Xh3Q0o8ho4GmSxYbGPGcLw0p2SaS0Rx4Jf7D1Ojq8="


@pytest.fixture
def ciphers() -> tuple[AESCipher, StoreCipher]:
    env = Environment(env={"CIPHER_KEY": KEY})
    return AESCipher(env), StoreCipher(env)


def test_each_reads_what_the_other_wrote(ciphers: tuple[AESCipher, StoreCipher]) -> None:
    theirs, ours = ciphers
    for size in (0, 1, 400, 70_000):
        plaintext = os.urandom(size)
        assert ours.decrypt(theirs.encrypt(plaintext)) == plaintext
        assert theirs.decrypt(ours.encrypt(plaintext)) == plaintext


def test_no_nonce_comes_twice_across_blocks(ciphers: tuple[AESCipher, StoreCipher]) -> None:
    _, ours = ciphers
    nonces = {ours.encrypt(b"x")[:NONCE_SIZE] for _ in range(5_000)}  # several blocks
    assert len(nonces) == 5_000


def test_altered_bytes_are_refused(ciphers: tuple[AESCipher, StoreCipher]) -> None:
    _, ours = ciphers
    sealed = bytearray(ours.encrypt(b"member state"))
    sealed[-1] ^= 1
    with pytest.raises(ValueError, match="Invalid cipher tag"):
        ours.decrypt(bytes(sealed))
    with pytest.raises(ValueError, match="Damaged cipher text"):
        ours.decrypt(bytes(sealed[:20]))


def test_a_forked_child_does_not_reuse_the_parents_nonces(
    ciphers: tuple[AESCipher, StoreCipher],
) -> None:
    _, ours = ciphers
    ours.encrypt(b"x")  # the parent has a block of nonces now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, ours.encrypt(b"x")[:NONCE_SIZE])
        os._exit(0)
    os.waitpid(pid, 0)
    child_nonce = os.read(read, NONCE_SIZE)
    assert child_nonce != ours.encrypt(b"x")[:NONCE_SIZE]
