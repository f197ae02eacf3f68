"""The Bridge contract on the embedded EVM and on anvil, against a Rollup double (contracts/test/
RollupDouble.sol) whose queue, finalization, exit roots and freeze the tests set: deposits,
forced withdrawals signed with the L2 keys, claims of exits with the block's Merkle proofs, the
escape hatch with the account tree's paths, refunds; and what an attacker tries against each
(replays, unpostable amounts, other keys, wrong proofs and paths, values that alias mod r,
reentrancy through the token). The formats on both sides are the sequencer's own
(`block_data`, `transactions`, `accounts`, `eddsa`)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from market_contracts.bridge import (
    Bridge,
    Deposited,
    DepositReclaimed,
    Exited,
    WithdrawalClaimed,
    WithdrawalForced,
)
from market_contracts.chain import decode_revert
from market_contracts.compile import load_artifact
from market_contracts.deploy import BridgeSupport, deploy_bridge, deploy_bridge_support
from market_contracts.errors import BridgeRejected, TransactionFailed
from sequencer import babyjub, eddsa
from sequencer.accounts import Account as L2Account, AccountTree, address_of
from sequencer.babyjub import IDENTITY
from sequencer.block_data import (
    Op,
    Record,
    deposit_hash,
    exit_proof,
    exit_root,
    exits,
    forced_hash,
    is_postable,
)
from sequencer.errors import AmountOverflow, IndexOutOfRange, InvalidAddress, NonceOverflow
from sequencer.transactions import (
    DEVNET_CHAIN_ID,
    Kind,
    Transfer,
    exit_message,
    forced_withdrawal_message,
    signing_message,
)
from zkp.field import R

ETH = 10**18
TOKEN = 10**18
#: the test L2's tree; the gas test also measures an exit at the LARGE profile's depth
DEPTH = 8
LARGE_DEPTH = 20
CHAIN_ID = DEVNET_CHAIN_ID
#: L2 keys: index i of the test state holds KEYS[i]'s account
KEYS = [bytes([i + 1]) * 32 for i in range(4)]
BALANCES = [5 * TOKEN, 7 * TOKEN, 0, 11 * TOKEN]
NONCES = [3, 0, 1, 2**32 - 1]


def l2_state(depth: int) -> AccountTree:
    tree = AccountTree(depth)
    for index, (key, balance, nonce) in enumerate(zip(KEYS, BALANCES, NONCES)):
        tree = tree.set(index, L2Account(address_of(eddsa.public_key(key)), balance, nonce))
    return tree


@dataclass
class BridgeWorld:
    chain: object
    deployer: object
    rollup: object  # the RollupDouble contract
    token: object
    bridge: Bridge
    support: BridgeSupport
    users: list

    def new_user(self, tokens: int = 1000 * TOKEN):
        account = Account.create()
        self.chain.send_eth(self.deployer, account.address, 10 * ETH)
        if tokens:
            self.chain.transact(self.deployer, self.token.functions.mint(account.address, tokens))
        return account

    def set(self, function: str, *args) -> None:
        self.chain.transact(self.deployer, getattr(self.rollup.functions, function)(*args))

    def balance(self, address: str) -> int:
        return self.chain.call(self.token.functions.balanceOf(address))

    def queue_entry(self, position: int) -> bytes:
        return bytes(self.chain.call(self.rollup.functions.queueEntry(position))[0])


def build_world(chain, token_artifact: str = "RollupToken", depth: int = DEPTH) -> BridgeWorld:
    deployer = chain.dev_accounts[0]
    rollup = chain.deploy(deployer, load_artifact("RollupDouble"))
    token = chain.deploy(deployer, load_artifact(token_artifact))
    support = deploy_bridge_support(chain, deployer, token=token.address)
    bridge = Bridge(chain, deploy_bridge(chain, deployer, support, rollup=rollup.address,
                                         l2_chain_id=CHAIN_ID, depth=depth))
    world = BridgeWorld(chain, deployer, rollup, token, bridge, support, [])
    world.users = [world.new_user() for _ in range(3)]
    # the genesis balances are backed: minted to the Bridge
    chain.transact(deployer, token.functions.mint(bridge.address, sum(BALANCES)))
    return world


@pytest.fixture(scope="module")
def deployed(chain) -> BridgeWorld:
    return build_world(chain)


@pytest.fixture
def world(deployed):
    snapshot = deployed.chain.snapshot()
    yield deployed
    deployed.chain.revert(snapshot)


def rejected(reason: str) -> "_Rejected":
    """`with rejected("Reason"):` the Bridge refuses with that custom error."""
    return _Rejected(reason)


class _Rejected:
    def __init__(self, reason: str):
        self.reason = reason

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        assert exc is not None, f"expected the Bridge to refuse with {self.reason}"
        assert isinstance(exc, BridgeRejected), exc
        assert exc.reason == self.reason, f"refused with {exc.reason}, expected {self.reason}: {exc}"
        return True


def sign_forced(key: bytes, index: int, amount: int, recipient: str, salt: int):
    message = forced_withdrawal_message(index, amount, salt, int(recipient, 16), CHAIN_ID)
    return eddsa.public_key(key), eddsa.sign(key, message)


def sign_exit(key: bytes, index: int, recipient: str):
    return eddsa.public_key(key), eddsa.sign(key, exit_message(index, int(recipient, 16), CHAIN_ID))


# ---------------------------------------------------------------------------------- deposits

def test_deposit_queues_its_hash_and_holds_the_tokens(world):
    user = world.users[0]
    l2_address = address_of(eddsa.public_key(KEYS[0]))
    before = world.balance(world.bridge.address)
    deposited = world.bridge.deposit(user, l2_address, 25 * TOKEN)
    assert deposited == Deposited(0, l2_address, 25 * TOKEN, user.address, deposited.l1_block)
    assert world.queue_entry(0) == deposit_hash(l2_address, 25 * TOKEN)
    assert world.balance(world.bridge.address) == before + 25 * TOKEN
    assert world.balance(user.address) == 975 * TOKEN
    assert world.bridge.deposit_of(0) == (user.address, 25 * TOKEN)
    second = world.bridge.deposit(world.users[1], 7, 3)
    assert second.position == 1 and world.queue_entry(1) == deposit_hash(7, 3)


@pytest.mark.parametrize(("l2_address", "amount", "reason"), [
    (0, TOKEN, "InvalidL2Address"),
    (R, TOKEN, "InvalidL2Address"),
    (2**256 - 1, TOKEN, "InvalidL2Address"),
    (5, 0, "UnpostableAmount"),
    (5, 2**32 + 1, "UnpostableAmount"),
    (5, 123456789012345678, "UnpostableAmount"),
    # postable as m * 10^e, but no L2 balance holds 2^128 or more
    (5, 10**39, "UnpostableAmount"),
])
def test_deposit_refuses_what_l2_cannot_credit(world, l2_address, amount, reason):
    user = world.users[0]
    world.chain.transact(world.deployer, world.token.functions.mint(user.address, amount))
    with rejected(reason):
        world.bridge.deposit(user, l2_address, amount)
    assert world.chain.call(world.rollup.functions.queueLength()) == 0


def test_postable_amounts_are_block_datas(world):
    """Side by side with `block_data.is_postable` (and below 2^128), on amounts near the edges."""
    user = world.users[0]
    world.chain.transact(world.deployer, world.token.functions.mint(user.address, 2**200))
    world.chain.transact(user, world.token.functions.approve(world.bridge.address, 2**256 - 1))
    rng = random.Random(3)
    amounts = [1, 2**32 - 1, 2**32, 2**32 + 1, (2**32 - 1) * 10**28, 2**32 * 10**5, 2**128 - 1,
               (2**32 - 1) * 10**29, 340282366 * 10**30]
    amounts += [rng.randrange(1, 2**32) * 10**rng.randrange(32) for _ in range(8)]
    amounts += [rng.randrange(1, 2**rng.randrange(1, 129)) for _ in range(8)]
    for amount in amounts:
        expected = is_postable(amount) and amount < 2**128
        try:
            world.chain.call(world.bridge.contract.functions.deposit(5, amount), sender=user.address)
            accepted = True
        except TransactionFailed as exc:
            assert exc.reason == "UnpostableAmount", exc
            accepted = False
        assert accepted is expected, amount


def test_deposit_refuses_to_hold_2_128(world):
    user = world.users[0]
    world.chain.transact(world.deployer, world.token.functions.mint(world.bridge.address, 2**128))
    with rejected("BridgeFull"):
        world.bridge.deposit(user, 5, TOKEN)


def test_deposit_credits_what_arrived(fresh_chain):
    """A token that takes a fee on transfer: the queue, the event and a refund carry what the
    Bridge received; an amount whose arrival is not postable is refused."""
    world = build_world(fresh_chain, token_artifact="FeeOnTransferToken")
    user = world.users[0]
    before = world.balance(world.bridge.address)
    deposited = world.bridge.deposit(user, 5, 101)
    assert (deposited.amount, world.queue_entry(0)) == (100, deposit_hash(5, 100))
    assert world.balance(world.bridge.address) == before + 100
    assert world.bridge.deposit_of(0) == (user.address, 100)
    with rejected("UnpostableAmount"):
        world.bridge.deposit(user, 5, 10**12)  # 10^12 - 1 arrives


def test_deposit_without_tokens_is_the_tokens_refusal(world):
    poor = world.new_user(tokens=0)
    with pytest.raises(TransactionFailed) as caught:
        world.bridge.deposit(poor, 5, TOKEN)
    assert caught.value.reason == "ERC20InsufficientBalance"


# ------------------------------------------------------------------------- forced withdrawals

def test_forced_withdrawal_queues_the_forced_hash(world):
    recipient = world.users[2].address
    public_key, signature = sign_forced(KEYS[1], 1, 2 * TOKEN, recipient, salt=9)
    # anyone may submit it: the signature is the account owner's
    forced = world.bridge.request_withdrawal(world.users[0], 1, 2 * TOKEN, recipient, 9,
                                             public_key, signature.r8, signature.s)
    l2_address = address_of(public_key)
    assert forced == WithdrawalForced(0, 1, l2_address, 2 * TOKEN, recipient, forced.l1_block)
    assert world.queue_entry(0) == forced_hash(1, l2_address, 2 * TOKEN, int(recipient, 16))
    message = forced_withdrawal_message(1, 2 * TOKEN, 9, int(recipient, 16), CHAIN_ID)
    assert world.bridge.message_used(message)


def test_each_forced_message_is_queued_once(world):
    recipient = world.users[2].address
    public_key, signature = sign_forced(KEYS[0], 0, TOKEN, recipient, salt=1)
    args = (world.users[0], 0, TOKEN, recipient, 1, public_key, signature.r8, signature.s)
    world.bridge.request_withdrawal(*args)
    with rejected("MessageUsed"):
        world.bridge.request_withdrawal(*args)
    public_key, again = sign_forced(KEYS[0], 0, TOKEN, recipient, salt=2)
    assert world.bridge.request_withdrawal(world.users[0], 0, TOKEN, recipient, 2, public_key,
                                           again.r8, again.s).position == 1


def test_forced_withdrawal_needs_the_keys_signature_of_this_message(world):
    recipient = world.users[2].address
    thief = world.users[1].address
    public_key = eddsa.public_key(KEYS[0])
    _, other = sign_forced(KEYS[1], 0, TOKEN, recipient, salt=0)
    _, for_thief = sign_forced(KEYS[0], 0, TOKEN, thief, salt=0)
    _, more = sign_forced(KEYS[0], 0, 2 * TOKEN, recipient, salt=0)
    _, exit_signature = sign_exit(KEYS[0], 0, recipient)
    # the L2 withdrawal (kind 1) with the same fields signs another message
    withdraw = Transfer(0, 0, int(recipient, 16), TOKEN, 0, kind=Kind.WITHDRAW)
    l2_signature = eddsa.sign(KEYS[0], signing_message(withdraw, CHAIN_ID))
    for signature in (other, for_thief, more, exit_signature, l2_signature):
        with rejected("InvalidSignature"):
            world.bridge.request_withdrawal(world.users[0], 0, TOKEN, recipient, 0, public_key,
                                            signature.r8, signature.s)
    # a key of small order (anything "verifies" S B8 = R8 + 8 h A for it): refused
    anything = eddsa.Signature(babyjub.multiply_base(5), 5)
    for small in (IDENTITY, (0, R - 1)):
        with rejected("InvalidSignature"):
            world.bridge.request_withdrawal(world.users[0], 0, TOKEN, recipient, 0, small,
                                            anything.r8, anything.s)
    assert world.chain.call(world.rollup.functions.queueLength()) == 0


@pytest.mark.parametrize(("index", "amount", "recipient", "salt", "reason"), [
    (2**DEPTH, TOKEN, 1, 0, "IndexOutOfRange"),
    (2**24, TOKEN, 1, 0, "IndexOutOfRange"),
    (0, 0, 1, 0, "UnpostableAmount"),
    (0, 2**32 + 1, 1, 0, "UnpostableAmount"),
    (0, 10**39, 1, 0, "UnpostableAmount"),
    (0, TOKEN, 0, 0, "ZeroRecipient"),
    (0, TOKEN, 1, 2**32, "SaltTooLarge"),
])
def test_forced_withdrawal_refuses_what_a_block_cannot_post(world, index, amount, recipient, salt,
                                                            reason):
    public_key = eddsa.public_key(KEYS[0])
    signature = eddsa.sign(KEYS[0], 1)  # never reached: the fields are refused first
    with rejected(reason):
        world.bridge.request_withdrawal(world.users[0], index, amount,
                                        to_checksum_address(recipient.to_bytes(20, "big")), salt,
                                        public_key, signature.r8, signature.s)


@pytest.mark.parametrize(("fields", "error"), [
    ({"recipient": 0}, InvalidAddress),
    ({"recipient": 1 << 160}, InvalidAddress),
    ({"salt": 1 << 32}, NonceOverflow),
    ({"amount": 1 << 128}, AmountOverflow),
    ({"index": 1 << 32}, IndexOutOfRange),
])
def test_the_wallet_refuses_to_sign_what_the_bridge_refuses(fields, error):
    message = {"index": 0, "amount": TOKEN, "salt": 0, "recipient": 1} | fields
    with pytest.raises(error):
        forced_withdrawal_message(**message, chain_id=CHAIN_ID)
    if set(fields) <= {"index", "recipient"}:
        with pytest.raises(error):
            exit_message(message["index"], message["recipient"], CHAIN_ID)


# ----------------------------------------------------------------------------------- claims

def exits_block(world) -> list[Record]:
    """Block 4's records: a transfer, two withdrawals (one forced) and a skipped forced one."""
    one, two = (int(user.address, 16) for user in world.users[1:])
    return [
        Record(Op.TRANSFER, 0, 1, 10),
        Record(Op.WITHDRAW, 0, 0, 3 * TOKEN, entry=one),
        Record(Op.FORCED, 1, 0, 2 * TOKEN, entry=77, recipient=two),
        Record(Op.FORCED_SKIP, 2, 0, TOKEN, entry=78, recipient=one),
        Record(Op.WITHDRAW, 3, 0, 5, entry=two),
    ]


BLOCK = 4


def finalize_exits(world, finalized: int = BLOCK) -> list[Record]:
    records = exits_block(world)
    world.set("setExitRoot", BLOCK, exit_root(BLOCK, records))
    world.set("setLastFinalized", finalized)
    return records


def claim(world, caller, exit_number: int, records, **changes):
    """Claim exit `exit_number` of `records` (block BLOCK), its arguments changed by `changes`."""
    recipient, amount = exits(records)[exit_number]
    args = {"block_number": BLOCK, "position": exit_number,
            "recipient": to_checksum_address(recipient.to_bytes(20, "big")), "amount": amount,
            "proof": exit_proof(BLOCK, records, exit_number)} | changes
    return world.bridge.claim_withdrawal(caller, **args)


def test_claims_pay_each_exit_to_its_recipient_whoever_calls(world):
    records = finalize_exits(world)
    caller = world.users[0]
    before = {u.address: world.balance(u.address) for u in world.users}
    held = world.balance(world.bridge.address)
    claimed = [claim(world, caller, position, records) for position in range(3)]
    one, two = world.users[1].address, world.users[2].address
    assert claimed == [WithdrawalClaimed(BLOCK, position, recipient, amount, c.l1_block)
                       for c, (position, recipient, amount) in zip(claimed, [
                           (0, one, 3 * TOKEN), (1, two, 2 * TOKEN), (2, two, 5)])]
    assert world.balance(one) == before[one] + 3 * TOKEN
    assert world.balance(two) == before[two] + 2 * TOKEN + 5
    assert world.balance(caller.address) == before[caller.address]
    assert world.balance(world.bridge.address) == held - 5 * TOKEN - 5
    assert all(world.bridge.is_claimed(BLOCK, p) for p in range(3))
    assert world.bridge.payouts(0) == claimed


def test_a_claim_waits_for_finalization(world):
    records = finalize_exits(world, finalized=BLOCK - 1)
    with rejected("NotFinalized"):
        claim(world, world.users[0], 0, records)
    world.set("setLastFinalized", BLOCK)
    assert claim(world, world.users[0], 0, records).amount == 3 * TOKEN


def test_an_exit_is_claimed_once(world):
    records = finalize_exits(world)
    claim(world, world.users[0], 1, records)
    with rejected("AlreadyClaimed"):
        claim(world, world.users[1], 1, records)
    assert world.bridge.is_claimed(BLOCK, 1) and not world.bridge.is_claimed(BLOCK, 0)
    # the bitmap's key, block << 8 | position, must not wrap onto the claimed one
    assert not world.bridge.is_claimed(BLOCK + (1 << 248), 1)
    assert not world.bridge.is_claimed(BLOCK, 1 + 256)


def test_a_claim_must_be_a_leaf_of_the_blocks_exit_root(world):
    records = finalize_exits(world)
    thief = world.users[0].address
    cases = [
        {"recipient": thief},  # someone else's exit, to the thief
        {"amount": 3 * TOKEN + 1},
        {"proof": exit_proof(BLOCK, records, 1)},  # another exit's path
        {"proof": exit_proof(BLOCK, records, 0)[:-1]},
        {"position": 1},  # exit 0's recipient and amount at another position
        {"block_number": BLOCK - 1},  # a block without exits (root 0)
        {"position": 256},
        {"position": 2**256 - 1},
    ]
    for changes in cases:
        with rejected("InvalidExitProof"):
            claim(world, world.users[0], 0, records, **changes)
    assert not any(world.bridge.is_claimed(BLOCK, p) for p in range(3))


# ------------------------------------------------------------------------------ the escape hatch

def freeze(world, depth: int = DEPTH) -> AccountTree:
    tree = l2_state(depth)
    world.set("setFinalizedRoot", tree.root)
    world.set("setFrozen", True)
    return tree


def exit_args(tree: AccountTree, index: int, recipient: str, key: bytes | None = None):
    key = KEYS[index] if key is None else key
    public_key, signature = sign_exit(key, index, recipient)
    account = tree.get(index)
    return {"index": index, "public_key": public_key, "balance": account.balance,
            "nonce": account.nonce, "path": list(tree.proof(index)), "recipient": recipient,
            "r8": signature.r8, "s": signature.s}


def test_exit_waits_for_the_freeze(world):
    tree = l2_state(DEPTH)
    world.set("setFinalizedRoot", tree.root)
    with rejected("NotFrozen"):
        world.bridge.exit(world.users[0], **exit_args(tree, 0, world.users[1].address))


def test_exit_pays_the_finalized_balance_once(world):
    tree = freeze(world)
    recipient = world.users[1].address
    before = world.balance(recipient)
    exited = world.bridge.exit(world.users[0], **exit_args(tree, 3, recipient))
    assert exited == Exited(3, recipient, 11 * TOKEN, exited.l1_block)
    assert world.balance(recipient) == before + 11 * TOKEN
    assert world.bridge.has_exited(3)
    with rejected("AlreadyExited"):
        world.bridge.exit(world.users[0], **exit_args(tree, 3, recipient))
    # an account with a zero balance exits with nothing
    assert world.bridge.exit(world.users[0], **exit_args(tree, 2, recipient)).amount == 0


def test_exit_needs_the_accounts_key_and_leaf(world):
    tree = freeze(world)
    victim, thief = 0, world.users[2].address
    good = exit_args(tree, victim, world.users[1].address)
    # the thief's own key, signing for the victim's index, with the victim's balance
    own_key = exit_args(tree, victim, thief, key=KEYS[1])
    _, key_0_at_1 = sign_exit(KEYS[0], 1, good["recipient"])
    cases = [
        (exit_args(tree, victim, thief, key=KEYS[1]) | {"public_key": good["public_key"]},
         "InvalidSignature"),
        (good | {"recipient": thief}, "InvalidSignature"),  # redirecting a signed exit
        (own_key, "NotInFinalizedState"),
        (good | {"balance": good["balance"] + 1}, "NotInFinalizedState"),
        (good | {"nonce": good["nonce"] + 1}, "NotInFinalizedState"),
        (good | {"path": [good["path"][0] + 1, *good["path"][1:]]}, "NotInFinalizedState"),
        (good | {"path": list(tree.proof(1))}, "NotInFinalizedState"),
        # key 0 signs an exit of index 1, showing its own leaf
        (good | {"index": 1, "r8": key_0_at_1.r8, "s": key_0_at_1.s}, "NotInFinalizedState"),
        (good | {"path": good["path"][:-1]}, "WrongPathLength"),
        (good | {"path": [*good["path"], 0]}, "WrongPathLength"),
        # aliases mod r, which Poseidon's contract would hash as the true values
        (good | {"balance": good["balance"] + R}, "BalanceTooLarge"),
        (good | {"nonce": good["nonce"] + R}, "NonceTooLarge"),
        (good | {"path": [good["path"][0] + R, *good["path"][1:]]}, "NotAFieldElement"),
        (good | {"public_key": (good["public_key"][0] + R, good["public_key"][1])},
         "InvalidSignature"),
        (good | {"index": 2**DEPTH}, "IndexOutOfRange"),
        (good | {"recipient": to_checksum_address(bytes(20))}, "ZeroRecipient"),
    ]
    # the forced-withdrawal message is not an exit's
    _, forced = sign_forced(KEYS[victim], victim, 0 + 1, good["recipient"], 0)
    cases.append((good | {"r8": forced.r8, "s": forced.s}, "InvalidSignature"))
    for args, reason in cases:
        with rejected(reason):
            world.bridge.exit(world.users[0], **args)
    assert world.bridge.exit(world.users[0], **good).amount == BALANCES[victim]


# ------------------------------------------------------------------------------------ refunds

def test_a_deposit_never_included_is_refunded_once_frozen(world):
    sender, caller = world.users[0], world.users[1]
    world.bridge.deposit(sender, 5, TOKEN)  # position 0: included
    world.bridge.deposit(sender, 6, 2 * TOKEN)  # position 1: not
    public_key, signature = sign_forced(KEYS[0], 0, TOKEN, caller.address, 0)
    world.bridge.request_withdrawal(caller, 0, TOKEN, caller.address, 0, public_key,
                                    signature.r8, signature.s)  # position 2: forced
    world.set("setQueueNext", 1)
    with rejected("NotFrozen"):
        world.bridge.reclaim_deposit(caller, 1)
    world.set("setFrozen", True)
    with rejected("DepositIncluded"):
        world.bridge.reclaim_deposit(caller, 0)
    with rejected("NoDeposit"):
        world.bridge.reclaim_deposit(caller, 2)
    with rejected("NoDeposit"):
        world.bridge.reclaim_deposit(caller, 3)
    before = world.balance(sender.address)
    refund = world.bridge.reclaim_deposit(caller, 1)  # anyone calls; the sender is paid
    assert refund == DepositReclaimed(1, sender.address, 2 * TOKEN, refund.l1_block)
    assert world.balance(sender.address) == before + 2 * TOKEN
    assert world.bridge.deposit_of(1) is None
    with rejected("NoDeposit"):
        world.bridge.reclaim_deposit(caller, 1)


# ------------------------------------------------------------------------------ the relayer's view

def test_messages_are_the_queue_in_position_order(world):
    start = world.chain.w3.eth.block_number + 1
    world.bridge.deposit(world.users[0], 5, TOKEN)
    public_key, signature = sign_forced(KEYS[1], 1, TOKEN, world.users[2].address, 0)
    world.bridge.request_withdrawal(world.users[1], 1, TOKEN, world.users[2].address, 0,
                                    public_key, signature.r8, signature.s)
    middle = world.chain.w3.eth.block_number
    world.bridge.deposit(world.users[1], 6, 2 * TOKEN)
    messages = world.bridge.messages(start)
    assert [(type(m), m.position) for m in messages] == [
        (Deposited, 0), (WithdrawalForced, 1), (Deposited, 2)]
    for message in messages:
        entry = (deposit_hash(message.l2_address, message.amount) if isinstance(message, Deposited)
                 else forced_hash(message.index, message.l2_address, message.amount,
                                  int(message.recipient, 16)))
        assert world.queue_entry(message.position) == entry
    assert world.bridge.messages(start, middle) == messages[:2]
    assert world.bridge.messages(middle + 1) == messages[2:]


# ------------------------------------------------------------------------------------ reentrancy

@pytest.fixture(scope="module")
def deployed_hooked(chain):
    """A Bridge over ReentrantToken, whose transfers to the attacker call it back."""
    world = build_world(chain, token_artifact="ReentrantToken")
    attacker = chain.deploy(world.deployer, load_artifact("BridgeReentrancyAttacker"),
                            world.bridge.address, world.token.address)
    chain.transact(world.deployer, world.token.functions.setHooked(attacker.address))
    return world, attacker


@pytest.fixture
def hooked(deployed_hooked):
    world, _ = deployed_hooked
    snapshot = world.chain.snapshot()
    yield deployed_hooked
    world.chain.revert(snapshot)


def reentry(world, attacker) -> tuple[bool, bool, str]:
    """(re-entered, the inner call succeeded, its error's name)."""
    functions = attacker.functions
    result = bytes(world.chain.call(functions.reentryResult()))
    return (world.chain.call(functions.reentered()), world.chain.call(functions.reentrySucceeded()),
            decode_revert(result)[0])


def test_a_claim_cannot_be_reentered(hooked):
    world, attacker = hooked
    records = [Record(Op.WITHDRAW, 0, 0, 3 * TOKEN, entry=int(attacker.address, 16))]
    world.set("setExitRoot", BLOCK, exit_root(BLOCK, records))
    world.set("setLastFinalized", BLOCK)
    proof = exit_proof(BLOCK, records, 0)
    call = world.bridge.contract.functions.claimWithdrawal(BLOCK, 0, attacker.address, 3 * TOKEN,
                                                           proof)
    world.chain.transact(world.deployer, attacker.functions.arm(call._encode_transaction_data()))
    claim_ = world.bridge.claim_withdrawal(world.users[0], BLOCK, 0, attacker.address, 3 * TOKEN,
                                           proof)
    assert claim_.amount == 3 * TOKEN
    assert reentry(world, attacker) == (True, False, "ReentrancyGuardReentrantCall")
    assert world.balance(attacker.address) == 3 * TOKEN


def test_an_exit_cannot_be_reentered(hooked):
    world, attacker = hooked
    tree = freeze(world)
    args = exit_args(tree, 1, attacker.address)
    call = world.bridge.contract.functions.exit(
        1, list(args["public_key"]), args["balance"], args["nonce"], args["path"],
        attacker.address, list(args["r8"]), args["s"])
    world.chain.transact(world.deployer, attacker.functions.arm(call._encode_transaction_data()))
    assert world.bridge.exit(world.users[0], **args).amount == BALANCES[1]
    assert reentry(world, attacker) == (True, False, "ReentrancyGuardReentrantCall")
    assert world.balance(attacker.address) == BALANCES[1]


def test_a_refund_cannot_be_reentered(hooked):
    world, attacker = hooked
    world.chain.transact(world.deployer, world.token.functions.mint(attacker.address, TOKEN))
    execute = attacker.functions.execute
    approve = world.token.functions.approve(world.bridge.address, TOKEN)
    deposit = world.bridge.contract.functions.deposit(5, TOKEN)
    for target, fn in ((world.token.address, approve), (world.bridge.address, deposit)):
        world.chain.transact(world.deployer, execute(target, fn._encode_transaction_data()))
    assert world.bridge.deposit_of(0) == (attacker.address, TOKEN)
    world.set("setFrozen", True)
    call = world.bridge.contract.functions.reclaimDeposit(0)
    world.chain.transact(world.deployer, attacker.functions.arm(call._encode_transaction_data()))
    assert world.bridge.reclaim_deposit(world.users[0], 0).amount == TOKEN
    assert reentry(world, attacker) == (True, False, "ReentrancyGuardReentrantCall")
    assert world.balance(attacker.address) == TOKEN


# ------------------------------------------------------------------------------------------ gas

def test_gas(world, chain):
    """The gas of each operation (printed: run with -s), with bounds that catch a regression."""
    user = world.users[0]
    world.chain.transact(user, world.token.functions.approve(world.bridge.address, 2**256 - 1))
    world.bridge.deposit(user, 5, TOKEN)  # the queue's first entry: later ones are what we pay
    gas = {}

    def used(fn, sender=user) -> int:
        return world.chain.transact(sender, fn)["gasUsed"]

    functions = world.bridge.contract.functions
    gas["deposit"] = used(functions.deposit(6, 2 * TOKEN))
    public_key, signature = sign_forced(KEYS[0], 0, TOKEN, user.address, 0)
    gas["requestWithdrawal"] = used(functions.requestWithdrawal(
        0, TOKEN, user.address, 0, list(public_key), list(signature.r8), signature.s))
    records = [Record(Op.WITHDRAW, 0, 0, TOKEN, entry=int(world.users[1].address, 16))] * 16
    world.set("setExitRoot", BLOCK, exit_root(BLOCK, records))
    world.set("setLastFinalized", BLOCK)
    for position in range(2):  # the first claim of a block writes its bitmap word, later ones not
        gas[f"claimWithdrawal (16 exits, claim {position + 1})"] = used(functions.claimWithdrawal(
            BLOCK, position, world.users[1].address, TOKEN, exit_proof(BLOCK, records, position)))
    tree = freeze(world)
    args = exit_args(tree, 0, user.address)
    gas[f"exit (depth {DEPTH})"] = used(functions.exit(
        0, list(args["public_key"]), args["balance"], args["nonce"], args["path"], user.address,
        list(args["r8"]), args["s"]))
    large = build_world(chain, depth=LARGE_DEPTH)
    tree = freeze(large, LARGE_DEPTH)
    args = exit_args(tree, 0, user.address)
    gas[f"exit (depth {LARGE_DEPTH})"] = large.chain.transact(large.deployer, large.bridge.contract
        .functions.exit(0, list(args["public_key"]), args["balance"], args["nonce"], args["path"],
                        user.address, list(args["r8"]), args["s"]))["gasUsed"]
    print(f"\nBridge gas on {chain.name} (RollupDouble's enqueue: one entry, two fresh slots):")
    for name, value in gas.items():
        print(f"  {name:40} {value:>9,}")
    assert gas["deposit"] < 150_000
    assert gas["requestWithdrawal"] < 700_000
    assert gas["claimWithdrawal (16 exits, claim 2)"] < 80_000
    assert gas[f"exit (depth {LARGE_DEPTH})"] < 2_500_000
