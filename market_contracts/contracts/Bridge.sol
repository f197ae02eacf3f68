// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {BabyJubJub} from "./BabyJubJub.sol";

/// Poseidon with two and three inputs (widths 3 and 4), as circomlib computes them: the contracts
/// circomlibjs generates (`artifacts/PoseidonT3.json`, `artifacts/PoseidonT4.json`).
interface IPoseidon2 {
    function poseidon(uint256[2] calldata input) external pure returns (uint256);
}

interface IPoseidon3 {
    function poseidon(uint256[3] calldata input) external pure returns (uint256);
}

/// What the Bridge needs of the Rollup: its L1 queue (which only the Bridge appends to), what is
/// finalized, the exits each block pays, and whether it is frozen (docs: spec §3).
interface IBridgeRollup {
    function enqueue(bytes32 entryHash) external returns (uint256 position);
    function queueNext() external view returns (uint256);
    function lastFinalized() external view returns (uint256);
    function exitRoot(uint256 blockNumber) external view returns (bytes32);
    function frozen() external view returns (bool);
    function finalizedRoot() external view returns (uint256);
}

/// @title Bridge: the rollup's tokens between L1 and L2.
/// @notice In: `deposit` holds the tokens and puts a deposit on the Rollup's queue, which the
/// sequencer must include in order. Out: the L2 debits a withdrawal (a signed WITHDRAW, or a
/// FORCED withdrawal requested here) and the block's exit root pays it here once the block is
/// finalized (`claimWithdrawal`). When the sequencer censors, `requestWithdrawal` puts a withdrawal
/// signed by the account's key on the queue, which the sequencer must include within the force
/// delay; when the rollup stops finalizing (frozen), `exit` pays each account its balance in the
/// last finalized state, and `reclaimDeposit` refunds deposits that never reached L2.
///
/// The formats are sequencer/block_data.py's (queue hashes, exit leaves) and
/// sequencer/transactions.py's (signed messages); the account tree's is sequencer/accounts.py's.
/// Amounts on the queue are what a block can post (m * 10^e, m < 2^32, e < 32) and below 2^128
/// (an L2 balance's bound): anything else could not be included, and a queue entry that cannot
/// be included stops the rollup, so they are refused here.
contract Bridge is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using BitMaps for BitMaps.BitMap;

    /// BN254's scalar field modulus: L2 addresses and Poseidon's inputs are below it.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// Queue entry tags: `block_data.Op.DEPOSIT` and `Op.FORCED`.
    uint8 internal constant OP_DEPOSIT = 3;
    uint8 internal constant OP_FORCED = 5;
    /// Signed kinds (`sequencer.transactions.Kind`), above the packed word's 224 bits.
    uint256 internal constant KIND_FORCED = 2;
    uint256 internal constant KIND_EXIT = 3;
    uint256 internal constant KIND_SHIFT = 224;
    /// The packed word (`transactions.pack`): from (32 bits) | to (32) | amount (128) | nonce (32).
    uint256 internal constant FROM_SHIFT = 192;
    uint256 internal constant AMOUNT_SHIFT = 32;
    /// An L2 balance is below 2^128 (`accounts.BALANCE_BITS`); a salt is the nonce field's 32 bits.
    uint256 internal constant AMOUNT_BOUND = 1 << 128;
    uint256 internal constant NONCE_BOUND = 1 << 32;
    /// A posted amount (`block_data.pack_amount`): mantissa (32 bits) * 10^exponent (5 bits).
    uint256 internal constant MANTISSA_BOUND = 1 << 32;
    uint256 internal constant EXPONENT_BITS = 5;
    uint256 internal constant MAX_EXPONENT = 31;
    /// A record's account index has 24 bits (`block_data.INDEX_BITS`): the deepest tree.
    uint256 internal constant MAX_DEPTH = 24;
    /// A block posts at most 255 records, so an exit's position fits in 8 bits; the claimed
    /// bitmap's key is block << 8 | position, one storage word per 256 exits of a block.
    uint256 internal constant POSITION_BITS = 8;

    /// A deposit, for its refund if it never reaches L2: its amount packed (37 bits) to fit
    /// one storage slot with the sender.
    struct Deposit {
        address sender;
        uint64 packedAmount;
    }

    IBridgeRollup public immutable rollup;
    IERC20 public immutable token;
    /// The L2's chain id, the first input of every signed message.
    uint256 public immutable chainId;
    /// The account tree's depth: indices are below 2^depth, an exit's path has depth siblings.
    uint256 public immutable depth;
    IPoseidon2 public immutable poseidon2;
    IPoseidon3 public immutable poseidon3;
    BabyJubJub public immutable babyJubJub;

    /// Deposits by queue position, until refunded.
    mapping(uint256 position => Deposit) internal _deposits;
    /// Signed forced-withdrawal messages already queued: each is queued once.
    mapping(uint256 message => bool) public messageUsed;
    BitMaps.BitMap internal _claimed;
    BitMaps.BitMap internal _exited;

    event Deposited(uint256 indexed position, uint256 l2Address, uint256 amount, address sender);
    event WithdrawalForced(
        uint256 indexed position, uint256 index, uint256 l2Address, uint256 amount, address recipient
    );
    event WithdrawalClaimed(uint256 indexed blockNumber, uint256 position, address recipient, uint256 amount);
    event Exited(uint256 indexed index, address recipient, uint256 amount);
    event DepositReclaimed(uint256 indexed position, address sender, uint256 amount);

    error InvalidParams(string reason);
    error InvalidL2Address(uint256 l2Address);
    error UnpostableAmount(uint256 amount);
    error BridgeFull(uint256 held);
    error IndexOutOfRange(uint256 index, uint256 depth);
    error ZeroRecipient();
    error SaltTooLarge(uint256 salt);
    error MessageUsed(uint256 message);
    error InvalidSignature();
    error NotFinalized(uint256 blockNumber, uint256 lastFinalized);
    error InvalidExitProof(uint256 blockNumber, uint256 position);
    error AlreadyClaimed(uint256 blockNumber, uint256 position);
    error NotFrozen();
    error AlreadyExited(uint256 index);
    error WrongPathLength(uint256 length, uint256 depth);
    error NotAFieldElement(uint256 value);
    error BalanceTooLarge(uint256 balance);
    error NonceTooLarge(uint256 nonce);
    error NotInFinalizedState(uint256 index);
    error DepositIncluded(uint256 position, uint256 queueNext);
    error NoDeposit(uint256 position);

    constructor(
        IBridgeRollup rollup_,
        IERC20 token_,
        uint256 chainId_,
        uint256 depth_,
        IPoseidon2 poseidon2_,
        IPoseidon3 poseidon3_,
        BabyJubJub babyJubJub_
    ) {
        if (chainId_ >= R) revert InvalidParams("the chain id is not a field element");
        if (depth_ == 0 || depth_ > MAX_DEPTH) revert InvalidParams("the depth is not 1 to 24");
        rollup = rollup_;
        token = token_;
        chainId = chainId_;
        depth = depth_;
        poseidon2 = poseidon2_;
        poseidon3 = poseidon3_;
        babyJubJub = babyJubJub_;
    }

    // ------------------------------------------------------------------ L1 -> L2

    /// Deposit `amount` tokens (approved to the Bridge) to L2 address `l2Address`; returns the
    /// deposit's queue position. What arrives is what is credited (a token that takes a fee
    /// credits less), and it must be postable.
    function deposit(uint256 l2Address, uint256 amount) external nonReentrant returns (uint256 position) {
        if (l2Address == 0 || l2Address >= R) revert InvalidL2Address(l2Address);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 held = token.balanceOf(address(this));
        uint256 arrived = held - before;
        uint256 packed = _packAmount(arrived);
        // Every L2 balance is at most what the Bridge holds: below 2^128 it always fits.
        if (held >= AMOUNT_BOUND) revert BridgeFull(held);
        position = rollup.enqueue(keccak256(abi.encodePacked(OP_DEPOSIT, l2Address, arrived)));
        _deposits[position] = Deposit(msg.sender, uint64(packed));
        emit Deposited(position, l2Address, arrived, msg.sender);
    }

    // ------------------------------------------------------------------ L2 -> L1

    /// Queue a withdrawal of `amount` from the account at `index` to `recipient`, signed by the
    /// account's key: the sequencer must include it (applied if the account at `index` is the
    /// key's and holds the amount, skipped otherwise) within the force delay. `salt` makes
    /// repeated requests distinct messages; each message is queued once.
    function requestWithdrawal(
        uint256 index,
        uint256 amount,
        address recipient,
        uint256 salt,
        uint256[2] calldata publicKey,
        uint256[2] calldata r8,
        uint256 s
    ) external returns (uint256 position) {
        _checkIndex(index);
        _packAmount(amount);
        if (recipient == address(0)) revert ZeroRecipient();
        if (salt >= NONCE_BOUND) revert SaltTooLarge(salt);
        uint256 packed = KIND_FORCED << KIND_SHIFT | index << FROM_SHIFT | amount << AMOUNT_SHIFT | salt;
        uint256 message = poseidon3.poseidon([chainId, packed, uint256(uint160(recipient))]);
        if (messageUsed[message]) revert MessageUsed(message);
        if (!babyJubJub.verify(publicKey, message, r8, s)) revert InvalidSignature();
        messageUsed[message] = true;
        uint256 l2Address = poseidon2.poseidon(publicKey);
        position = rollup.enqueue(
            keccak256(abi.encodePacked(OP_FORCED, uint24(index), l2Address, amount, recipient))
        );
        emit WithdrawalForced(position, index, l2Address, amount, recipient);
    }

    /// Pay exit `position` of finalized block `blockNumber` (a WITHDRAW or FORCED record) to its
    /// recipient, whoever calls; `proof` is its path in the block's exit tree
    /// (`block_data.exit_proof`). Each exit is paid once.
    function claimWithdrawal(
        uint256 blockNumber,
        uint256 position,
        address recipient,
        uint256 amount,
        bytes32[] calldata proof
    ) external nonReentrant {
        uint256 lastFinalized = rollup.lastFinalized();
        if (blockNumber > lastFinalized) revert NotFinalized(blockNumber, lastFinalized);
        if (position >> POSITION_BITS != 0) revert InvalidExitProof(blockNumber, position);
        uint256 key = blockNumber << POSITION_BITS | position;
        if (_claimed.get(key)) revert AlreadyClaimed(blockNumber, position);
        bytes32 root = rollup.exitRoot(blockNumber);
        bytes32 leaf = keccak256(abi.encodePacked(blockNumber, position, recipient, amount));
        if (root == 0 || !MerkleProof.verifyCalldata(proof, root, leaf)) {
            revert InvalidExitProof(blockNumber, position);
        }
        _claimed.set(key);
        token.safeTransfer(recipient, amount);
        emit WithdrawalClaimed(blockNumber, position, recipient, amount);
    }

    // ------------------------------------------------------------------ the escape hatch

    /// Once the rollup is frozen: pay the account at `index` its balance in the last finalized
    /// state, to `recipient`, signed by its key. `path` is the leaf's siblings, leaf level first
    /// (`AccountTree.proof`). Each account exits once.
    function exit(
        uint256 index,
        uint256[2] calldata publicKey,
        uint256 balance,
        uint256 nonce,
        uint256[] calldata path,
        address recipient,
        uint256[2] calldata r8,
        uint256 s
    ) external nonReentrant {
        if (!rollup.frozen()) revert NotFrozen();
        _checkIndex(index);
        if (_exited.get(index)) revert AlreadyExited(index);
        _checkExitSignature(index, recipient, publicKey, r8, s);
        _checkFinalizedLeaf(index, publicKey, balance, nonce, path);
        _exited.set(index);
        token.safeTransfer(recipient, balance);
        emit Exited(index, recipient, balance);
    }

    /// Once the rollup is frozen: refund deposit `position` to its sender if no block consumed
    /// it (its position is at or after the queue's next); once.
    function reclaimDeposit(uint256 position) external nonReentrant {
        if (!rollup.frozen()) revert NotFrozen();
        uint256 next = rollup.queueNext();
        if (position < next) revert DepositIncluded(position, next);
        Deposit memory refund = _deposits[position];
        if (refund.sender == address(0)) revert NoDeposit(position);
        delete _deposits[position];
        uint256 amount = _unpackAmount(refund.packedAmount);
        token.safeTransfer(refund.sender, amount);
        emit DepositReclaimed(position, refund.sender, amount);
    }

    // ------------------------------------------------------------------ views

    /// Deposit `position`'s sender and amount; (0, 0) if it is not a deposit or was refunded.
    function depositOf(uint256 position) external view returns (address sender, uint256 amount) {
        Deposit memory d = _deposits[position];
        return (d.sender, _unpackAmount(d.packedAmount));
    }

    function isClaimed(uint256 blockNumber, uint256 position) external view returns (bool) {
        // a claim's block is finalized, far below 2^248, so its key never wraps
        return position >> POSITION_BITS == 0 && blockNumber >> (256 - POSITION_BITS) == 0
            && _claimed.get(blockNumber << POSITION_BITS | position);
    }

    function hasExited(uint256 index) external view returns (bool) {
        return _exited.get(index);
    }

    // ------------------------------------------------------------------ rules

    function _checkIndex(uint256 index) private view {
        if (index >> depth != 0) revert IndexOutOfRange(index, depth);
    }

    /// `block_data.pack_amount`, also refusing 0 and amounts of 2^128 or more.
    function _packAmount(uint256 amount) private pure returns (uint256) {
        if (amount == 0 || amount >= AMOUNT_BOUND) revert UnpostableAmount(amount);
        uint256 mantissa = amount;
        uint256 exponent = 0;
        while (mantissa >= MANTISSA_BOUND && mantissa % 10 == 0 && exponent < MAX_EXPONENT) {
            mantissa /= 10;
            exponent++;
        }
        if (mantissa >= MANTISSA_BOUND) revert UnpostableAmount(amount);
        return mantissa << EXPONENT_BITS | exponent;
    }

    function _unpackAmount(uint256 packed) private pure returns (uint256) {
        return (packed >> EXPONENT_BITS) * 10 ** (packed & ((1 << EXPONENT_BITS) - 1));
    }

    /// The exit message `Poseidon(chainId, 3 * 2^224 + pack(index, 0, 0, 0), recipient)` signed by
    /// `publicKey` (`transactions.exit_message`).
    function _checkExitSignature(
        uint256 index,
        address recipient,
        uint256[2] calldata publicKey,
        uint256[2] calldata r8,
        uint256 s
    ) private view {
        if (recipient == address(0)) revert ZeroRecipient();
        uint256 message = poseidon3.poseidon(
            [chainId, KIND_EXIT << KIND_SHIFT | index << FROM_SHIFT, uint256(uint160(recipient))]
        );
        if (!babyJubJub.verify(publicKey, message, r8, s)) revert InvalidSignature();
    }

    /// The key's account, with this balance and nonce, is the leaf at `index` of the last
    /// finalized state. Poseidon's contract reduces its inputs mod r, so an input at or above r
    /// would hash as another (a balance + r as the balance): each is checked to be what a leaf holds.
    function _checkFinalizedLeaf(
        uint256 index,
        uint256[2] calldata publicKey,
        uint256 balance,
        uint256 nonce,
        uint256[] calldata path
    ) private view {
        if (balance >= AMOUNT_BOUND) revert BalanceTooLarge(balance);
        if (nonce >= NONCE_BOUND) revert NonceTooLarge(nonce);
        if (path.length != depth) revert WrongPathLength(path.length, depth);
        uint256 leaf = poseidon3.poseidon([poseidon2.poseidon(publicKey), balance, nonce]);
        if (_root(index, leaf, path) != rollup.finalizedRoot()) revert NotInFinalizedState(index);
    }

    /// The root a leaf at `index` hashes up to (`accounts.root_from_path`, merkle.circom): bit k
    /// of the index says whether the node at height k is a right child.
    function _root(uint256 index, uint256 leaf, uint256[] calldata path) private view returns (uint256 node) {
        node = leaf;
        for (uint256 k = 0; k < path.length; k++) {
            uint256 sibling = path[k];
            if (sibling >= R) revert NotAFieldElement(sibling);
            node = (index >> k) & 1 == 1
                ? poseidon2.poseidon([sibling, node])
                : poseidon2.poseidon([node, sibling]);
        }
    }
}
