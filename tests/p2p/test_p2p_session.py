"""A roller's session with a coordinator over a real stream, as the two services will run it."""

from __future__ import annotations

import dataclasses
import os

import pytest
import trio
from eth_account import Account
from eth_utils import to_checksum_address

from p2p import messages as m
from p2p.errors import RemoteError
from p2p.protocols import SESSION_PROTOCOL, open_stream, serve
from p2p.signing import recover_signer, sign_digest, signing_digest
from p2p_nodes import running_nodes

COORDINATOR = Account.from_key(b"\x11" * 32)
ROLLER = Account.from_key(b"\x12" * 32)
STAKED = {ROLLER.address: 7 * 10**22}


def address_bytes(account) -> bytes:
    return bytes.fromhex(account.address[2:])


async def coordinator_session(stream):
    """Authenticate the roller, give it one task, and take its proof."""
    hello = await stream.receive(m.Hello)
    challenge = m.Challenge(nonce=os.urandom(32), coordinator=address_bytes(COORDINATOR), chain_id=31337,
                            expires_at=2_000_000_000)
    await stream.send(challenge)
    auth = await stream.receive(m.Auth)
    roller = recover_signer(signing_digest(challenge), auth.signature)
    if roller != to_checksum_address(hello.roller):
        await stream.send(m.Refused(code="bad_auth", reason="signature is not the roller's"))
        return
    if roller not in STAKED:
        await stream.send(m.Refused(code="not_staked", reason=f"{roller} has no active stake"))
        return
    await stream.send(m.Welcome(weight=STAKED[roller], session=os.urandom(16)))
    task = m.Task(task_id=os.urandom(32), kind="block", index=12, round=0, seed=os.urandom(32),
                  slots=1, statement=os.urandom(32), open=False, assigned_at=100, deadline=130, close_at=160, circuit=b"\x09" * 32,
                  inputs=b'{"oldRoot": "1", "newRoot": "2"}', signature=bytes(65))
    task = dataclasses.replace(task, signature=sign_digest(COORDINATOR.key, signing_digest(task)))
    await stream.send(task)
    await stream.receive(m.Accept)
    proof = await stream.receive(m.Proof)
    await stream.send(m.Receipt(task_id=proof.task_id, status="accepted", reason=""))


async def test_a_full_session(tmp_path):
    async with running_nodes(tmp_path, "coordinator", "roller") as (c, r):
        serve(c, SESSION_PROTOCOL, coordinator_session)
        with trio.fail_after(10):
            await r.connect(c.addrs[0])
            async with open_stream(r, c.peer_id) as session:
                await session.send(m.Hello(roller=address_bytes(ROLLER), versions=(m.PROTOCOL_VERSION,)))
                challenge = await session.receive(m.Challenge)
                await session.send(m.Auth(signature=sign_digest(ROLLER.key, signing_digest(challenge))))
                welcome = await session.receive(m.Welcome, m.Refused)
                assert welcome.weight == STAKED[ROLLER.address]
                task = await session.receive(m.Task)
                assert recover_signer(signing_digest(task), task.signature) == COORDINATOR.address
                await session.send(m.Accept(task_id=task.task_id))
                await session.send(m.Proof(task_id=task.task_id, statement=task.statement,
                                           system="groth16", proof=bytes(256),
                                           signature=bytes(65)))
                receipt = await session.receive(m.Receipt)
                assert (receipt.task_id, receipt.status) == (task.task_id, "accepted")


STRANGER = Account.from_key(b"\x13" * 32)


@pytest.mark.parametrize("claimed, signer, code", [
    (STRANGER, STRANGER, "not_staked"),
    (ROLLER, STRANGER, "bad_auth"),      # claims a staked address without its key
])
async def test_sessions_are_refused(tmp_path, claimed, signer, code):
    async with running_nodes(tmp_path, "coordinator", "roller") as (c, r):
        serve(c, SESSION_PROTOCOL, coordinator_session)
        with trio.fail_after(10):
            await r.connect(c.addrs[0])
            async with open_stream(r, c.peer_id) as session:
                await session.send(m.Hello(roller=address_bytes(claimed), versions=(1,)))
                challenge = await session.receive(m.Challenge)
                await session.send(m.Auth(signature=sign_digest(signer.key, signing_digest(challenge))))
                refused = await session.receive(m.Welcome, m.Refused)
                assert isinstance(refused, m.Refused) and refused.code == code


async def test_an_error_message_ends_the_exchange(tmp_path):
    async def busy(stream):
        await stream.receive(m.Hello)
        await stream.send(m.Error(code="busy", reason="too many sessions"))

    async with running_nodes(tmp_path, "coordinator", "roller") as (c, r):
        serve(c, SESSION_PROTOCOL, busy)
        with trio.fail_after(10):
            await r.connect(c.addrs[0])
            async with open_stream(r, c.peer_id) as session:
                await session.send(m.Hello(roller=address_bytes(ROLLER), versions=(1,)))
                with pytest.raises(RemoteError, match="busy"):
                    await session.receive(m.Challenge)
        assert c.scores.score(str(r.peer_id)) == 0 and r.scores.score(str(c.peer_id)) == 0
